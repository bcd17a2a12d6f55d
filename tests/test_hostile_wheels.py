"""Hostile wheels (``tests/hostile``): a clear record for each, no crash, no hang, bounded
memory, and nothing written, followed or run.

Every case of ``hostile.CASES`` is audited in process and as a batch through the worker pool
(a 10 s limit per wheel, the workers' address space capped), and must give its stable code, or
a verdict when the wheel is odd but sound.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import zlib
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

import wheelscan._native
from wheelscan._native import parse_elf
from wheelscan.elf import BACKEND_ENV
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import audit
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import archive, contents, partial, stream
from wheelscan.wheel.archive import Limits, WheelArchive
from wheelscan.wheel.contents import MAX_STREAM_PASSES

from hostile import bombs
from hostile.cases import BOMB_CASES, CASES, EXT, HOST_LIBC, VERDICT, Case, elf
from hostile.zipwriter import Entry, write_wheel

HERE = Path(__file__).parent
SANITIZED = bool(os.environ.get("WHEELSCAN_SANITIZED"))  # scripts/build_sanitized.sh
SECONDS_PER_WHEEL = 60 if SANITIZED else 10  # instrumented C runs several times slower


def outcome(result: Verdict | AuditError) -> str:
    return result.code if isinstance(result, AuditError) else VERDICT


class Catalogue:
    """The cases as files named as their cases, each built the first time a test of this
    process asks for it: the tests are spread over processes (pytest-xdist), and building
    every case takes each of them ~2 s, most of it on cases its share never reads."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        path = self.root / CASES[name].filename(name)
        if not path.exists():
            path.write_bytes(CASES[name].build())
        return path

    def every(self) -> Path:
        """The directory, holding every case."""
        for name in CASES:
            self.path(name)
        return self.root


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    return Catalogue(tmp_path_factory.mktemp("hostile"))


@pytest.fixture()
def hostile_dir(catalogue: Catalogue) -> Path:
    """Every case as a file."""
    return catalogue.every()


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_hostile_wheel_gets_its_record(name: str, catalogue: Catalogue) -> None:
    case = CASES[name]
    result = audit(catalogue.path(name), case.filename(name))
    assert outcome(result) == case.expect, getattr(result, "reason", result)
    if isinstance(result, Verdict):
        assert case.check(result), result
    else:
        assert result.reason  # says what exactly


UNREAD_TAIL = {  # what a whole inflation finds in what the native reading never inflates
    "crc-mismatch-unread-tail": "crc-mismatch",
    "size-longer-unread-tail": "size-mismatch",
    "size-shorter-unread-tail": "size-mismatch",
}


