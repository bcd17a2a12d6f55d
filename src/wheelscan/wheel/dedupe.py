"""Parse each distinct ELF member once per worker: vendored libraries repeat across wheels.

A project's wheels for five Python versions usually carry the same ``libopenblas``,
``libgfortran`` or ``libcrypto`` five times, byte for byte. Two members are the same file when
their compressed streams are: same CRC-32 and sizes (the central directory gives them for
free), and the same compressed bytes.

The bytes are compared, not hashed. Hashing every member to find the few that repeat cost
more than the repeats saved (SHA-1 of the compressed bytes was 11% of a scan of the benchmark
corpus, where 6 of 348 members repeat). So the first member with a given CRC and sizes is
remembered by where its bytes are (its wheel file, checked unchanged by inode, size, ctime and
mtime); only when another member matches its CRC and sizes are the two byte strings read and
compared, which is exact: a hostile wheel cannot plant facts for another wheel's library by
copying its CRC and sizes. A member read over HTTP has no file to go back to: its SHA-256
is kept instead (hashing is cheap next to the download).

A member read over HTTP in part (its start and its end: most of a library is never fetched;
over a far link a small one is fetched whole, but only after its twins are told) has no
SHA-256 to compare: over HTTP the identity is trusted instead, within one release
(:class:`ReleaseScope`). A member of a remote wheel whose name, CRC-32 and sizes equal those
of a member already read from another wheel of the same project and version in this worker,
and whose first compressed bytes (fetched with the wheel's plan anyway, up to 16 KiB) hash
the same, takes that member's facts and is not fetched further. One release's wheels for
several Python versions carry the same vendored libraries byte for byte (numpy's OpenBLAS,
pyarrow's Arrow libraries), so a nightly audit fetches each once. The trust: only someone who
can put a file named as that release on that index (on the public index, the release's
maintainers) could plant such a twin, and then only with a forged CRC-32 behind identical
first bytes; ``--strict`` reads every byte and trusts no identity.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from wheelscan.elf import ElfFacts
from wheelscan.wheel.archive import Member
from wheelscan.wheel.identity import FileIdentity

Key = tuple[int, int, int]  # CRC-32, compressed size, size
# origin, project, version, member name, CRC-32, compressed size, size
ReleaseKey = tuple[str, str, str, str, int, int, int]
# How long a wheel waits, in all, for twin members other threads of the worker are reading
# (their bytes on the way from the same server, a second or two on a slow link): past it,
# its members are fetched and read anyway
TWIN_WAIT = 10.0


@dataclass(frozen=True)
class Witness:
    """Where the first member's compressed bytes can be found again, or their SHA-256."""

    file: FileIdentity | None
    offset: int
    digest: bytes | None

    def matches(self, payload: memoryview) -> bool:
        if self.file is not None:
            return self.file.holds(self.offset, payload)
        return self.digest == _sha256(payload)


@dataclass
class DedupeStats:
    hits: int = 0
    bytes_saved: int = 0  # uncompressed bytes not inflated nor parsed again
    compared_bytes: int = 0  # compressed bytes read back to confirm a candidate


