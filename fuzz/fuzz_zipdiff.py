#!/usr/bin/env python3
"""Fuzz wheelscan's reading of a zip against Python's ``zipfile``, the reader pip installs with.

For every archive that both read, the same members (names, sizes, header and data offsets)
and the same bytes (``tests/hostile/zipdiff.py``); wherever they would differ, wheelscan must
refuse it. Each input is taken two ways: as an archive itself (libFuzzer's byte mutations of
the seeds), and as the choices of ``zipdiff.mutate`` on a sound wheel, which changes fields
where the structure is (a count, a size, an offset) far more often than bytes at random can.
``zipfile`` is instrumented too, so that its branches guide the search.

    python fuzz/make_seeds.py /tmp/seeds
    python fuzz/fuzz_zipdiff.py /tmp/corpus-zipdiff /tmp/seeds/wheel -max_total_time=600
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from _common import fuzz


class _Provided:
    """A mutation's choices read from libFuzzer's input (atheris' FuzzedDataProvider)."""

    def __init__(self, data: bytes) -> None:
        import atheris

        self.provider = atheris.FuzzedDataProvider(data)

    def integer(self, low: int, high: int) -> int:
        return int(self.provider.ConsumeIntInRange(low, high))

    def binary(self, max_size: int) -> bytes:
        return bytes(self.provider.ConsumeBytes(self.integer(1, max_size)))


def setup() -> Callable[[bytes], None]:
    # imported before the instrumentation began (by the interpreter's start-up): imported
    # again, instrumented, for the oracle
    sys.modules.pop("zipfile", None)
    from hostile.zipdiff import disagreements, mutate, seeds

    sound = seeds()

    def check(archive: bytes) -> None:
        found = disagreements(archive)
        if found:
            raise AssertionError("; ".join(found))

    def test(data: bytes) -> None:
        check(data)
        if "atheris" in sys.modules:  # replay.py runs the corpus without atheris
            choices = _Provided(data)
            check(mutate(sound[choices.integer(0, len(sound) - 1)], choices))

    return test


if __name__ == "__main__":
    fuzz(setup, instrument=("wheelscan", "zipfile", "hostile.zipdiff"))
