"""What a verdict needs from a wheel: its name and the facts of its ELF members.

``WheelFacts`` is what gets stored: a verdict is derived from it and a policy alone, so a new
policy file re-judges every stored wheel without reading one again.
"""

from __future__ import annotations

# csv's reader, error and limit are _csv's own, which csv re-exports (the reader's defaults
# are csv's "excel" dialect): csv itself, its dialect and sniffer classes, was 1.4M
# instructions of a one-wheel ``show``'s start-up (issue #15), which reads RECORD only
import _csv as csv
import contextlib
import os
import posixpath
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from wheelscan.elf import (
    ElfError,
    ElfFacts,
    NeedBytes,
    Parser,
    PartialParser,
    get_parser,
    partial_parser,
)
from wheelscan.elf.types import Buffer
from wheelscan.errors import ELF_ERROR_CODES
from wheelscan.model import ElfMember, WheelFacts
from wheelscan.wheel.archive import DEFLATED, Member, WheelArchive, WheelError
from wheelscan.wheel.ends import HEAD_BYTES, EndFound, parse_by_ends
from wheelscan.wheel.inflate import (
    PREFIX_SLACK,
    WHOLE_MEMBER_LIMIT,
    InflateError,
    inflate_into,
)
from wheelscan.wheel.partial import inflate_start
from wheelscan.wheel.scratch import scratch

if TYPE_CHECKING:
    # a strict reading's checks, and the cache of a batch's facts: imported where used
    from wheelscan.wheel.dedupe import FactsCache
    from wheelscan.wheel.integrity import Digest

# Each pass over a member's deflate stream inflates it again from the start, keeping more of
# it (wheel/stream.py); a real member needs one pass, two when a table lies past what the first
# kept. A table walked word by word past the kept bytes (a hostile DT_GNU_HASH chain with no
# end) gains one output chunk per pass: 128 MiB of chain cost 33 passes and 4.3 GiB of
# inflation (49 s), a 2 GiB member hours. Inflated whole instead, a 1 GiB member took
# 1.14 GB of memory. So after this many passes the member is refused (``scattered-tables``):
# no real library needs more than two.
MAX_STREAM_PASSES = 3
# Undefined symbols in all of a wheel's ELF files, each a record of ~140 bytes (a file's own
# are bounded natively, 2**18): the test corpus's largest wheel has 21,345
MAX_WHEEL_UNDEFINED = 1 << 20


# A member whose tables end (``facts_end``) later than this fraction of it is inflated whole,
# and its CRC-32 checked; any other only as far as its tables (``_parse_prefix``)
WHOLE_ABOVE = 0.95
# Members smaller than this are inflated whole without a look at their tables' end: on the
# benchmark corpus, inflating the first 4 KiB of the 491 members under 512 KiB to read
# their program headers took 14 ms, and stopping at their tables would have saved 1 ms
PREFIX_FROM = 512 * 1024

# Set to 1: every member inflated whole and checked (``verify_members``)
VERIFY_ENV = "WHEELSCAN_VERIFY"

# One streamed (huge) member at a time per process, whatever the threads: each keeps up to
# DEFAULT_KEEP bytes, and the memory bound is per worker
_STREAMING = threading.Lock()


class _TooManyPasses(Exception):
    pass


def record_paths(archive: WheelArchive) -> list[str]:
    """Paths listed in ``<name>.dist-info/RECORD`` (PEP 376 / 427), in order, read as pip
    reads them (``pip/_internal/operations/install/wheel.py``, ``utils/wheel.py``): the one
    top-level ``.dist-info`` directory's RECORD, split by ``str.splitlines``."""
    # pip's test: the first part of a name (a file's too) that ends in .dist-info
    first_parts = {m.name.partition("/")[0] for m in archive.members if ".dist-info" in m.name}
    info_dirs = [part for part in first_parts if part.endswith(".dist-info")]
    records = [
        m
        for m in archive.members
        if m.name.endswith(".dist-info/RECORD") and m.name.count("/") == 1
    ]
    # pip refuses a wheel with more than one .dist-info directory, even if one has no RECORD
    if len(records) != 1 or len(info_dirs) != 1:
        raise WheelError(
            "no-record",
            f"{len(records)} top-level .dist-info/RECORD files in "
            f"{len(info_dirs)} .dist-info directories",
        )
    text = bytes(archive.read(records[0])).decode("utf-8", "replace")
    try:
        return first_fields(text)
    except csv.Error as e:  # a field over csv's limit (128 KiB): pip could not read it either
        raise WheelError("bad-record", f"RECORD: {e}", records[0].name) from e


