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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from wheelscan.elf import ElfFacts
from wheelscan.wheel.archive import Member
from wheelscan.wheel.identity import FileIdentity

Key = tuple[int, int, int]  # CRC-32, compressed size, size


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


def _sha256(payload: memoryview) -> bytes:
    import hashlib  # ~3 ms of start-up; only members read over HTTP need it

    return hashlib.sha256(payload).digest()
