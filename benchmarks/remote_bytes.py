"""Where a remote audit's fetched bytes go: each byte fetched, by the part of the wheel it
belongs to and the way that part was read (issue #15's bytes target).

Every corpus wheel is served on 127.0.0.1 (tests/indexserver.py, Range honoured) and read
as an audit's worker reads it (``engine/task.py``: ``RemoteWheelArchive``, then
``read_wheel_facts``), in this process, one wheel at a time. Each answer's bytes are placed
in the zip's layout (the central directory and what follows; each member's local header and
data; bytes before the first member) and each member is labelled by the reading that gave
its facts (whole under ``PREFIX_FROM``, a prefix, its two ends, whole after those failed,
streamed, stored), or as a member fetched that is no ELF file, or one never asked for whose
bytes came with a neighbour's (spans merged ``GAP_TOLERANCE`` apart). Each byte is also
counted by the step that asked for it: the tail on opening, the plan (``plan``), the planned
parts (``_planned_parts``), or the reading itself (extensions and fallbacks).

    PYTHONPATH=$PWD/src python benchmarks/remote_bytes.py [--corpus tests/corpus/wheels.json]
                                                          [--members 20]

``--members N``: the N members that cost the most bytes, with what each one's reading
needed (the compressed bytes that inflate as far as its prefix was inflated). ``--check``:
each wheel's facts compared with the local file's, every member of it inflated whole.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tests.corpus.fetch import fetch, load_entries  # noqa: E402

from wheelscan.wheel import contents, http, http_ranges  # noqa: E402
from wheelscan.wheel.archive import Member, WheelArchive  # noqa: E402
from wheelscan.wheel.ends import EndFound  # noqa: E402

from indexserver import IndexServer  # noqa: E402

STEPS = ("tail", "plan", "planned", "reading")
WHOLE_WHEEL = "wheel whole (one GET)"
TAIL = "central directory + tail"
BEFORE = "before the first member"
NEVER_ASKED = "members never asked for (merged gaps)"
NOT_ELF = "fetched, no ELF file (RECORD...)"
# the reading that gave a member's facts (contents.py's functions), by the function's name
ROUTES = {
    "_parse_prefix": "ELF by a prefix",
    "parse_by_ends": "ELF by its two ends",
    "_parse_stream": "ELF streamed (> 64 MiB)",
    "_parse_read": "ELF stored / read",
}


@dataclass
class Tally:
    members: int = 0
    compressed: int = 0  # the members' compressed bytes (what reading them whole would fetch)
    needed: int = 0  # prefixes only: compressed bytes that inflate as far as was inflated
    by_step: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def fetched(self) -> int:
        return sum(self.by_step.values())


class _State:
    """What the reading of the wheel at hand noted (one wheel at a time, one thread)."""

    step = "tail"
    routes: ClassVar[dict[int, str]] = {}  # header offset -> route label
    inflated: ClassVar[dict[int, int]] = {}  # header offset -> bytes of its start inflated
    answers: ClassVar[list[tuple[int, int, str]]] = []  # (start, length, step)
    differing = 0  # wheels whose facts differ from the local file's (``--check``)


class TracingReader(http_ranges.HttpRangeReader):
    """An ``HttpRangeReader`` that notes where each answer's bytes start, and for which step."""

    def prefetch(self, spans: Any) -> None:
        _State.step = "plan" if _State.step == "tail" else "planned"
        super().prefetch(spans)

    def _checked(self, response: Any, keep: bool) -> tuple[int, bytes]:
        start, body = super()._checked(response, keep)
        _State.answers.append((start, len(body), _State.step))
        return start, body


