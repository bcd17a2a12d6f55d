"""A progress line for long runs: wheels done, wheels/s, MB/s, errors so far (rich)."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any

from wheelscan.engine.run import RunCounts


class ProgressLine:
    """Redraws at most ten times a second; silent when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = False
        self._live: Any = None
        if enabled is False or (enabled is None and not _may_be_a_terminal()):
            return  # rich is not even imported (20-30 ms of a run's start-up)
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        console = Console(stderr=True)
        self.enabled = console.is_terminal if enabled is None else enabled
        self._live = Live(Text(""), console=console, refresh_per_second=10, transient=False)

    def __enter__(self) -> ProgressLine:
        if self.enabled:
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._live.stop()

    def update(self, counts: RunCounts) -> None:
        if self.enabled:
            from rich.text import Text

            self._live.update(Text(describe(counts)))


def _may_be_a_terminal() -> bool:
    """False where rich's ``Console.is_terminal`` would be: stderr no terminal and none of
    the variables that make rich think otherwise set (a run under a test or in cron)."""
    if os.environ.keys() & {"TTY_COMPATIBLE", "FORCE_COLOR"}:
        return True  # rich decides
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one: rich says False too
        return False


def describe(c: RunCounts) -> str:
    return (
        f"{c.audited} audited ({c.audited / c.elapsed:.1f}/s, "
        f"{c.bytes_read / c.elapsed / 1e6:.1f} MB/s read, "
        f"{c.elf_bytes / c.elapsed / 1e6:.1f} MB/s ELF, "
        f"{c.reused_elf_bytes / 1e6:.0f} MB of it deduplicated), {c.errors} errors, "
        f"{c.skipped_known} known skipped, {c.seen} seen"
    )


def summary(c: RunCounts) -> tuple[str, str]:
    """The end of a run in two lines under 80 columns: what was done, then at what speed."""
    return (
        f"{c.audited} audited, {c.errors} errors, {c.skipped_known} known skipped, {c.seen} seen",
        f"{c.audited / c.elapsed:.1f} wheels/s, {c.bytes_read / c.elapsed / 1e6:.1f} MB/s "
        f"read, {c.elf_bytes / c.elapsed / 1e6:.1f} MB/s ELF, "
        f"{c.reused_elf_bytes / 1e6:.0f} MB deduplicated",
    )
