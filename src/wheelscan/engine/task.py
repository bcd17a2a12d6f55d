"""The work of one wheel in a worker process: read it, judge it, report what it cost."""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from wheelscan.engine.worker import FAILURES, audit_error
from wheelscan.model import WheelFacts, WheelResult
from wheelscan.policy.evaluate import evaluate
from wheelscan.policy.policies import PolicyDatabase, load_policies
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.archive import Limits, WheelArchive, WheelError
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.dedupe import FactsCache, ReleaseScope
from wheelscan.wheel.identity import FileIdentity
from wheelscan.wheel.remote import is_url, redact, tell_size
from wheelscan.wheel.threads import threads_within

# one per worker process (each forked worker starts with its own, empty)
_FACTS_CACHE = FactsCache()
# A remote wheel this large (as its tail's answer gives its size) is read on
# ``AuditTask.member_threads`` threads where its origin is far (its tail answered in
# wheel/http_ranges.py's NEAR or more) and its bytes are not all at hand: each member
# whose start proves short, or whose end's search steps back, then waits for its own round
# trip, not for the others'. The benchmark corpus's ten wheels over 20 MB waited for 13-19
# round trips one after another at 50 ms; read so (4 threads each, no budget), its audit
# took 2.50 s at 50 ms where 3.39, 5.59 at 200 ms where 8.64 (benchmarks/remote.py, one
# run). Near, the threads only cost CPU (2.92 s against 2.55 at 0 ms); a smaller wheel
# rarely holds two members read in part
MEMBER_THREADS_FROM = 16 << 20
# The threads helping wheels read their members, in one process at once: the corpus's ten
# large wheels are in flight at once, and with 8 a worker its audit took 2.91 s at 50 ms
# (3.20 without), with 16 2.28 (3.02; one run each, the machine's pace moving by a third).
# Each one's stack counts against a worker's RLIMIT_DATA (wheel/threads.py): within
# MEMBER_HELPERS_SHARE of it, as its wheels' threads are within theirs
MEMBER_HELPERS = 16
MEMBER_HELPERS_SHARE = 0.0625


class _Helpers:
    """A process's budget of member threads beyond each wheel's own (``MEMBER_HELPERS``, or
    fewer under a tight RLIMIT_DATA, counted at the first wheel that asks, once a worker
    has set its limit): a wheel borrows what is free, however few, and reads on those."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._free: int | None = None  # not counted yet
        self._lock = threading.Lock()

    def borrow(self, wanted: int) -> int:
        with self._lock:
            if self._free is None:
                self._free = threads_within(self.most, MEMBER_HELPERS_SHARE)
            got = max(0, min(wanted, self._free))
            self._free -= got
            return got

    def give(self, count: int) -> None:
        if count:
            with self._lock:
                assert self._free is not None  # counted when they were borrowed
                self._free += count

    def start_over(self) -> None:
        """In a forked child: none of the parent's threads are there to give theirs back,
        and its RLIMIT_DATA may be its own."""
        self._free, self._lock = None, threading.Lock()


_HELPERS = _Helpers(MEMBER_HELPERS)
os.register_at_fork(after_in_child=_HELPERS.start_over)


class ChecksumMismatch(WheelError):
    """The bytes read are not the ones the index's sha256 names."""


def _check_sha256(ref: WheelRef, computed: str) -> None:
    if computed != (ref.sha256 or "").lower():  # an index may spell its hex in upper case
        raise ChecksumMismatch(
            "sha256-mismatch",
            f"{redact(ref.location)}: the index says sha256 {ref.sha256}, the bytes are {computed}",
        )


