"""Repeated members are parsed once, and only when their bytes are the same.

The cache finds candidates by the central directory's CRC-32 and sizes, which a hostile
wheel can copy; it reuses facts only after comparing the compressed bytes themselves.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from pathlib import Path

import pytest

from wheelscan.engine import task as task_module
from wheelscan.engine.pool import InlineExecutor
from wheelscan.engine.task import AuditTask
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.dedupe import FactsCache

from elfwriter import build_elf, sample_spec
from hostile.zipwriter import Entry, deflate, write_wheel

MEMBER = "demo/_mod.cpython-312-x86_64-linux-gnu.so"


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's cache lives as long as its process: here, one per test."""
    monkeypatch.setattr(task_module, "_FACTS_CACHE", FactsCache())


def elf() -> bytes:
    return build_elf(sample_spec("x86_64", interpreter=None, soname="libdedupe-test.so"))


def ref_for(path: Path, data: bytes) -> WheelRef:
    path.write_bytes(data)
    return WheelRef(path.name, "demo", "1.0", str(path))


def audited(task: AuditTask, *refs: WheelRef) -> list[WheelResult]:
    return list(InlineExecutor(task).results(refs))


def wheel_name(tag: str) -> str:
    return f"demo_{tag}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def test_a_member_that_copies_crc_and_sizes_but_not_bytes_is_parsed_on_its_own(
    tmp_path: Path,
) -> None:
    content = elf()
    payload = deflate(content)
    forged = bytearray(payload)
    forged[len(forged) // 2] ^= 0xFF  # same length, other bytes: not the same file
    genuine = write_wheel([Entry(MEMBER, content)])
    impostor = write_wheel([Entry(MEMBER, content, payload=bytes(forged), crc=zlib.crc32(content))])
    first, second = audited(
        AuditTask(),
        ref_for(tmp_path / wheel_name("a"), genuine),
        ref_for(tmp_path / wheel_name("b"), impostor),
    )
    assert isinstance(first.verdict, Verdict)
    assert second.reused_elf_bytes == 0
    # its own bytes judged: a broken stream, never the first wheel's facts
    assert isinstance(second.verdict, AuditError)
    assert second.verdict.code in ("bad-deflate", "size-mismatch", "crc-mismatch")


def test_a_witness_file_that_changed_is_not_trusted(tmp_path: Path) -> None:
    data = write_wheel([Entry(MEMBER, elf())])
    task = AuditTask()
    one = ref_for(tmp_path / wheel_name("one"), data)
    (result,) = audited(task, one)
    assert result.ok
    # the file the cache would read back is replaced by another wheel
    other = write_wheel([Entry(MEMBER, elf() + b"\0" * 4096)])
    Path(one.location).write_bytes(other)
    os.utime(one.location, ns=(1, 1))
    two, three = audited(
        task,
        ref_for(tmp_path / wheel_name("two"), data),
        ref_for(tmp_path / wheel_name("three"), data),
    )
    assert two.ok and two.reused_elf_bytes == 0  # parsed again: its witness is gone
    assert three.ok and three.reused_elf_bytes == len(elf())  # the new witness is "two"
    assert two.facts and three.facts and two.facts.elf_files == three.facts.elf_files


def test_without_a_local_file_the_witness_is_a_digest() -> None:
    """Members read over HTTP: the cache keeps a SHA-256 of the first one's bytes."""
    content = elf()
    payload = deflate(content)
    forged = bytearray(payload)
    forged[-5] ^= 0x01
    genuine = WheelArchive(write_wheel([Entry(MEMBER, content)]))
    impostor = WheelArchive(
        write_wheel([Entry(MEMBER, content, payload=bytes(forged), crc=zlib.crc32(content))])
    )
    (member,) = [m for m in genuine.members if m.name == MEMBER]
    (lookalike,) = [m for m in impostor.members if m.name == MEMBER]
    assert FactsCache.key(member) == FactsCache.key(lookalike)
    cache = FactsCache()
    facts = object()
    cache.put(member, genuine.payload(member), facts, None, 0)  # type: ignore[arg-type]
    assert cache.get(lookalike, impostor.payload(lookalike)) is None
    assert cache.get(member, genuine.payload(member)) is facts
    assert cache.stats.hits == 1 and cache.stats.bytes_saved == len(content)


def test_threads_may_share_the_cache() -> None:
    """A worker's threads (remote wheels read at once) look up and evict at the same time:
    a lookup whose entry another thread evicted while it hashed is no crash."""
    payload = memoryview(bytes(4 << 20))  # hashing it releases the interpreter lock
    members = [Member(f"m{i}", 8, i, len(payload), 10, 0) for i in range(3)]
    cache = FactsCache(capacity=2)
    errors: list[BaseException] = []
    stop = time.monotonic() + 2.0

    def getter() -> None:
        while time.monotonic() < stop:
            try:
                cache.get(members[0], payload)
            except BaseException as e:  # any failure is the finding
                errors.append(e)
                return

    def putter() -> None:
        i = 0
        while time.monotonic() < stop and not errors:
            cache.put(members[i % 3], payload, "facts", None, 0)  # type: ignore[arg-type]
            i += 1

    threads = [threading.Thread(target=getter), threading.Thread(target=putter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache._entries) <= 2


@pytest.mark.parametrize("where", [None, 0, (1 << 20) - 1, 1 << 20, (3 << 20) + 5])
def test_a_witness_file_is_compared_byte_for_byte_chunk_by_chunk(
    tmp_path: Path, where: int | None
) -> None:
    """Over several compare chunks: one byte changed anywhere is a difference."""
    from wheelscan.wheel.identity import FileIdentity

    data = os.urandom((3 << 20) + 17)
    path = tmp_path / "witness.whl"
    path.write_bytes(b"head" + data + b"tail")
    identity = FileIdentity.of(path, os.stat(path))
    payload = bytearray(data)
    if where is not None:
        payload[where] ^= 1
    assert identity.holds(4, memoryview(payload)) == (where is None)


def test_a_witness_file_that_is_shorter_holds_nothing(tmp_path: Path) -> None:
    from wheelscan.wheel.identity import FileIdentity

    path = tmp_path / "witness.whl"
    path.write_bytes(b"0123456789")
    identity = FileIdentity.of(path, os.stat(path))
    assert identity.holds(2, b"23456789")
    assert not identity.holds(2, b"23456789X")  # runs past the end of the file
    assert not identity.holds(0, b"x")


def test_same_bytes_is_memcmp() -> None:
    from wheelscan._native import same_bytes

    assert same_bytes(b"", b"")
    assert same_bytes(b"abc", bytearray(b"abc"))
    assert not same_bytes(b"abc", b"abd")
    assert not same_bytes(b"abc", b"ab")
