"""How many random inputs each property test draws: all of them in the full suite, a fifth
in the developers' fast loop.

A test states its count for the full suite (``python -m pytest``, as CI runs it) with
``@settings(max_examples=examples(N))``; a test that states none draws hypothesis' default.
The fast loop (CONTRIBUTING.md) loads the ``fast-loop`` profile, chosen in ``conftest.py``,
which draws a fifth of hypothesis' default, and ``examples`` scales every stated count by the
same share: the same properties over fewer inputs, a new sample each run (failures found
before are replayed from hypothesis' database first, whatever the count). The full suite's
counts are what CI holds the code to.
"""

from __future__ import annotations

from hypothesis import settings

FAST_LOOP_PROFILE = "fast-loop"
# hypothesis' own default: the count a profile's share is taken of
_DEFAULT_EXAMPLES = 100

settings.register_profile(FAST_LOOP_PROFILE, max_examples=_DEFAULT_EXAMPLES // 5)


def examples(full: int) -> int:
    """``full`` under hypothesis' default profile; the loaded profile's share of it else."""
    return max(1, full * settings.default.max_examples // _DEFAULT_EXAMPLES)