class FactsCache:
    """A bounded LRU of facts by member identity (facts are a few KB each).

    Shared by a worker's threads (remote wheels are read many at once, engine/inflight.py):
    the entries and statistics change under a lock, and the comparison of a candidate's
    bytes, which releases the interpreter lock while it hashes, runs outside it (another
    thread may evict the entry meanwhile: then it is simply not moved to the end)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Key, tuple[Witness, ElfFacts]] = OrderedDict()
        self.stats = DedupeStats()
        self._lock = threading.Lock()
        # members read over HTTP, by their release identity: the hash of their first
        # compressed bytes and their facts (ReleaseScope); and those being read now
        self._twins: OrderedDict[ReleaseKey, tuple[bytes, ElfFacts]] = OrderedDict()
        self._reading: dict[ReleaseKey, tuple[bytes, threading.Event]] = {}

    def release(self, origin: str, project: str, version: str) -> ReleaseScope:
        """This cache as seen by one remote wheel of ``project`` ``version`` served from
        ``origin`` (the file's scheme, host and port: another index's files are never its
        twins, whatever they are named)."""
        return ReleaseScope(self, origin, project, version)

    @staticmethod
    def key(member: Member) -> Key:
        return (member.crc, member.compressed_size, member.size)

    def get(self, member: Member, payload: memoryview) -> ElfFacts | None:
        """The facts of an earlier member with the same compressed bytes, if any."""
        key = self.key(member)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        witness, facts = entry
        matches = witness.matches(payload)
        with self._lock:
            self.stats.compared_bytes += len(payload)
            if not matches:
                return None  # same CRC and sizes, other bytes: parsed on its own (put replaces)
            if key in self._entries:
                self._entries.move_to_end(key)
            self.stats.hits += 1
            self.stats.bytes_saved += member.size
        return facts

    def put(
        self,
        member: Member,
        payload: memoryview,
        facts: ElfFacts,
        file: FileIdentity | None,
        offset: int,
    ) -> None:
        """Remember ``facts`` for a member at ``offset`` of ``file`` (None: not a local file)."""
        digest = None if file is not None else _sha256(payload)
        with self._lock:
            self._entries[self.key(member)] = (Witness(file, offset, digest), facts)
            self._entries.move_to_end(self.key(member))
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


class ReleaseScope:
    """One remote wheel's use of the trusted identities of its release (module docstring).

    :meth:`claim` is called once, when the wheel's plan has fetched its members' first
    bytes: it returns the facts of the members a twin settles, waiting (``TWIN_WAIT`` at
    most) for twins another thread is reading, and marks the others as read by this wheel.
    :meth:`remember` records each of those once parsed; :meth:`close` lets go of the ones
    never parsed (a wheel that failed first), so that nobody waits for them. Claims are
    made all at once under the lock and a wheel waits only for claims made before its own:
    no two wheels wait for each other."""

    def __init__(self, cache: FactsCache, origin: str, project: str, version: str) -> None:
        self.cache = cache
        self.scope = (origin, project, version)
        self._mine: dict[ReleaseKey, bytes] = {}  # claimed, not remembered yet
        self.saved = 0  # uncompressed bytes this wheel took from twins

    def _key(self, member: Member) -> ReleaseKey:
        return (*self.scope, member.name, member.crc, member.compressed_size, member.size)

    def claim(self, heads: list[tuple[Member, bytes]]) -> dict[int, ElfFacts]:
        """Facts by member offset, for the members of ``heads`` (each with its first
        compressed bytes) whose twin was read; the rest become this wheel's to read. A twin
        being read with other first bytes is no twin: not waited for, not claimed."""
        cache = self.cache
        found: dict[int, ElfFacts] = {}
        waits: list[tuple[Member, bytes, threading.Event]] = []
        digests = [(member, self._key(member), _sha256(memoryview(head))) for member, head in heads]
        with cache._lock:
            for member, key, digest in digests:
                twin = cache._twins.get(key)
                reading = cache._reading.get(key)
                if twin is not None and twin[0] == digest:
                    found[member.header_offset] = twin[1]
                elif reading is not None:
                    if reading[0] == digest:
                        waits.append((member, digest, reading[1]))
                elif twin is None:
                    cache._reading[key] = (digest, threading.Event())
                    self._mine[key] = digest
        deadline = time.monotonic() + TWIN_WAIT  # one deadline for all of the wheel's waits
        for member, digest, event in waits:
            event.wait(max(0.0, deadline - time.monotonic()))
            with cache._lock:
                twin = cache._twins.get(self._key(member))
            if twin is not None and twin[0] == digest:
                found[member.header_offset] = twin[1]
        self.saved = sum(member.size for member, _ in heads if member.header_offset in found)
        with cache._lock:
            cache.stats.hits += len(found)
        return found

    def remember(self, member: Member, facts: ElfFacts) -> None:
        """``facts`` of a member this wheel claimed: for its twins in the release."""
        key = self._key(member)
        with self.cache._lock:
            digest = self._mine.pop(key, None)
            if digest is None:
                return
            self.cache._twins[key] = (digest, facts)
            self.cache._twins.move_to_end(key)
            if len(self.cache._twins) > self.cache.capacity:
                self.cache._twins.popitem(last=False)
            reading = self.cache._reading.pop(key, None)
        if reading is not None:
            reading[1].set()

    def close(self) -> None:
        """The claims never parsed are let go: their waiters read those members themselves."""
        with self.cache._lock:
            readings = [self.cache._reading.pop(key, None) for key in self._mine]
            self._mine.clear()
        for reading in readings:
            if reading is not None:
                reading[1].set()


def _sha256(payload: memoryview) -> bytes:
    import hashlib  # ~3 ms of start-up; only members read over HTTP need it

    return hashlib.sha256(payload).digest()
