"""What a worker sends back for one wheel: small, versioned, picklable.

The parent owns the store, progress and statistics; a worker only turns a WheelRef into a
WheelResult. ``facts`` is kept so the store can re-judge the wheel later without reading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.contents import WheelFacts

RESULT_VERSION = 1


@dataclass(frozen=True)
class WheelResult:
    ref: WheelRef
    sha256: str | None  # the index's, else computed from the bytes read; None if unreadable
    facts: WheelFacts | None  # None when the wheel could not be read
    verdict: Verdict | AuditError
    bytes_read: int  # bytes fetched or mapped and touched: what the scan cost in I/O
    elf_bytes: int  # uncompressed bytes of the ELF members parsed
    seconds: float
    reused_elf_bytes: int = 0  # ELF bytes whose facts came from an identical member seen before
    version: int = RESULT_VERSION

    @property
    def ok(self) -> bool:
        return isinstance(self.verdict, Verdict)