@dataclass(frozen=True)
class AuditTask:
    """Picklable and cheap to copy; the policy database is loaded once per process."""

    policy_file: Path | None = None
    musl_policy: str | None = None
    limits: Limits = field(default_factory=Limits)
    dedupe: bool = True  # parse each distinct ELF member once per worker process
    request_timeout: float | None = None  # each HTTP request's deadline (see session_for)
    # every byte read and checked (wheel/integrity.py); over HTTP the whole file is fetched
    strict: bool = False
    # results are stored by the wheel's sha256: a remote wheel whose index gives none (PEP
    # 503 allows it) is fetched whole to hash it; ``show`` stores nothing and needs none
    keyed: bool = True
    # a large remote wheel's members read at once, each on a thread of its own, where its
    # origin is far (``MEMBER_THREADS_FROM``), so that their round trips overlap; the
    # process's threads for this within ``MEMBER_HELPERS``
    member_threads: int = 4
    # one wheel read in this process (``show URL``): its members on ``member_threads``
    # threads wherever it comes from, as a local wheel's are on the machine's cores
    alone: bool = False

    def database(self) -> PolicyDatabase:
        return load_policies(self.policy_file)  # cached for the built-in policies

    def __call__(self, ref: WheelRef) -> WheelResult:
        started = time.perf_counter()
        cache = _FACTS_CACHE if self.dedupe else None
        saved_before = _FACTS_CACHE.stats.bytes_saved
        twins = None
        sha256, facts, bytes_read = ref.sha256, None, 0
        size_named = None  # the file's size as its server named it, where the listing gave none
        verdict: Verdict | AuditError
        try:
            if ref.refused is not None:
                sha256 = None  # the index's hash names bytes this run refused to fetch
                raise WheelError("refused-link", ref.refused)
            if is_url(ref.location) and (self.strict or (self.keyed and not ref.sha256)):
                sha256, facts, bytes_read = self._fetched_whole(ref, cache)
                size_named = None if ref.size is not None else bytes_read
            elif is_url(ref.location):
                # a member read in part has not all its bytes fetched, to hash, when its
                # twins in the release are told: by their identity (dedupe.py's ReleaseScope)
                origin = _origin(ref.location)
                twins = (
                    cache.release(origin, ref.project, ref.version)
                    if cache is not None and origin is not None
                    else None
                )
                computed, facts, bytes_read, size_named = self._remote(ref, twins)
                sha256 = sha256 or computed
            elif os.path.isabs(ref.location):
                computed, facts, bytes_read = self._local(Path(ref.location), ref, cache)
                sha256 = sha256 or computed
            else:  # sources give absolute paths: anything else is a link nobody vetted
                sha256 = None
                raise WheelError(
                    "refused-link", f"{redact(ref.location)}: neither an http(s) URL nor a path"
                )
            verdict = evaluate(facts, self.database(), self.musl_policy)
        except ChecksumMismatch as e:
            sha256, facts = None, None  # the bytes are not the ones the index named
            verdict = audit_error(ref.filename, e)
        except FAILURES as e:
            verdict = audit_error(ref.filename, e)
            if self.strict:
                # the run's own record (run_failures), not the wheel's: a fast reading of the
                # same bytes already stored must not hide what the strict one found
                sha256 = None
        except MemoryError:
            # past the worker's RLIMIT_DATA (engine/pool.py): the wheel's fault, not the run's
            facts = None
            verdict = AuditError(ref.filename, "out-of-memory", "past the worker's memory limit")
        return WheelResult(
            ref=ref,
            sha256=sha256,
            facts=facts,
            verdict=verdict,
            bytes_read=bytes_read,
            elf_bytes=0 if facts is None else sum(m.size for m in facts.elf_files),
            seconds=time.perf_counter() - started,
            # a remote wheel's own (its worker reads others on other threads meanwhile)
            reused_elf_bytes=twins.saved
            if twins is not None
            else _FACTS_CACHE.stats.bytes_saved - saved_before,
            size_named=size_named,
        )

    def _remote(
        self, ref: WheelRef, twins: ReleaseScope | None
    ) -> tuple[str | None, WheelFacts, int, int | None]:
        """The sha256 when every byte was fetched (else None), the facts, the bytes fetched,
        and, where the listing gave no size, the size the server's answers named."""
        from wheelscan.wheel.http import RemoteWheelArchive
        from wheelscan.wheel.http_ranges import NEAR, HttpRangeReader
        from wheelscan.wheel.httpclient import session_for

        session = session_for(self.request_timeout)
        reader = HttpRangeReader(ref.location, ref.size, session)
        try:
            with RemoteWheelArchive(reader, self.limits, twins) as archive:
                # borrowed once its plan is fetched and its twins settled, not held idle
                # meanwhile (a twin's claim may wait seconds for another wheel)
                helpers = 0
                if self.alone or (
                    reader.size >= MEMBER_THREADS_FROM
                    and reader.whole_file() is None
                    and (session.quickest(ref.location) or 0.0) >= NEAR
                ):
                    helpers = _HELPERS.borrow(self.member_threads - 1)
                try:
                    facts = read_wheel_facts(archive, ref.filename, threads=1 + helpers)
                finally:
                    _HELPERS.give(helpers)
        finally:
            # every byte came (a small wheel, a server ignoring Range, ranges that covered
            # it): they must be the ones the index named, whatever else reading them found
            reader.close()
            if reader.sha256 is not None and ref.sha256 is not None:
                _check_sha256(ref, reader.sha256)
        named = reader.size if ref.size is None and reader.size > 0 else None
        return reader.sha256, facts, reader.bytes_fetched, named

    def _local(
        self, path: Path, ref: WheelRef, cache: FactsCache | None
    ) -> tuple[str | None, WheelFacts, int]:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                raise WheelError("not-zip", "empty file")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            file = FileIdentity.of(path, os.fstat(f.fileno()))
        # the store's key. A mirror's page names it (bandersnatch checked each file against
        # it when it synced): the fast mode takes it at its word, as statistics over a mirror
        # may (hashing is one more pass over every byte of every wheel, where the fast path
        # reads a third of the ELF bytes), and --strict checks the bytes against it. A
        # directory names none: every byte is hashed (hashlib drops the GIL on large buffers)
        sha256 = ref.sha256
        if sha256 is None or self.strict:
            sha256 = hashlib.sha256(data).hexdigest()
            if ref.sha256 is not None:
                _check_sha256(ref, sha256)
        with WheelArchive(data, self.limits, file) as archive:
            # the file's hash is checked above, once: not again by the strict checks
            facts = read_wheel_facts(archive, ref.filename, cache, strict=self.strict)
            return sha256, facts, size

    def _fetched_whole(
        self, ref: WheelRef, cache: FactsCache | None
    ) -> tuple[str | None, WheelFacts, int]:
        """A remote wheel fetched whole, then read as a local file is: for a strict reading
        (names that look non-ELF are examined too), or to learn its sha256."""
        from wheelscan.wheel.http import HttpError
        from wheelscan.wheel.http_ranges import MAX_WHEEL_SIZE
        from wheelscan.wheel.httpclient import session_for

        session = session_for(self.request_timeout)
        if ref.size is None:
            tell_size(-1)  # held whole, it counts as a large wheel, not a suffix's answer
        # bounded, but not by the index's size: a file of another size is judged by its hash.
        # Of the size the index gives, read into one buffer (up to 64 MiB), as a range is:
        # in chunks joined, a 48 MiB wheel cost 103 MiB of resident memory, not 49, and a
        # fifth more time (tests/test_whole_fetch_memory.py)
        try:
            response = session.get(
                ref.location,
                {"Accept-Encoding": "identity"},
                limit=MAX_WHEEL_SIZE,
                expected=ref.size or 0,
            )
        except HttpError as e:
            raise WheelError("download-failed", f"{redact(ref.location)}: {e.reason}") from e
        if response.status != 200:
            raise WheelError("download-failed", f"{redact(ref.location)}: HTTP {response.status}")
        data = response.body
        if ref.size is None:
            tell_size(len(data))  # engine/inflight.py
        if not data:
            raise WheelError("not-zip", "empty file")
        computed = hashlib.sha256(data).hexdigest()
        if ref.sha256 is not None:
            _check_sha256(ref, computed)
        elif ref.size is not None and len(data) != ref.size:
            raise WheelError(
                "download-failed", f"{redact(ref.location)}: {len(data)} bytes, not {ref.size}"
            )
        with WheelArchive(data, self.limits) as archive:
            facts = read_wheel_facts(
                archive, ref.filename, cache, strict=self.strict, file_sha256=ref.sha256
            )
        return ref.sha256 or computed, facts, len(data)


def _origin(location: str) -> str | None:
    """``location``'s scheme, host and port, never its userinfo; None where urllib cannot
    parse it (``http://[::1/x.whl``, a port past 65535): its request refuses it then, as
    the wheel's error, where this raised ValueError, a traceback."""
    try:
        url = urllib.parse.urlsplit(location)
        return f"{url.scheme}://{url.hostname}:{url.port}"
    except ValueError:
        return None
