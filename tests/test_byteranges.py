"""Several ranges of a wheel asked for in one request (wheel/byteranges.py), against a real
server on 127.0.0.1 answering them every way a server may, honest or not.

An honest answer (the parts, the whole file, one range, a refusal) gives the facts of a local
read; a hostile one (parts under another boundary, outside what was asked, twice, with huge
headers, cut) gives the wheel a ``download-failed`` record, never a crash, never a mix.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.engine.worker import read_facts
from wheelscan.sources.base import WheelRef
from wheelscan.wheel import httpclient
from wheelscan.wheel.archive import WheelError
from wheelscan.wheel.byteranges import MultipartError, range_header, split_parts
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive
from wheelscan.wheel.http_ranges import HttpRangeReader

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from mirror import Mirror, build_mirror
from wheelbuilder import build_wheel

ELF = build_elf(sample_spec("x86_64", interpreter=None))
SPREAD = "spread-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
OTHER = "other-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
GAPPED = "gapped-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
HOSTILE = ("wrong-boundary", "outside", "twice", "huge-headers", "cut")


def spread_wheel(name: str) -> bytes:
    """Three ELF members, each behind 200 KB of data no audit reads: after the tail (which
    holds the last), two spans to fetch."""
    noise = random.Random(name).randbytes
    files: dict[str, bytes] = {}
    for i in range(3):
        files[f"demo/data{i}.txt"] = noise(200_000)
        files[f"demo/_mod{i}.cpython-312-x86_64-linux-gnu.so"] = ELF
    return build_wheel(files, name=name.split("-", maxsplit=1)[0], compression=zipfile.ZIP_STORED)


def gapped_wheel() -> bytes:
    """Two ELF members 30 KB apart, far from the tail: asked for together, the 30 KB
    between them are not fetched; one range a request, fetching them saves a round trip."""
    noise = random.Random(2).randbytes
    files = {
        "demo/_mod0.cpython-312-x86_64-linux-gnu.so": ELF,
        "demo/between.txt": noise(30_000),
        "demo/_mod1.cpython-312-x86_64-linux-gnu.so": ELF,
        "demo/zz_after.txt": noise(300_000),
    }
    return build_wheel(files, name="gapped", compression=zipfile.ZIP_STORED)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    built = tmp_path_factory.mktemp("built")
    for name in (SPREAD, OTHER):
        (built / name).write_bytes(spread_wheel(name))
    (built / GAPPED).write_bytes(gapped_wheel())
    wheels = [built / SPREAD, built / OTHER, built / GAPPED]
    return build_mirror(tmp_path_factory.mktemp("mirror"), wheels)


@pytest.fixture(scope="module")
def server(mirror: Mirror) -> Iterator[IndexServer]:
    with IndexServer(mirror.web) as running:
        yield running


@pytest.fixture()
def index(server: IndexServer) -> Iterator[IndexServer]:
    server.clear()
    yield server
    server.several_ranges = "parts"


@pytest.fixture()
def session() -> Iterator[HttpSession]:
    with HttpSession(backoff=0.01) as client:
        yield client


def read_remote(
    index: IndexServer, mirror: Mirror, name: str, session: HttpSession
) -> tuple[object, HttpRangeReader]:
    path = mirror.files[name]
    url = index.file_url(path)
    with open_remote_archive(url, path.stat().st_size, session=session, whole_below=0) as a:
        assert isinstance(a.reader, HttpRangeReader)
        return read_wheel_facts(a, name), a.reader


@pytest.mark.parametrize(
    ("answer", "requests"),
    [
        ("parts", 2),  # the tail, both spans together
        ("whole", 4),  # the tail, the whole file refused unread, then each span alone
        ("first", 3),  # the tail, the first span alone, then the second
        ("refuse", 4),  # the tail, the refusal, then each span alone
    ],
)
def test_every_honest_answer_gives_the_local_facts(
    mirror: Mirror, index: IndexServer, session: HttpSession, answer: str, requests: int
) -> None:
    index.several_ranges = answer
    facts, reader = read_remote(index, mirror, SPREAD, session)
    assert facts == read_facts(mirror.files[SPREAD], SPREAD)
    assert reader.requests == requests
    # a whole file sent instead of the parts is refused unread
    assert reader.bytes_fetched < reader.size / 2
    assert session.ranges_together(index.url) is (answer == "parts")
    # a server that answered otherwise is asked for one range a request from then on
    index.clear()
    facts, reader = read_remote(index, mirror, OTHER, session)
    assert facts == read_facts(mirror.files[OTHER], OTHER)
    several = [s.range for s in index.log if s.range and "," in s.range]
    assert len(several) == (1 if answer == "parts" else 0)


def test_ranges_asked_for_together_leave_the_bytes_between_them(
    mirror: Mirror, index: IndexServer
) -> None:
    served = {}
    for answer in ("parts", "first"):
        index.several_ranges = answer
        index.clear()
        with HttpSession() as session:
            if answer == "first":  # known to answer one range a request
                session.answered_ranges_together(index.url, False)
            facts, reader = read_remote(index, mirror, GAPPED, session)
        assert facts == read_facts(mirror.files[GAPPED], GAPPED)
        assert reader.requests == 2  # the tail, then both members: together, or merged
        served[answer] = index.bytes_served
    assert served["first"] - served["parts"] > 25_000


@pytest.mark.parametrize("answer", HOSTILE)
def test_a_hostile_answer_is_download_failed(
    mirror: Mirror, index: IndexServer, session: HttpSession, answer: str
) -> None:
    index.several_ranges = answer
    with pytest.raises(WheelError) as failure:
        read_remote(index, mirror, SPREAD, session)
    assert failure.value.code == "download-failed"


def test_a_hostile_answer_costs_its_wheels_a_record_each_in_a_batch(
    mirror: Mirror, index: IndexServer, session: HttpSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the worker pool (its wheels read at once): each wheel gets one record,
    ``download-failed``, and nothing else is lost; the same server honest again, the same
    batch gives the local facts."""
    monkeypatch.setattr(httpclient, "default_session", lambda timeout: session)  # forked
    refs = [
        WheelRef(name, name.split("-")[0], "1.0", index.file_url(mirror.files[name]),
                 sha256=hashlib.sha256(mirror.files[name].read_bytes()).hexdigest(),
                 size=mirror.files[name].stat().st_size)
        for name in (SPREAD, OTHER)
    ]  # fmt: skip
    index.several_ranges = "twice"
    results = list(LocalPool(AuditTask(), 1, timeout=30).results(refs))
    assert sorted(r.ref.filename for r in results) == sorted([SPREAD, OTHER])
    for result in results:
        assert result.verdict.code == "download-failed"  # type: ignore[union-attr]
        assert "not one asked for" in result.verdict.reason  # type: ignore[union-attr]
    index.several_ranges = "parts"
    for result in LocalPool(AuditTask(), 1, timeout=30).results(refs):
        name = result.ref.filename
        assert result.facts == read_facts(mirror.files[name], name)