def first_fields(text: str) -> list[str]:
    """The first field of each row of RECORD, as pip reads it: ``csv.reader`` over
    ``text.splitlines()`` (raising ``csv.Error`` where it does).

    ``splitlines`` ends a line at ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``,
    ``\\u2028`` and ``\\u2029`` too, not only at ``\\n``: a row after one of those is a row of its
    own to pip, and so it is here.
    """
    lines = text.splitlines()
    if (
        '"' not in text
        and "\0" not in text
        and max(map(len, lines), default=0) <= csv.field_size_limit()
    ):
        # nothing for csv to unquote, no line it would refuse: each line's text up to its
        # first comma, at C speed (csv took 10 ms of a scan of the benchmark corpus)
        return [line.split(",", 1)[0] for line in lines if line]
    return [row[0] for row in csv.reader(lines) if row]


def unsafe_path(name: str) -> bool:
    """A member pip would refuse to install, or that two zip readers would name differently.

    pip refuses a member whose path leaves the target directory (an absolute name, a ``..``
    component); Python's zipfile cuts a name at its first NUL, so such a member would be
    installed under another name than the one audited.
    """
    # split only where a ".." may be a component: a split of every name was most of the
    # check, 0.7M instructions of onnxruntime 1.31.1's 353 members before its reading began
    return name.startswith("/") or "\0" in name or (".." in name and ".." in name.split("/"))


def read_wheel_facts(
    archive: WheelArchive,
    filename: str,
    cache: FactsCache | None = None,
    threads: int = 1,
    *,
    strict: bool = False,
    file_sha256: str | None = None,
) -> WheelFacts:
    """Parse every ELF member of ``archive``; raise WheelError for a member that is not sound.

    With a ``cache``, a member parsed before (the same compressed bytes) is not parsed again.
    With ``threads`` > 1, members are inflated and parsed on that many threads (the inflater
    and the parser release the GIL): one large wheel on several cores, for ``show``.
    ``strict``: the wheel is first checked byte for byte (``integrity.check_wheel``, against
    ``file_sha256`` too where the index gives one), every ELF member is inflated whole, and
    members named ``*.py`` are examined too (an ELF file installed under any name can be
    loaded).
    """
    parse = get_parser()
    for member in archive.members:
        if unsafe_path(member.name):
            raise WheelError("unsafe-path", "a path outside the install directory", member.name)
    # a strict reading: the installer's checks first, then every ELF member parsed from
    # its whole content, whose digest is kept (``digests``) for RECORD's check at the end
    if strict:
        from wheelscan.wheel.integrity import check_contents, check_identity
    info_dir = check_identity(archive, filename, file_sha256) if strict else ""
    digests: dict[str, Digest] | None = {} if strict else None
    listed = {
        posixpath.normpath(p): i
        for i, p in enumerate(record_paths(archive))
        if strict or not p.endswith(".py")  # auditwheel's rule; strict examines everything
    }
    members: list[tuple[int, ElfMember]] = []
    undefined = 0
    for member, facts in _parsed_members(parse, archive, cache, threads, digests):
        # the Python definitions are records of the same size, bounded alike (issue #17)
        undefined += len(facts.undefined_symbols) + len(facts.python_definitions)
        if undefined > MAX_WHEEL_UNDEFINED:
            raise WheelError(
                "too-large",
                f"more than {MAX_WHEEL_UNDEFINED} undefined symbols and Python definitions",
                member.name,
            )
        rank = listed.get(posixpath.normpath(member.name))
        members.append(
            (
                rank if rank is not None else len(listed),
                ElfMember(member.name, facts, rank is not None, member.size),
            )
        )
    members.sort(key=lambda item: item[0])  # stable: unlisted ones keep archive order
    integrity = check_contents(archive, filename, info_dir, digests) if strict else ()
    return WheelFacts(filename, tuple(m for _, m in members), strict, integrity)


