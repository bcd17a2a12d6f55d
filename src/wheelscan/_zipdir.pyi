"""Types of the central directory walker (native/_zipdir.pyx)."""

from collections.abc import Callable
from typing import Any, TypeVar

from wheelscan.elf.types import Buffer

M = TypeVar("M")

def central_entries(
    data: Buffer,
    cd_offset: int,
    concat: int,
    member_type: Callable[[str, int, int, int, int, int, bytes], M],
    error_type: Callable[..., BaseException],
    zip64_sizes: Callable[[bytes, int, int, int], tuple[int, int, int]],
    unicode_path: Callable[[bytes, bytes, str], None],
) -> list[M]: ...
def local_data_offsets(data: Buffer, members: list[Any], ends: dict[int, int]) -> list[int]: ...
def elf_heads(data: Buffer, members: list[Any], begins: dict[int, int]) -> list[int]: ...

__all__ = ["central_entries", "elf_heads", "local_data_offsets"]