# --- the parser alone, on bodies no server sends


def body(*parts: tuple[int, int, bytes], boundary: str = "B", size: int = 100) -> bytes:
    out = b""
    for start, end, data in parts:
        out += f"\r\n--{boundary}\r\nContent-Range: bytes {start}-{end - 1}/{size}\r\n\r\n".encode()
        out += data
    return out + f"\r\n--{boundary}--\r\n".encode()


def test_the_parts_are_taken_by_the_spans_asked_for() -> None:
    asked = [(0, 4), (10, 13)]
    assert range_header(asked) == "bytes=0-3,10-12"
    answer = body((10, 13, b"xyz"), (0, 4, b"abcd"))
    parts, size = split_parts(answer, b"B", asked)
    assert parts == {(0, 4): b"abcd", (10, 13): b"xyz"}
    assert size == 100
    # views of the answer, not copies of its bytes
    assert all(isinstance(part, memoryview) and part.obj is answer for part in parts.values())
    # a span left out is the caller's to fetch alone
    assert split_parts(body((0, 4, b"abcd")), b"B", asked)[0] == {(0, 4): b"abcd"}


@pytest.mark.parametrize(
    "answer",
    [
        body((0, 4, b"abcd"), boundary="C"),  # another boundary than announced
        body((0, 5, b"abcde")),  # more than asked
        body((1, 4, b"bcd")),  # less than asked, inside it
        body((0, 4, b"abcd"), (0, 4, b"abcd")),  # twice
        body((0, 4, b"abc")),  # shorter than its range says
        body((0, 4, b"abcdef")),  # longer
        body((0, 4, b"abcd"))[:-7] + body((10, 13, b"xyz"), size=101),  # two sizes of the file
        body((0, 4, b"abcd"))[:-30],  # cut before its end
        b"x" * 2000 + body((0, 4, b"abcd")),  # a preamble past the bound
        b"\r\n--B\r\nX: " + b"y" * 5000 + b"\r\nContent-Range: bytes 0-3/100\r\n\r\nabcd\r\n--B--",
    ],
)
def test_an_unsound_body_is_refused_whole(answer: bytes) -> None:
    with pytest.raises(MultipartError):
        split_parts(answer, b"B", [(0, 4), (10, 13)])


