"""Large anonymous mappings written whole (a large member's end, wheel/ends.py) are advised
for transparent huge pages (wheel/scratch.py's HUGE_PAGE note); small ones, and the rest of
the scratch, are not. Read back from the kernel: the ``hg`` flag of /proc/self/smaps."""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from pathlib import Path

import pytest

from wheelscan.wheel import end_one_pass
from wheelscan.wheel.scratch import (
    HUGE_PAGE,
    HUGE_PAGE_SHARE,
    prefer_huge_pages,
    prefer_huge_scratch_pages,
    scratch,
)

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not hasattr(mmap, "MADV_HUGEPAGE"), reason="Linux's advice"
)

MiB = 1024 * 1024


def _address(mapping: mmap.mmap | memoryview) -> int:
    view = memoryview(mapping) if isinstance(mapping, mmap.mmap) else mapping
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def _advised(address: int, length: int) -> set[int]:
    """The offsets (in MiB, from ``address``) of the whole MiBs whose region of the address
    space carries the huge-page advice."""
    advised: set[int] = set()
    region: tuple[int, int] | None = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            begin, end = (int(part, 16) for part in head.split("-"))
            region = (begin, end)
        elif head == "VmFlags:" and region is not None and "hg" in line.split()[1:]:
            for mib in range(length // MiB):
                start = address + mib * MiB
                if region[0] <= start and start + MiB <= region[1]:
                    advised.add(mib)
    return advised


def test_a_large_mapping_is_advised_and_a_small_one_is_not() -> None:
    large = mmap.mmap(-1, 8 * MiB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    small = mmap.mmap(-1, HUGE_PAGE - mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        prefer_huge_pages(large)
        prefer_huge_pages(small)
        assert _advised(_address(large), 8 * MiB) == set(range(8))
        assert _advised(_address(small), 1 * MiB) == set()
    finally:
        large.close()
        small.close()


def test_a_long_ends_buffers_are_advised() -> None:
    # a one-pass end's two buffers, written from their start
    with end_one_pass._one_pass_buffers(16 * MiB) as (out, known):
        assert _advised(_address(out), 16 * MiB) == set(range(16))
        assert _advised(_address(known), 16 * MiB) == set(range(16))


def test_a_short_ends_kept_buffers_are_not_advised() -> None:
    """A thread's kept buffers are mapped KEPT_ONE_PASS long: a short end in them is not
    advised (its first write would fault a whole 2 MiB page in, kept for the thread's
    life), a longer one (HUGE_PAGE_SHARE of a huge page at least) in the huge pages it
    lies in (its 4 KiB faults in a fresh thread cost more than zeroing them whole). In a
    thread of its own: its kept buffers are fresh."""
    seen: list[set[int]] = []

    def read_ends() -> None:
        for length in (20 * 1024, HUGE_PAGE_SHARE - 1, HUGE_PAGE_SHARE, 3 * MiB):
            with end_one_pass._one_pass_buffers(length) as (out, _):
                seen.append(_advised(_address(out), end_one_pass.KEPT_ONE_PASS))

    thread = threading.Thread(target=read_ends)
    thread.start()
    thread.join()
    assert seen == [set(), set(), {0, 1}, set(range(4))]


def test_an_end_in_the_scratch_is_advised_in_the_huge_pages_it_lies_in() -> None:
    # onnxruntime 1.31.1's libonnxruntime.so: its end, 1.1 MB, copied to 27-28 MiB
    seen: list[set[int]] = []

    def write_one_end() -> None:
        with scratch(96 * MiB) as buffer:
            prefer_huge_scratch_pages(27 * MiB, 28 * MiB - 4096)
            prefer_huge_scratch_pages(60 * MiB, 60 * MiB + HUGE_PAGE_SHARE - 1)  # too short
            seen.append(_advised(_address(buffer), 96 * MiB))

    thread = threading.Thread(target=write_one_end)
    thread.start()
    thread.join()
    assert seen == [{26, 27}]


def test_only_the_range_of_the_scratch_about_to_be_written_is_advised() -> None:
    # in a thread of its own: a thread's scratch is kept, advised where earlier ends were
    seen: list[set[int]] = []

    def write_one_end() -> None:
        with scratch(96 * MiB) as buffer:
            prefer_huge_scratch_pages(40 * MiB, 48 * MiB)
            seen.append(_advised(_address(buffer), 96 * MiB))

    thread = threading.Thread(target=write_one_end)
    thread.start()
    thread.join()
    assert seen == [set(range(40, 48))]
