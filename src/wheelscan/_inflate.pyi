"""Types of the inflater (native/_inflate.pyx, over the `deflate` package's libdeflate)."""

from wheelscan.elf.types import Buffer
from wheelscan.errors import InflateError as InflateError

LIBDEFLATE_VERSION: str

def inflate_into(payload: Buffer, out: Buffer, crc32: bool = True) -> int: ...

PREFIX_SLACK: int

def inflate_prefix(payload: Buffer, out: Buffer) -> int: ...
def crc32(data: Buffer, value: int = 0) -> int: ...