def _sniffed_candidates(archive: WheelArchive) -> tuple[list[Member], dict[int, Exception]]:
    """A strict reading's candidates, sniffed: those that are ELF files (by index), and
    the failure each of the others met looking (raised in archive order by the caller, as a
    member-by-member reading would)."""
    candidates = _candidates(archive, strict=True)
    elf: list[Member] = []
    errors: dict[int, Exception] = {}
    for member, sniffed in zip(candidates, archive.sniff(candidates), strict=True):
        try:
            if archive.is_elf(member, sniffed):
                elf.append(member)
        except Exception as e:
            errors[len(elf)] = e
            elf.append(member)  # its place: raised there, never parsed
    return elf, errors


def _elf_members(archive: WheelArchive) -> tuple[list[Member], dict[int, Exception]]:
    """The archive's ELF members, as far as its search gets: where it fails, the failure
    at the place after the last member found (raised there by the caller: the members
    before it are parsed first, as a member-by-member reading parses them)."""
    found: list[Member] = []
    search = archive.elf_members()
    while True:
        try:
            member = next(search)
        except StopIteration:
            return found, {}
        except Exception as e:
            return found, {len(found): e}
        found.append(member)


def _candidates(archive: WheelArchive, strict: bool) -> list[Member]:
    """The members that may be ELF; in a strict reading, every file of 4 bytes or more."""
    if strict:
        return [m for m in archive.members if not m.name.endswith("/") and m.size >= 4]
    return [m for m in archive.members if archive.may_be_elf(m)]


def _parsed_members(
    parse: Parser,
    archive: WheelArchive,
    cache: FactsCache | None,
    threads: int,
    digests: dict[str, Digest] | None,
) -> Iterator[tuple[Member, ElfFacts]]:
    """Every ELF member with its facts, in archive order; whichever way they are computed,
    the failure raised is the one a member-by-member reading meets first. ``digests``: a
    strict reading (every member a candidate, each inflated whole, its digest kept there)."""
    strict = digests is not None
    if threads <= 1:
        if not strict:
            for member in archive.elf_members():
                yield member, _cached_parse(parse, archive, member, cache)
            return
        everything = _candidates(archive, strict)
        for member, looked in zip(everything, archive.sniff(everything), strict=True):
            if archive.is_elf(member, looked):
                yield member, _cached_parse(parse, archive, member, cache, digests)
        return
    from functools import partial

    from wheelscan.wheel.threads import run_all

    # The largest candidates first: they are handed to a thread before the many small
    # files (a thread that starts the largest library last finishes last; one library
    # cannot be split: a deflate stream is sequential).
    if strict:
        candidates, sniffing_errors = _sniffed_candidates(archive)
        parsed = [i for i in range(len(candidates)) if i not in sniffing_errors]
    else:
        # the archive's own search, as a member-by-member reading makes it: a remote one
        # looks only where its plan did (wheel/http.py), where sniffing every candidate
        # fetched each one's first bytes, a round trip each (1,185 requests for pyarrow)
        candidates, sniffing_errors = _elf_members(archive)
        parsed = list(range(len(candidates)))
    parsed.sort(key=lambda i: -candidates[i].compressed_size)
    outcomes = run_all(
        [partial(_cached_parse, parse, archive, candidates[i], cache, digests) for i in parsed],
        threads,
        "wheelscan-members",
    )
    facts = dict(zip(parsed, outcomes, strict=True))
    for i, member in enumerate(candidates):
        if i in sniffing_errors:
            raise sniffing_errors[i]
        yield member, facts[i].result()
    if len(candidates) in sniffing_errors:  # the search failed past the last member found
        raise sniffing_errors[len(candidates)]


