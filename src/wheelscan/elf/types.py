"""What the parsers accept: any contiguous buffer of bytes."""

import mmap

Buffer = bytes | bytearray | memoryview | mmap.mmap
