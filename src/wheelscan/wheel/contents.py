"""What a verdict needs from a wheel: its name and the facts of its ELF members.

``WheelFacts`` is what gets stored: a verdict is derived from it and a policy alone, so a new
policy file re-judges every stored wheel without reading one again.
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass

from wheelscan.elf import ElfError, ElfFacts, get_parser, partial_parser
from wheelscan.wheel.archive import DEFLATED, Member, WheelArchive, WheelError
from wheelscan.wheel.dedupe import FactsCache
from wheelscan.wheel.stream import StreamError, StreamStats, parse_streamed

# Each pass over a member's deflate stream inflates it again from the start, keeping more of
# it (wheel/stream.py); a real member needs one pass, two when a table lies past what the first
# kept. A table walked word by word past the kept bytes (a hostile DT_GNU_HASH chain with no
# end) gains one output chunk per pass: 128 MiB of chain cost 33 passes and 4.3 GiB of
# inflation (49 s), a 2 GiB member hours. So after this many passes the member is inflated
# whole, once, within the member-size limit.
MAX_STREAM_PASSES = 3


class _TooManyPasses(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ElfMember:
    path: str  # the member's name in the archive
    facts: ElfFacts
    in_record: bool  # listed in RECORD and not *.py: auditwheel examines only these
    size: int = 0  # uncompressed bytes


@dataclass(frozen=True)
class WheelFacts:
    filename: str
    # every ELF member: examined ones in RECORD order first (auditwheel's order matters: the
    # first ELF fixes the architecture and libc), then the rest in archive order
    elf_files: tuple[ElfMember, ...]

    @property
    def examined(self) -> tuple[ElfMember, ...]:
        return tuple(m for m in self.elf_files if m.in_record)


def record_paths(archive: WheelArchive) -> list[str]:
    """Paths listed in ``<name>.dist-info/RECORD`` (PEP 376 / 427), in order."""
    records = [
        m
        for m in archive.members
        if m.name.endswith(".dist-info/RECORD") and m.name.count("/") == 1
    ]
    if len(records) != 1:
        raise WheelError("no-record", f"{len(records)} top-level .dist-info/RECORD files")
    text = bytes(archive.read(records[0])).decode("utf-8", "replace")
    try:
        return [row[0] for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as e:  # a field over csv's limit (128 KiB): pip could not read it either
        raise WheelError("bad-record", f"RECORD: {e}", records[0].name) from e


def unsafe_path(name: str) -> bool:
    """A member pip would refuse to install, or that two zip readers would name differently.

    pip refuses a member whose path leaves the target directory (an absolute name, a ``..``
    component); Python's zipfile cuts a name at its first NUL, so such a member would be
    installed under another name than the one audited.
    """
    return name.startswith("/") or "\0" in name or ".." in name.split("/")


def read_wheel_facts(
    archive: WheelArchive, filename: str, cache: FactsCache | None = None
) -> WheelFacts:
    """Parse every ELF member of ``archive``; raise WheelError for a member that is not sound.

    With a ``cache``, a member parsed before (the same compressed bytes) is not parsed again.
    """
    parse = get_parser()
    for member in archive.members:
        if unsafe_path(member.name):
            raise WheelError("unsafe-path", "a path outside the install directory", member.name)
    listed = {
        posixpath.normpath(p): i
        for i, p in enumerate(record_paths(archive))
        if not p.endswith(".py")
    }
    members: list[tuple[int, ElfMember]] = []
    for member in archive.elf_members():
        facts = _cached_parse(parse, archive, member, cache)
        rank = listed.get(posixpath.normpath(member.name))
        members.append(
            (
                rank if rank is not None else len(listed),
                ElfMember(member.name, facts, rank is not None, member.size),
            )
        )
    members.sort(key=lambda item: item[0])  # stable: unlisted ones keep archive order
    return WheelFacts(filename, tuple(m for _, m in members))


def _cached_parse(
    parse: object, archive: WheelArchive, member: Member, cache: FactsCache | None
) -> ElfFacts:
    if cache is None or member.method != DEFLATED:
        return _parse(parse, archive, member)  # a stored member is parsed in place: cheap
    archive.check_limits(member)
    key = cache.key(member, archive.payload(member))
    facts = cache.get(key)
    if facts is None:
        facts = _parse(parse, archive, member)
        cache.put(key, facts)
    return facts


def _parse(parse: object, archive: WheelArchive, member: Member) -> ElfFacts:
    partial = partial_parser()
    try:
        if member.method == DEFLATED and partial is not None:
            archive.check_limits(member)
            facts = _parse_stream(archive, member, *partial)
            if facts is not None:
                return facts
        content = archive.read(member)
        try:
            return parse(content)  # type: ignore[operator, no-any-return]
        finally:
            if isinstance(content, memoryview):
                content.release()
    except ElfError as e:
        raise WheelError(f"elf-{e.code}", e.reason, member.name) from e


def _parse_stream(
    archive: WheelArchive, member: Member, parse: object, need_bytes: type[Exception]
) -> ElfFacts | None:
    """The facts from a streamed inflation; None after MAX_STREAM_PASSES passes."""
    stats = StreamStats()

    def bounded(buffer: object, available: object) -> ElfFacts:
        if stats.passes > MAX_STREAM_PASSES:
            raise _TooManyPasses
        return parse(buffer, available)  # type: ignore[operator, no-any-return]

    try:
        return parse_streamed(
            archive.payload(member), member.size, member.crc, bounded, need_bytes, stats=stats
        )
    except StreamError as e:
        raise WheelError(e.code, e.reason, member.name) from e
    except _TooManyPasses:
        return None
