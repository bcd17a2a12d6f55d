"""Types of the native ELF core (native/_native.pyx)."""

from collections.abc import Sequence

from wheelscan.elf.facts import ElfFacts
from wheelscan.elf.types import Buffer

class NeedBytes(Exception):
    start: int
    end: int
    def __init__(self, start: int, end: int) -> None: ...

def parse_elf(buffer: Buffer, available: Sequence[tuple[int, int]] | None = None) -> ElfFacts: ...
def facts_end(buffer: Buffer) -> int | None: ...
def same_bytes(a: Buffer, b: Buffer) -> bool: ...
