"""Types of native/_tail.pyx: the end of a deflate stream inflated without its start."""

from wheelscan.elf.types import Buffer

def block_starts(
    stream: Buffer, search_from: int, search_to: int
) -> tuple[int, list[tuple[int, int]]] | None: ...
def block_starts_until(
    stream: Buffer, search_from: int, search_to: int, stop: int
) -> tuple[int, list[tuple[int, int]], int] | tuple[int, list[tuple[int, int]]] | None: ...
def count_from(stream: Buffer, bit: int) -> tuple[int, list[tuple[int, int]]] | None: ...
def inflate_from(
    stream: Buffer, bit: int, out: Buffer, known: Buffer, window: Buffer | None = None
) -> int | None: ...
def inflate_tail(
    stream: Buffer,
    search_from: int,
    search_to: int,
    out: Buffer,
    known: Buffer,
    window: Buffer | None = None,
) -> tuple[int, int, int, int] | tuple[None, int, int] | None: ...
def inflate_until(
    stream: Buffer,
    search_from: int,
    search_to: int,
    stop: int,
    out: Buffer,
    known: Buffer,
    window: Buffer | None = None,
) -> tuple[int, int, int, int] | None: ...
def known_ranges(
    known: Buffer, start: int, offset: int, min_length: int = 64, stop: int | None = None
) -> list[tuple[int, int]]: ...
