"""A simple index's first page read ahead (``SimpleIndexSource.prepare``, which the audit
calls before it starts its workers) fails, and lists, exactly as the listing would have
read it: a page that cannot be read fails ``wheels``, never ``prepare``, and a second
listing reads its pages again. On a real server on loopback, each request logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelscan.sources.base import SourceError
from wheelscan.sources.simple_index import SimpleIndexSource
from wheelscan.wheel.httpclient import HttpSession

from indexserver import IndexServer
from mirror import listed_only_index


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IndexServer]:
    listed_only_index(tmp_path / "simple", 3)  # p000, p001, p002
    # p000's page is no JSON: it cannot be read, and costs its project only
    (tmp_path / "simple" / "p000" / "index.v1_json").write_text("{not json")
    with IndexServer(tmp_path) as running:
        yield running


def _pages_asked(server: IndexServer) -> list[str]:
    return [served.path for served in server.log if served.path.startswith("/simple/")]


def test_an_index_page_that_cannot_be_read_fails_the_listing_not_prepare(
    server: IndexServer,
) -> None:
    with HttpSession() as session:
        source = SimpleIndexSource(server.url + "/nowhere/", session=session)
        source.prepare()  # the 404 is kept for the listing
        with pytest.raises(SourceError, match="no simple index here"):
            list(source.wheels())


def test_the_first_project_page_read_ahead_fails_its_project_only(server: IndexServer) -> None:
    with HttpSession() as session:
        source = SimpleIndexSource(server.index_url, ["p000", "p001", "p002"], session=session)
        source.prepare()
        assert _pages_asked(server) == ["/simple/p000/"]  # read ahead, before any listing
        listed = []
        with pytest.raises(SourceError, match=r"p000.*not valid JSON") as failed:
            listed.extend(ref.project for ref in source.wheels())
    assert listed == ["p001", "p002"]  # the others listed and handed on before the error
    assert "every other project was listed" in str(failed.value)
    assert sorted(_pages_asked(server)) == ["/simple/p000/", "/simple/p001/", "/simple/p002/"]


def test_a_page_read_ahead_serves_one_listing_and_the_next_reads_it_again(
    server: IndexServer,
) -> None:
    with HttpSession() as session:
        source = SimpleIndexSource(server.index_url, ["p001", "p002"], session=session)
        source.prepare()
        first = [ref.filename for ref in source.wheels()]
        second = [ref.filename for ref in source.wheels()]
        index = SimpleIndexSource(server.index_url, session=session)
        index.prepare()
        with pytest.raises(SourceError, match="p000"):
            list(index.wheels())
    assert first == second == [f"p00{i}-1.0-cp312-cp312-manylinux_2_17_x86_64.whl" for i in (1, 2)]
    asked = _pages_asked(server)
    # each listing's pages once, the one read ahead included; the index's own page once
    assert sorted(asked[:4]) == ["/simple/p001/", "/simple/p001/", "/simple/p002/", "/simple/p002/"]
    assert asked[4:].count("/simple/") == 1
