"""Symbol versions compared as versions: GLIBC_2.7 < GLIBC_2.14 < GLIBC_2.17 < GLIBC_2.25.

Text order puts GLIBC_2.14 before GLIBC_2.7 and GLIBCXX_3.4.9 after GLIBCXX_3.4.21, so a list
sorted as text reads as if the newest version were somewhere in the middle (issue #13). Every
list of versions a user reads (show, JSON, package, reports) is sorted with ``version_key``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_NUMBER = re.compile(r"\d+")


# a few hundred distinct versions exist (GLIBC_2.x, GLIBCXX_3.4.x, ...): parsed once each,
# not once per policy of every wheel
@functools.lru_cache(maxsize=4096)
def version_key(version: str) -> tuple[str, tuple[int, ...], str]:
    """Bucket (the text before the first ``_``), then the numbers after it, then the text.

    ``GLIBC_2.2.5`` -> ``("GLIBC", (2, 2, 5), "GLIBC_2.2.5")``. A name without numbers
    (``GLIBC_PRIVATE``) sorts before every numbered version of its bucket, so it is never
    the newest one.
    """
    bucket, _, rest = version.partition("_")
    return bucket, tuple(int(n) for n in _NUMBER.findall(rest)), version


def sort_versions(versions: Iterable[str]) -> tuple[str, ...]:
    """Grouped by bucket, oldest first within each."""
    return tuple(sorted(versions, key=version_key))


def newest_version(versions: Iterable[str]) -> str:
    """The newest of versions of one bucket."""
    return max(versions, key=version_key)