def _tail_read(
    index: IndexServer, mirror: Mirror, session: HttpSession, name: str
) -> tuple[HttpRangeReader, Path]:
    """A reader of a copy of SPREAD named ``name`` that has read its tail (so the server is
    known to honour Range), and the copy's path."""
    source = mirror.files[SPREAD]
    copy = source.with_name(name)
    copy.write_bytes(source.read_bytes())
    reader = HttpRangeReader(index.file_url(copy), copy.stat().st_size, session, whole_below=0)
    reader.read_at(reader.size - 1000, 1000)
    assert reader.ranges_honoured
    return reader, copy


def test_a_file_gone_says_nothing_of_the_server_s_ranges(
    mirror: Mirror, index: IndexServer, session: HttpSession
) -> None:
    """A 404 to ranges asked together (the file deleted, a signed URL expired) is the
    file's failure, not the server's way with ranges: the next wheel asks together again."""
    reader, copy = _tail_read(index, mirror, session, "gone-1.0-py3-none-any.whl")
    copy.unlink()
    with pytest.raises(WheelError, match="HTTP 404"):
        reader.prefetch([(100_000, 110_000), (300_000, 320_000)])
    assert session.ranges_together(index.url) is None


def test_a_file_that_shrank_says_nothing_of_the_server_s_ranges(
    mirror: Mirror, index: IndexServer, session: HttpSession
) -> None:
    """A 416 to ranges asked together may be a server refusing them (the first span is
    then asked alone: see "refuse" above) or a file that shrank: then the span alone is
    refused too, the wheel fails, and the server is still asked for ranges together."""
    reader, copy = _tail_read(index, mirror, session, "shrank-1.0-py3-none-any.whl")
    copy.write_bytes(copy.read_bytes()[:50_000])
    with pytest.raises(WheelError, match="download-failed"):
        reader.prefetch([(100_000, 110_000), (300_000, 320_000)])
    assert session.ranges_together(index.url) is None
    copy.unlink()


def test_a_compressed_body_past_its_limit_is_refused_as_an_announced_one() -> None:
    """A whole file sent gzip-encoded in answer to several ranges inflates past what they
    may hold: BodyOverLimit, as for an announced length, so that the spans are asked for
    one at a time rather than the wheel failing."""
    body = gzip.compress(bytes(100_000))
    with pytest.raises(httpclient.BodyOverLimit):
        httpclient._decoded(iter([body]), "gzip", "http://127.0.0.1/x.whl", 10_000)