def test_the_reference_backend_gives_the_same_records(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WHEELSCAN_ELF_BACKEND=reference a member is inflated whole, so the CRC and the
    size of a tail the native reading never inflates are checked: the records that differ."""
    monkeypatch.setenv(BACKEND_ENV, "reference")
    for name, case in CASES.items():
        if case.slow_reference:
            continue
        expect = UNREAD_TAIL.get(name, case.expect)
        assert outcome(audit(catalogue.path(name), case.filename(name))) == expect, name


class CappedTask:
    """The real task, in a worker whose address space is capped: a memory bomb fails loudly
    (MemoryError, so ``worker-crashed``) instead of swapping the machine."""

    def __init__(self, cap: int = 3 << 30) -> None:
        self.task, self.cap, self.capped = AuditTask(), cap, False

    def __call__(self, ref: WheelRef) -> WheelResult:
        # ASan maps terabytes of shadow memory: under scripts/build_sanitized.sh, no cap
        if not self.capped and not SANITIZED:
            resource.setrlimit(resource.RLIMIT_AS, (self.cap, self.cap))
            self.capped = True
        return self.task(ref)


@pytest.mark.slow
def test_the_whole_catalogue_through_the_pool(catalogue: Catalogue) -> None:
    refs = [
        WheelRef(case.filename(name), name, "1.0", str(catalogue.path(name)))
        for name, case in CASES.items()
    ]
    # a clean parent, as the CLI's: nothing of this test process's state reaches the workers
    pool = LocalPool(
        CappedTask(), workers=2, timeout=SECONDS_PER_WHEEL, context=get_context("forkserver")
    )
    results = {r.ref.project: r for r in pool.results(refs)}
    assert sorted(results) == sorted(CASES)
    codes = {name: outcome(r.verdict) for name, r in results.items()}
    assert not {n: c for n, c in codes.items() if c in ("timeout", "worker-crashed")}
    assert codes == {name: case.expect for name, case in CASES.items()}
    assert max(r.seconds for r in results.values()) < SECONDS_PER_WHEEL


class CountingInflater:
    """Wraps every streaming inflater the zip reader and the stream make (``wrap`` each
    factory); counts the bytes they yield."""

    def __init__(self) -> None:
        self.produced = 0

    def wrap(self, make: Any) -> Any:
        return lambda: self._counted(make())

    def filling(self, inflate: Any) -> Any:
        def counted(payload: Any, out: Any, *args: Any) -> Any:
            self.produced += len(out)
            return inflate(payload, out, *args)

        return counted

    def _counted(self, inner: Any) -> Any:
        counter = self

        class Counted:
            def decompress(self, data: Any, max_length: int = 0) -> bytes:
                out: bytes = inner.decompress(data, max_length)
                counter.produced += len(out)
                return out

            @property
            def unconsumed_tail(self) -> bytes:
                return inner.unconsumed_tail  # type: ignore[no-any-return]

            @property
            def eof(self) -> bool:
                return inner.eof  # type: ignore[no-any-return]

        return Counted()


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> CountingInflater:
    counter = CountingInflater()
    monkeypatch.setattr(archive, "head_inflater", counter.wrap(archive.head_inflater))
    monkeypatch.setattr(stream, "raw_inflater", counter.wrap(stream.raw_inflater))
    # libdeflate fills the buffer it is given, at most: its length is what it may produce
    monkeypatch.setattr(contents, "inflate_into", counter.filling(contents.inflate_into))
    # a prefix is inflated from its member's start (wheel/partial.py), for every route
    monkeypatch.setattr(partial, "inflate_prefix", counter.filling(partial.inflate_prefix))
    return counter


@pytest.mark.parametrize("name", BOMB_CASES)
def test_bombs_are_refused_before_inflating(
    name: str, catalogue: Catalogue, inflated: CountingInflater
) -> None:
    path = catalogue.path(name)
    with WheelArchive.open(path) as wheel:
        declared = sum(m.size for m in wheel.members)
    assert declared > 60 << 20  # each declares 60 MiB and more...
    result = audit(path, path.name)
    assert outcome(result) == CASES[name].expect
    assert inflated.produced < 64 << 10  # ...and not 64 KiB is inflated: heads and RECORD


def test_a_member_larger_than_it_says_is_cut_off(
    catalogue: Catalogue, inflated: CountingInflater
) -> None:
    result = judged(catalogue, "bomb-lying-small-size")
    assert outcome(result) == "size-mismatch"
    assert inflated.produced <= 100_000 + stream.OUTPUT_CHUNK  # declared size + one chunk


def judged(catalogue: Catalogue, name: str, limits: Limits = Limits()) -> Verdict | AuditError:
    return audit(catalogue.path(name), CASES[name].filename(name), limits=limits)


def test_the_limits_are_the_callers(catalogue: Catalogue) -> None:
    strict = Limits(max_member_size=1 << 20)
    assert outcome(judged(catalogue, "elf-long-gnu-chain", strict)) == "too-large"
    # inflated then: an ELF magic and zeros, under the CRC of the empty file it claims to be
    lax = Limits(max_compression_ratio=10**6)
    assert outcome(judged(catalogue, "bomb-ratio", lax)) == "crc-mismatch"


def test_a_table_walked_past_the_kept_bytes_costs_a_few_passes(
    catalogue: Catalogue, inflated: CountingInflater
) -> None:
    """Each word of this chain past the bytes a pass keeps would cost a pass (hours), and a
    whole read its size in memory: after MAX_STREAM_PASSES the member is refused."""
    with WheelArchive.open(catalogue.path("elf-long-gnu-chain")) as wheel:
        (member,) = [m for m in wheel.members if m.name == EXT]
    assert outcome(judged(catalogue, "elf-long-gnu-chain")) == "scattered-tables"
    assert inflated.produced <= (MAX_STREAM_PASSES + 1) * member.size


def test_the_quoted_overlap_bomb_is_a_real_one(catalogue: Catalogue) -> None:
    """Each member a sound deflate stream with the right CRC and size, each within the ratio
    limit: only the overlap check stops it. (Checked with zlib: CPython's zipfile refuses
    overlapping members itself since 3.11.8 and 3.12.2, gh-109858.)"""
    data, inflates_to = bombs.quoted_overlap()
    assert inflates_to > 5000 * len(data)
    wheel = WheelArchive(data, Limits(max_member_size=1 << 40))
    assert max(m.size / m.compressed_size for m in wheel.members) < Limits.max_compression_ratio
    for member in (wheel.members[0], wheel.members[len(wheel.members) // 2], wheel.members[-1]):
        begin = member.header_offset + 30 + len(member.raw_name)
        stream = data[begin : begin + member.compressed_size]
        content = zlib.decompressobj(-15).decompress(stream)
        assert len(content) == member.size and zlib.crc32(content) == member.crc
    result = judged(catalogue, "bomb-quoted-overlap")
    assert outcome(result) == "overlapping-members" and result.member == "bomb/0000.bin"  # type: ignore[union-attr]


def test_every_truncation_of_a_wheel_is_an_error() -> None:
    data = write_wheel([Entry(EXT, elf())])
    name = CASES["truncated-half"].filename("truncated")
    codes = {outcome(audit(data[:cut], name)) for cut in range(0, len(data), 3)}
    assert codes == {"not-zip", "truncated"}


def test_a_symlink_entry_is_its_text_never_its_target(catalogue: Catalogue) -> None:
    if Path(HOST_LIBC).exists():  # what a follower would see: a real library
        assert parse_elf(Path(HOST_LIBC).read_bytes()).soname == "libc.so.6"
    result = judged(catalogue, "symlink-to-host-library")
    assert isinstance(result, Verdict) and result.elf_files == (EXT,)
    with WheelArchive.open(catalogue.path("symlink-to-host-library")) as wheel:
        link = wheel.find("demo/libc.so.6")
        assert link is not None and bytes(wheel.read(link)) == HOST_LIBC.encode()


def sandbox(paths: list[str], cwd: Path, *options: str) -> dict[str, Any]:
    """``hostile/sandbox.py`` on ``paths`` in a fresh process, ``cwd`` its HOME and TMPDIR."""
    env = {**os.environ, "HOME": str(cwd), "TMPDIR": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    # bytecode only from beside the sources: conftest's cache in the test cache is neither a
    # wheel nor the program, and a read there would count as a stray one
    env.pop("PYTHONPYCACHEPREFIX", None)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, str(HERE / "hostile" / "sandbox.py"), *options, *paths],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_an_audit_writes_follows_and_runs_nothing(
    hostile_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cwd = tmp_path_factory.mktemp("empty-cwd")
    report = sandbox(sorted(str(p) for p in hostile_dir.iterdir()), cwd)
    assert report["violations"] == []
    assert list(cwd.iterdir()) == []  # not a file created, not even a cache
    assert report["codes"] == {case.filename(n): case.expect for n, case in CASES.items()}
    assert report["show_status"] == 2  # some wheels could not be judged; none crashed it


def test_the_sandbox_sees_a_write_and_a_stray_read(catalogue: Catalogue, tmp_path: Path) -> None:
    report = sandbox([str(catalogue.path("symlink-to-member"))], tmp_path, "--canary")
    assert [v.split()[1] for v in report["violations"]] == ["'/dev/null'", "'/etc/hostname'"]


def test_the_native_core_imports_no_file_or_process_function() -> None:
    """Its dynamic symbols, read by wheelscan itself: memory and string functions only."""
    facts = parse_elf(Path(wheelscan._native.__file__).read_bytes())
    imported = {s.name for s in facts.undefined_symbols}
    forbidden = {
        f"{name}{suffix}"
        for name in (
            "open", "openat", "creat", "fopen", "freopen", "write", "pwrite", "fwrite",
            "unlink", "unlinkat", "remove", "rename", "renameat", "mkdir", "symlink", "link",
            "chmod", "truncate", "ftruncate", "execve", "execv", "execvp", "execl", "execlp",
            "system", "popen", "fork", "vfork", "clone", "posix_spawn", "posix_spawnp",
            "dlopen", "socket", "connect", "bind", "send", "sendto",
        )
        for suffix in ("", "64")
    }  # fmt: skip
    assert facts.needed == ("libc.so.6",) or "libc.so.6" in facts.needed
    assert not imported & forbidden


def test_the_catalogue_covers_the_issue() -> None:
    """Each class of the issue has its cases (a guard against a catalogue that shrinks)."""
    classes = {
        "truncated": ["truncated-half", "truncated-end-record"],
        "crc": ["crc-mismatch-stored", "crc-mismatch-deflated", "crc-mismatch-record"],
        "bombs": [*BOMB_CASES, "bomb-lying-small-size"],
        "duplicates and overlaps": ["duplicate-names", "two-entries-one-header"],
        "local headers": ["local-name-differs", "local-size-differs", "local-method-differs"],
        "paths": ["path-traversal", "absolute-path"],
        "symlinks": ["symlink-to-host-library", "symlink-out-of-the-tree"],
        "zero-byte .so": ["zero-byte-so-only", "zero-byte-so-beside-extension"],
        "ELF past the end": ["elf-phoff-past-end", "elf-dynamic-past-end", "elf-strsz-past-end"],
        "huge e_phnum": ["elf-huge-phnum"],
        "looping version needs": ["elf-verneed-loop", "elf-vernaux-loop"],
        "unterminated strings": ["elf-string-unterminated"],
        "wrong endian": ["elf-wrong-endian"],
    }
    missing = [n for names in classes.values() for n in names if n not in CASES]
    assert not missing
    assert all(isinstance(CASES[n], Case) for names in classes.values() for n in names)


def test_members_read_on_threads_get_the_same_records(catalogue: Catalogue) -> None:
    """``show`` inflates a wheel's members on several threads: same record for every case."""
    for name, case in CASES.items():
        result = audit(catalogue.path(name), case.filename(name), threads=3)
        assert outcome(result) == case.expect, name


def test_on_threads_the_first_failure_in_archive_order_is_the_record(tmp_path: Path) -> None:
    """A big sound member, then a bad stream, then a bad CRC: the largest is read first on
    the threads, the bad stream is what a member-by-member reading meets first."""
    big = elf() + random.Random(3).randbytes(4 << 20)
    entries = [
        Entry("demo/big.so", big),
        Entry("demo/broken.so", elf(), payload=b"\xff" * 64),
        Entry("demo/lying.so", elf(), crc=1),
    ]
    path = tmp_path / "two_faults-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(write_wheel(entries))
    one, three = (audit(path, path.name, threads=n) for n in (1, 3))
    assert isinstance(one, AuditError) and isinstance(three, AuditError)
    assert (one.code, one.member) == (three.code, three.member) == ("bad-deflate", "demo/broken.so")