def _cached_parse(
    parse: Parser,
    archive: WheelArchive,
    member: Member,
    cache: FactsCache | None,
    digests: dict[str, Digest] | None = None,
) -> ElfFacts:
    reused = archive.reused_facts(member)
    if reused is not None:
        return reused
    if member.method != DEFLATED:
        return _parse(parse, archive, member)  # a stored member is parsed in place: cheap
    if cache is None:
        facts = _parse(parse, archive, member, digests)
    else:
        archive.check_limits(member)
        payload = archive.payload(member)
        cached = cache.get(member, payload)
        facts = cached if cached is not None else _parse(parse, archive, member, digests)
        if cached is None:
            cache.put(member, payload, facts, archive.file, archive.data_offset(member))
    archive.parsed(member, facts)
    archive.done_with(member)  # its bytes leave the process: not read again
    return facts


def verify_members() -> bool:
    """Whether every member is to be inflated whole (``WHEELSCAN_VERIFY=1``), its CRC-32
    and size checked, as an installer would: nothing read only in part or by its ends."""
    return os.environ.get(VERIFY_ENV, "") not in ("", "0")


def _parse(
    parse: Parser,
    archive: WheelArchive,
    member: Member,
    digests: dict[str, Digest] | None = None,
) -> ElfFacts:
    """The member's facts. Read by its ends or a prefix where that pays; those readings
    return None wherever they fail, and the member is then inflated whole: only a failure
    of a whole-member reading (the member is unsound) is an error. A strict reading
    (``digests``), like ``WHEELSCAN_VERIFY``, inflates every member whole, and keeps each
    one's digest in ``digests``."""
    partial = partial_parser()
    try:
        if member.method == DEFLATED and partial is not None:
            archive.check_limits(member)
            if member.size > WHOLE_MEMBER_LIMIT and (digests is not None or not verify_members()):
                # by its ends (not in a strict reading), or streamed, within the memory
                # bound; in a strict reading its CRC, size and digest are checked by the
                # integrity pass, which streams it too
                with _STREAMING:
                    facts = _parse_large(archive, member, partial, strict=digests is not None)
                if facts is None:
                    raise WheelError(
                        "scattered-tables",
                        f"its tables lie further apart than {MAX_STREAM_PASSES} passes keep: "
                        f"only a whole read ({member.size} bytes) would settle its facts",
                        member.name,
                    )
                return facts
            if digests is not None or verify_members():
                if member.size <= WHOLE_MEMBER_LIMIT:
                    return _parse_whole(parse, archive, member, digests)
                return _parse_read(parse, archive, member)  # WHEELSCAN_VERIFY: whole, as said
            found = parse_by_ends(archive, member, partial)
            if found is not None and not isinstance(found, EndFound):  # (over the limit only)
                return found
            end = _facts_end(archive, member) if member.size >= PREFIX_FROM else None
            if end is not None:
                facts = _parse_prefix(archive, member, end, partial)
                if facts is not None:
                    return facts
            return _parse_whole(parse, archive, member)
        return _parse_read(parse, archive, member)
    except ElfError as e:
        raise WheelError(ELF_ERROR_CODES[e.code], e.reason, member.name) from e


def _facts_end(archive: WheelArchive, member: Member) -> int | None:
    """Where the member's tables probably end, from its program headers (``facts_end``);
    None if its start does not inflate (its whole inflation says why)."""
    from wheelscan._native import facts_end

    try:
        return facts_end(archive.head(member, HEAD_BYTES))
    except WheelError:
        return None


def _parse_read(
    parse: Parser,
    archive: WheelArchive,
    member: Member,
    digests: dict[str, Digest] | None = None,
) -> ElfFacts:
    """The member read whole (stored: in place), then parsed."""
    content = archive.read(member)
    if digests is not None:
        from wheelscan.wheel.integrity import Digest

        digests[member.name] = Digest.of(content)
    try:
        return parse(content)
    finally:
        if isinstance(content, memoryview):
            content.release()


