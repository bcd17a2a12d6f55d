"""Blobs and columns: what the store writes for facts and verdicts, and the policy digest.

Facts and verdicts are stored as zstandard-compressed compact JSON. Measured on the test
corpus (127 real wheels): facts JSON averages 31 KB and compresses to 4.0 KB at level 3
(3.3 KB at level 10, 3.1 KB at level 19); verdict JSON averages 3.4 KB and compresses to
under 1 KB. Encoding is the costly part of storing a result (SQLite itself takes under
0.1 ms a wheel): the facts' JSON, orjson writing it, compressing it (``LEVEL``), the
verdict's JSON. ``prepare`` does all of it and
is picklable both ways, so a worker can call it and leave the parent nothing but the writes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import zstandard

from wheelscan import __version__
from wheelscan.model import WheelResult
from wheelscan.policy.policies import DATA_DIR
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.codec import facts_to_json

if TYPE_CHECKING:  # judged where a result is prepared or the digest taken, not by a report
    from wheelscan.policy.abi3 import Abi3Verdict

# zstd's own default. Measured on the facts and verdicts of both corpora (156 wheels, 9.0 MB
# of JSON, one core): level 3 0.023 s for 1.07 MB, level 5 0.057 s for 0.95 MB, level 10
# 0.125 s for 0.87 MB. Level 10 made compression 4-5% of a batch audit, for a store a fifth
# smaller.
LEVEL = 3
# One of each per thread, reused: building a compressor costs more than compressing a small
# record, and neither is thread-safe (a worker reading several remote wheels on threads,
# engine/inflight.py, prepares their results on those threads: sharing one compressor, they
# stored corrupt facts)
_PER_THREAD = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_PER_THREAD, "compressor", None)
    if compressor is None:
        compressor = _PER_THREAD.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_PER_THREAD, "decompressor", None)
    if decompressor is None:
        decompressor = _PER_THREAD.decompressor = zstandard.ZstdDecompressor()
    return decompressor


# verdict, overall_tag, libc, arch, over_claim, under_claim, error_code, error_reason,
# error_member, abi3: the verdicts table's columns after its key, in order
VerdictColumns = tuple[
    bytes | None,
    str | None,
    str | None,
    str | None,
    int,
    str | None,
    str | None,
    str | None,
    str | None,
    bytes | None,
]
VERDICT_COLUMNS = (
    "verdict",
    "overall_tag",
    "libc",
    "arch",
    "over_claim",
    "under_claim",
    "error_code",
    "error_reason",
    "error_member",
    "abi3",
)


def pack(data: Any) -> bytes:
    """Compact JSON, compressed. orjson writes the facts of the benchmark corpus (145k
    symbols) in 15-20 ms where json took 125-145 ms; compressing it takes ~20 ms more."""
    return _compressor().compress(orjson.dumps(data))


def unpack(blob: bytes) -> Any:
    return orjson.loads(_decompressor().decompress(blob))


def verdict_columns(
    outcome: Verdict | AuditError, abi3: Abi3Verdict | None = None
) -> VerdictColumns:
    """The verdicts table's columns for a verdict or an evaluation error, and the abi3
    verdict judged beside it (None: the wheel makes no stable-ABI promise)."""
    abi3_blob = None if abi3 is None else pack(abi3.to_json())
    if isinstance(outcome, AuditError):
        return (
            None, None, None, None, 0, None, outcome.code, outcome.reason, outcome.member,
            abi3_blob,
        )  # fmt: skip
    return (
        _compressor().compress(outcome.to_json_bytes()),  # pack(outcome.to_json()), directly
        outcome.overall_tag,
        outcome.libc,
        outcome.architecture,
        int(bool(outcome.over_claims)),
        outcome.under_claim,
        None,
        None,
        None,
        abi3_blob,
    )


@dataclass(frozen=True, slots=True)
class PreparedResult:
    """A WheelResult encoded as the store writes it; ``Store.add`` takes either."""

    ref: WheelRef
    sha256: str | None
    facts: bytes | None  # pack(facts_to_json(...)); None when the wheel could not be read
    verdict: VerdictColumns | None  # None when the wheel could not be read
    read_error: AuditError | None  # why it could not be read
    ok: bool
    bytes_read: int
    elf_bytes: int
    seconds: float
    reused_elf_bytes: int = 0
    strict: bool = False  # the facts were read with --strict
    size_named: int | None = None  # WheelResult's: the size the server named, the listing none

    @property
    def size(self) -> int | None:
        """The file's size in bytes: the listing's, else as its server named it."""
        return self.ref.size if self.ref.size is not None else self.size_named


def hash_conflict(
    sha256: str, held: tuple[str, int | None] | None, filename: str, size: int | None
) -> str | None:
    """Why ``sha256`` cannot name ``filename`` of ``size`` bytes, when it already names
    ``held`` (filename, size): another name, or another size (where both are known)."""
    if held is None:
        return None
    held_name, held_size = held
    if held_name != filename or (None not in (size, held_size) and size != held_size):
        return (
            f"sha256 {sha256} already names {held_name} ({held_size} bytes), "
            f"not {filename} ({size} bytes): one hash for two files"
        )
    return None


def conflict_record(ref: WheelRef, reason: str, size_named: int | None = None) -> PreparedResult:
    """The error of a file whose sha256 names another file: this run's, keyed by location
    (with the size its server named, where its listing gave none)."""
    error = AuditError(ref.filename, "sha256-conflict", reason)
    return PreparedResult(ref, None, None, None, error, False, 0, 0, 0.0, size_named=size_named)


def prepare(result: WheelResult) -> PreparedResult:
    """Encode a result for the store; pure, so it may run in the worker that made it."""
    from wheelscan.policy.abi3 import evaluate_abi3

    if result.facts is None:
        if not isinstance(result.verdict, AuditError):
            raise TypeError(f"{result.ref.filename}: a result without facts must carry an error")
        facts, verdict, read_error = None, None, result.verdict
    else:
        facts, verdict, read_error = (
            pack(facts_to_json(result.facts)),
            verdict_columns(result.verdict, evaluate_abi3(result.facts)),
            None,
        )
    return PreparedResult(
        result.ref,
        result.sha256,
        facts,
        verdict,
        read_error,
        result.ok,
        result.bytes_read,
        result.elf_bytes,
        result.seconds,
        result.reused_elf_bytes,
        result.facts is not None and result.facts.strict,
        result.size_named,
    )


def error_json(filename: str, code: str, reason: str, member: str | None) -> dict[str, Any]:
    """An error as ``AuditError.to_json()`` gives it, from stored columns."""
    return AuditError(filename, code, reason, member).to_json()


# the meta table's key, followed by a policy digest, of what that policy was made of
POLICY_SOURCE_KEY = "policy_source:"


def policy_source(
    policy_file: Path | None = None, musl_policy: str | None = None
) -> dict[str, Any]:
    """What ``policy_digest(policy_file, musl_policy)`` was computed from, for reports to name.

    The file is named by the path it was given as, resolved, and the sha256 of its bytes:
    the path alone may hold another file tomorrow.
    """
    source: dict[str, Any] = {
        "wheelscan": __version__,
        "musl_policy": musl_policy,
        "policy_file": None,
        "policy_file_sha256": None,
    }
    if policy_file is not None:
        source["policy_file"] = str(policy_file.absolute())
        import hashlib

        source["policy_file_sha256"] = hashlib.sha256(policy_file.read_bytes()).hexdigest()
    return source


def policy_digest(policy_file: Path | None = None, musl_policy: str | None = None) -> str:
    """A hash of everything a verdict depends on besides the wheel's facts.

    That is the policy data (the built-in files, and ``policy_file`` as passed to
    ``load_policies``), the musllinux policy kept (``evaluate``'s ``musl_policy``), the
    abi3info version (the abi3 verdicts' stable-ABI data), and the wheelscan version, whose
    evaluation rules may change. Verdicts are stored per digest: a new policy file, a new
    abi3info or a new wheelscan re-judges every stored wheel from its facts.
    """
    import hashlib

    from wheelscan.policy.abi3 import abi3info_version

    digest = hashlib.sha256(f"wheelscan {__version__}\0musl {musl_policy}\0".encode())
    # the stable-ABI data of the abi3 verdicts: a new abi3info re-judges every stored wheel
    digest.update(f"abi3info {abi3info_version()}\0".encode())
    # the whole files, and each architecture's manylinux file that ``show`` and the
    # evaluation read in their stead (policies.by_arch_file): one out of step with its
    # whole file (edited by hand, patched, half rewritten) judges otherwise, so it is hashed
    # too, that the store's verdicts are re-judged then
    built_in = sorted(DATA_DIR.glob("*-policy.json")) + sorted(DATA_DIR.glob("manylinux.*.json"))
    files = built_in + ([policy_file] if policy_file else [])
    for path in files:
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: no two inputs collide
        digest.update(data)
    return digest.hexdigest()