def _tracing_parts(function: Callable[..., Any]) -> Callable[..., Any]:
    """``split_parts`` noting each part of an answer to several ranges: those answers are
    not taken by ``_checked``."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        parts, size = function(*args, **kwargs)
        for (start, _), data in parts.items():
            _State.answers.append((start, len(data), _State.step))
        return parts, size

    return traced


def _routed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def traced(*args: Any, **kwargs: Any) -> Any:
        member = next(a for a in args if isinstance(a, Member))
        facts = function(*args, **kwargs)
        # an end placed whose start is then streamed (EndFound) is routed by that stream,
        # not as read by its ends: the stream may fail and leave the member to another
        if facts is not None and not isinstance(facts, EndFound):
            whole = (
                "ELF whole (< PREFIX_FROM)"
                if member.size < contents.PREFIX_FROM
                else ("ELF whole (reading in part failed or did not pay)")
            )
            _State.routes[member.header_offset] = ROUTES.get(name, whole)
        return facts

    return traced


def _tracing_starts(function: Callable[..., Iterator[memoryview]]) -> Callable[..., Any]:
    def traced(self: Any, member: Member, inflated: int) -> Iterator[memoryview]:
        _State.inflated[member.header_offset] = inflated
        yield from function(self, member, inflated)

    return traced


def _install_tracing() -> None:
    for name in ("_parse_prefix", "parse_by_ends", "_parse_stream", "_parse_read", "_parse_whole"):
        setattr(contents, name, _routed(name, getattr(contents, name)))
    if hasattr(http, "split_parts"):  # (a tree from before ranges were asked together)
        http.split_parts = _tracing_parts(http.split_parts)
    http.RemoteWheelArchive.payload_starts = _tracing_starts(  # type: ignore[method-assign]
        http.RemoteWheelArchive.payload_starts
    )


def _needed(payload: bytes, inflated: int) -> int:
    """The compressed bytes (to the KiB) that inflate ``inflated`` bytes of a stream."""
    inflater, out, used = zlib.decompressobj(-15), 0, 0
    while out < inflated and used < len(payload):
        out += len(inflater.decompress(payload[used : used + 1024], inflated - out))
        used += 1024
    return min(used, len(payload))


def attribute(
    path: Path,
    url: str,
    tallies: dict[str, Tally],
    costly: list[tuple[int, str, str, Tally]],
    check: bool = False,
) -> tuple[int, int]:
    """Read one wheel as a worker does; add its bytes to ``tallies``. Returns (bytes fetched,
    requests)."""
    _State.step, _State.routes, _State.inflated, _State.answers = "tail", {}, {}, []
    size = path.stat().st_size
    reader = TracingReader(url, size)
    with http.RemoteWheelArchive(reader) as archive:
        _State.step = "reading"
        cd_offset = archive._end_record().cd_offset
        facts = contents.read_wheel_facts(archive, path.name)
        members = sorted(archive.members, key=lambda m: m.header_offset)
    routes, inflated = _State.routes, _State.inflated
    if check:
        os.environ[contents.VERIFY_ENV] = "1"  # the local file, every member inflated whole
        _State.routes, _State.inflated = {}, {}
        try:
            with WheelArchive.open(path) as local:
                if contents.read_wheel_facts(local, path.name) != facts:
                    print(f"{path.name}: facts differ from the local file's", file=sys.stderr)
                    _State.differing += 1
        finally:
            del os.environ[contents.VERIFY_ENV]
    if size <= http_ranges.WHOLE_BELOW:
        tally = tallies[WHOLE_WHEEL]
        tally.members += 1
        tally.compressed += size
        tally.by_step["tail"] += size
        return reader.bytes_fetched, reader.requests
    offsets = [m.header_offset for m in members]
    per_member: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for start, length, step in _State.answers:
        position, end = start, start + length
        while position < end:
            if position >= cd_offset:
                tallies[TAIL].by_step[step] += end - position
                break
            i = bisect.bisect_right(offsets, position) - 1
            if i < 0:
                stop = min(end, offsets[0] if offsets else cd_offset)
                tallies[BEFORE].by_step[step] += stop - position
            else:
                stop = min(end, offsets[i + 1] if i + 1 < len(offsets) else cd_offset)
                per_member[offsets[i]][step] += stop - position
            position = stop
    data = path.read_bytes()
    for member in members:
        counted = per_member.get(member.header_offset)
        if counted is None:
            continue
        route = routes.get(member.header_offset)
        if route is None:
            asked = http.is_record(member.name) or http.may_be_elf(member.name)
            route = NOT_ELF if asked else NEVER_ASKED
        tally = tallies[route]
        tally.members += 1
        tally.compressed += member.compressed_size
        tally.by_step.update(counted)
        one = Tally(1, member.compressed_size, 0, counted)
        if route == ROUTES["_parse_prefix"]:
            begin = archive.data_offset(member)
            payload = data[begin : begin + member.compressed_size]
            one.needed = _needed(payload, inflated[member.header_offset])
            tally.needed += one.needed
        costly.append((one.fetched, path.name, f"{member.name} [{route}]", one))
    return reader.bytes_fetched, reader.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus" / "wheels.json")
    parser.add_argument("--members", type=int, default=0, help="list the N costliest members")
    parser.add_argument(
        "--check", action="store_true",
        help="compare each wheel's facts with the local file's, every member inflated whole",
    )  # fmt: skip
    args = parser.parse_args()
    _install_tracing()
    wheels = fetch(load_entries(args.corpus))
    tallies: dict[str, Tally] = collections.defaultdict(Tally)
    costly: list[tuple[int, str, str, Tally]] = []
    fetched = requests = wheel_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        web = Path(tmp)
        (web / "packages").mkdir()
        for path in wheels:
            (web / "packages" / path.name).symlink_to(path)
        with IndexServer(web) as server:
            for path in dict.fromkeys(wheels):
                url = f"{server.url}/packages/{path.name}"
                got, asked = attribute(path, url, tallies, costly, args.check)
                fetched, requests = fetched + got, requests + asked
                wheel_bytes += path.stat().st_size
    count = len(dict.fromkeys(wheels))
    print(f"{count} wheels, {wheel_bytes / 1e6:.1f} MB; fetched {fetched / 1e6:.1f} MB "
          f"({fetched / wheel_bytes:.1%}) in {requests / count:.2f} requests a wheel")  # fmt: skip
    print(f"{'part':50} {'members':>7} {'compr MB':>9} {'fetched':>8} {'of all':>7} "
          f"{'needed':>7} " + " ".join(f"{s:>8}" for s in STEPS))  # fmt: skip
    for label, tally in sorted(tallies.items(), key=lambda item: -item[1].fetched):
        needed = f"{tally.needed / 1e6:7.2f}" if tally.needed else " " * 7
        print(f"{label:50} {tally.members:7} {tally.compressed / 1e6:9.2f} "
              f"{tally.fetched / 1e6:8.2f} {tally.fetched / wheel_bytes:7.1%} {needed} "
              + " ".join(f"{tally.by_step[s] / 1e6:8.2f}" for s in STEPS))  # fmt: skip
    print("(MB; 'of all': share of the wheel bytes; 'needed': compressed bytes that inflate "
          "as far as the prefix was)")  # fmt: skip
    if args.check:
        print(f"facts differing from the local files': {_State.differing} wheels")
    for got, wheel, name, one in sorted(costly, key=lambda c: -c[0])[: args.members]:
        needed = f" needed {one.needed / 1e6:.2f}" if one.needed else ""
        print(f"{got / 1e6:7.2f} of {one.compressed / 1e6:7.2f} MB{needed} "
              f"{dict(one.by_step)} {wheel} {name}")  # fmt: skip


if __name__ == "__main__":
    main()