def _parse_prefix(
    archive: WheelArchive, member: Member, end: int, parse: PartialParser
) -> ElfFacts | None:
    """The facts from the member inflated only up to ``end`` (and ``PREFIX_SLACK`` more);
    None when that is nearly all of it, or when the parser wants a byte past it (a layout
    ``facts_end`` did not foresee; no member of either corpus): the caller then inflates it
    whole, so that a member costs at most twice its size to inflate, whatever it holds.
    None too where the prefix does not inflate or the parser refuses it: the whole member
    is then read, and its reading decides the error (an installer would meet a stream
    unsound past the prefix, or a CRC-32 that differs, before any ELF file).

    What lies past the tables is not inflated: in most libraries their data (after
    PT_DYNAMIC), in an unstripped one its symbol tables and debug info (a third of the ELF
    bytes of the test corpus; a fifth of pyarrow's stripped libraries). Nor is it checked:
    the CRC-32 (it needs the last byte), that the stream is sound there, that it ends at the
    size the directory gives. Damage there cannot change the facts, but an installer would
    refuse the wheel (zipfile checks the CRC as it extracts): README, known limits.
    """
    length = end + PREFIX_SLACK
    if length >= WHOLE_ABOVE * member.size:
        return None
    with scratch(member.size, populate=length) as buffer:
        with buffer[:length] as out:
            try:
                valid = inflate_start(archive, member, out)
            except InflateError:
                return None
        try:
            return parse(buffer, [(0, valid)])
        except (NeedBytes, ElfError):
            return None


def _parse_whole(
    parse: Parser,
    archive: WheelArchive,
    member: Member,
    digests: dict[str, Digest] | None = None,
) -> ElfFacts:
    """Inflate the member whole into this thread's scratch mapping, check it, parse it."""
    with scratch(member.size, populate=True) as buffer:
        try:
            crc = inflate_into(archive.payload(member), buffer)
        except InflateError as e:
            raise WheelError(e.code, e.reason, member.name) from e
        if crc != member.crc:
            raise WheelError("crc-mismatch", "CRC-32 differs from the directory's", member.name)
        if digests is not None:
            from wheelscan.wheel.integrity import Digest

            digests[member.name] = Digest.of(buffer)
        return parse(buffer)


def _parse_large(
    archive: WheelArchive, member: Member, parse: PartialParser, strict: bool
) -> ElfFacts | None:
    """A member over WHOLE_MEMBER_LIMIT: by its two ends where that pays (issue #15: jaxlib's
    328 MB library holds PT_DYNAMIC 237 MB in, and streaming up to it was most of ``show``'s
    time), else, or where that reading fails, streamed from its start, which decides. Where
    its end is placed but its start's tables reach further than that reading may hold (an
    ``EndFound``), streamed with its end's bytes known: only as far as the tables."""
    if not strict:
        found = parse_by_ends(archive, member, parse)
        if isinstance(found, EndFound):
            # what the ends' reading fetched of it over HTTP goes, before the stream holds more
            archive.done_with(member)
            # its end placed: streamed to its start's tables only. The end may have been
            # decoded from a false start (wheel/ends.py): where the parser refuses what it
            # is then given, or the passes run out, the stream from its start decides
            with contextlib.suppress(ElfError):
                facts = _parse_stream(archive, member, parse, found.known)
                if facts is not None:
                    return facts
        elif found is not None:
            return found
        archive.done_with(member)
    return _parse_stream(archive, member, parse)


def _parse_stream(
    archive: WheelArchive,
    member: Member,
    parse: PartialParser,
    known: list[tuple[int, bytes]] | None = None,
) -> ElfFacts | None:
    """The facts from a streamed inflation (``known``: its end's bytes, placed by
    ``parse_by_ends``, emptied as the stream takes them); None after MAX_STREAM_PASSES
    passes."""
    # imported here: only a member over WHOLE_MEMBER_LIMIT whose ends did not settle it
    # is streamed (its records, compiled at import, were 1 ms of `show`'s start-up)
    from wheelscan.wheel.stream import StreamError, StreamStats, parse_streamed

    stats = StreamStats()

    def bounded(buffer: Buffer, available: Sequence[tuple[int, int]] | None = None, /) -> ElfFacts:
        if stats.passes > MAX_STREAM_PASSES:
            raise _TooManyPasses
        return parse(buffer, available)

    try:
        return parse_streamed(
            archive.streamed_payload(member), member.size, member.crc, bounded, stats=stats,
            known=known,
        )  # fmt: skip
    except StreamError as e:
        raise WheelError(e.code, e.reason, member.name) from e
    except _TooManyPasses:
        return None
