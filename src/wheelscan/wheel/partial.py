"""A member's start inflated from as few of its compressed bytes as will do.

Over HTTP every compressed byte is one fetched: the start of a member (its tables) is
inflated from a start of its stream that the archive sizes and lengthens on demand
(``WheelArchive.payload_starts``). A start that proves too short fails to inflate, and the
next, longer one is tried, the last being the whole payload; so only a failure of the whole
payload is the member's.

Inflating a cut stream is sound. libdeflate stops where the output is full; fed too few
bytes, it reads at most 8 implicit zero bytes past the end (``overread_count``, at most
``sizeof(bitbuf_t)``) before refusing the stream, and those 64 bits decode to at most 64
symbols of at most 258 bytes each (a stored block cannot start there: its length check
fails): 16.5 KiB, well inside the ``PREFIX_SLACK`` (64 KiB) of output that ``inflate_prefix``
never vouches for. ISA-L, the other inflater, refuses a cut stream outright.
tests/test_partial_reads.py cuts real members at many points and checks both claims.
"""

from __future__ import annotations

from wheelscan.errors import InflateError
from wheelscan.wheel.archive import Member, WheelArchive
from wheelscan.wheel.inflate import inflate_prefix


def inflate_start(archive: WheelArchive, member: Member, out: memoryview) -> int:
    """``inflate_prefix`` of the member into ``out``, from the shortest start of its
    payload that inflates that far; raises ``InflateError`` as the whole payload would."""
    for payload in archive.payload_starts(member, len(out)):
        try:
            return inflate_prefix(payload, out)
        except InflateError:
            if len(payload) >= member.compressed_size:
                raise
    raise InflateError("bad-deflate", "no start of the payload to inflate")
