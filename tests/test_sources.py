"""The sources of ``wheelscan audit``: a directory, a bandersnatch mirror, a simple index over HTTP.

One mirror is built from the real-wheel corpus plus wheels built here (Linux ones with an ELF
member, and pure / Windows / macOS ones that must be skipped unopened); the three sources must
list the same Linux wheels with the same sha256.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wheelscan.engine.worker import read_facts
from wheelscan.sources import (
    BandersnatchSource,
    DirectorySource,
    SimpleIndexSource,
    SourceError,
    WheelRef,
    make_source,
)
from wheelscan.wheel.contents import read_wheel_facts
from wheelscan.wheel.http import HttpSession, open_remote_archive

from elfwriter import build_elf, sample_spec
from indexserver import IndexServer
from mirror import Mirror, build_mirror
from wheelbuilder import build_wheel

EXT = "demo/_mod.cpython-312-{}-linux-gnu.so"
LINUX_BUILT = {
    "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl": "x86_64",
    "demo-1.0-cp312-cp312-manylinux_2_17_aarch64.whl": "aarch64",
    "demo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl": "x86_64",
}
NOT_LINUX = [
    "purelib-1.0-py3-none-any.whl",
    "winonly-1.0-cp312-cp312-win_amd64.whl",
    "maconly-1.0-cp312-cp312-macosx_11_0_arm64.whl",
]
BUILT_UPLOAD = datetime(2025, 6, 1, tzinfo=UTC)  # the corpus wheels keep mirror.py's 2024 date


def built_wheels(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, machine in LINUX_BUILT.items():
        elf = build_elf(sample_spec(machine, interpreter=None))
        paths.append(directory / filename)
        paths[-1].write_bytes(build_wheel({EXT.format(machine): elf}))
    for filename in NOT_LINUX:
        paths.append(directory / filename)
        paths[-1].write_bytes(
            build_wheel({"mod.py": b"print('hello')\n"}, name=filename.split("-")[0])
        )
    return paths


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, real_wheels: list[Path]) -> Mirror:
    built = built_wheels(tmp_path_factory.mktemp("built"))
    return build_mirror(
        tmp_path_factory.mktemp("mirror"),
        [*real_wheels, *built],
        {p.name: BUILT_UPLOAD for p in built},
    )


@pytest.fixture(scope="module")
def server(mirror: Mirror) -> Iterator[IndexServer]:
    with IndexServer(mirror.web) as running:
        yield running


@pytest.fixture(scope="module")
def session() -> Iterator[HttpSession]:
    with HttpSession(backoff=0) as client:
        yield client


@pytest.fixture()
def index(server: IndexServer) -> IndexServer:
    server.clear()
    return server


@pytest.fixture(scope="module")
def linux_names(real_wheels: list[Path]) -> set[str]:
    return {p.name for p in real_wheels} | set(LINUX_BUILT)


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def by_name(refs: Iterator[WheelRef]) -> dict[str, WheelRef]:
    listed = list(refs)
    named = {ref.filename: ref for ref in listed}
    assert len(named) == len(listed)
    return named


def test_three_sources_list_the_same_linux_wheels(
    session: HttpSession, mirror: Mirror, index: IndexServer, linux_names: set[str]
) -> None:
    directory = by_name(make_source(str(mirror.web / "packages")).wheels())
    bandersnatch = by_name(make_source(str(mirror.root)).wheels())
    simple = by_name(make_source(index.index_url, session=session).wheels())
    expected = {name: mirror.sha256[name] for name in linux_names}
    assert {n: sha256_of(r.location) for n, r in directory.items()} == expected
    assert {n: r.sha256 for n, r in bandersnatch.items()} == expected
    assert {n: r.sha256 for n, r in simple.items()} == expected
    for name in expected:
        refs = (directory[name], bandersnatch[name], simple[name])
        assert len({(r.project, r.version, r.size) for r in refs}) == 1
        assert directory[name].location == bandersnatch[name].location == str(mirror.files[name])
        assert simple[name].location == index.file_url(mirror.files[name])
        assert bandersnatch[name].upload_time == simple[name].upload_time is not None
        assert directory[name].upload_time is None
    # the directory source's order is the tree's sorted walk, the same on every run
    assert list(directory) == list(by_name(make_source(str(mirror.web / "packages")).wheels()))


def test_pure_and_foreign_wheels_are_never_fetched(
    session: HttpSession, index: IndexServer
) -> None:
    source = make_source(
        index.index_url, session=session, projects=["demo", "purelib", "winonly", "maconly"]
    )
    refs = list(source.wheels())
    assert not [s for s in index.log if s.path.startswith("/packages/")]  # listing reads pages
    assert {r.filename for r in refs} == set(LINUX_BUILT)
    for ref in refs:
        with open_remote_archive(ref.location, ref.size, session=session) as archive:
            assert read_wheel_facts(archive, ref.filename).examined
    assert all(index.served(name) for name in LINUX_BUILT)
    assert not any(index.served(name) for name in NOT_LINUX)


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path opened through ``open`` / ``io.open`` / ``os.open`` while the test runs."""
    paths: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        paths.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else "")
        return real_open(file, *args, **kwargs)

    def os_spy(path: Any, *args: Any, **kwargs: Any) -> int:
        paths.append(os.fspath(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    return paths


@pytest.mark.parametrize("where", ["directory", "bandersnatch"])
def test_local_sources_never_open_pure_or_foreign_wheels(
    mirror: Mirror, opened: list[str], where: str
) -> None:
    spec = str(mirror.web / "packages") if where == "directory" else str(mirror.root)
    source = make_source(spec, session=session, projects=["demo", "purelib", "winonly", "maconly"])
    for ref in source.wheels():
        assert read_facts(Path(ref.location), ref.filename).examined
    names = {Path(p).name for p in opened}
    assert set(LINUX_BUILT) <= names and not names & set(NOT_LINUX)


def test_project_filter_reads_only_the_named_pages(
    session: HttpSession, mirror: Mirror, index: IndexServer
) -> None:
    markupsafe = {n for n in mirror.files if n.lower().startswith("markupsafe-")}
    assert len(markupsafe) > 2
    for spec in (str(mirror.web / "packages"), str(mirror.root), index.index_url):
        refs = by_name(make_source(spec, session=session, projects=["MarkupSafe"]).wheels())
        assert set(refs) == markupsafe
    assert {s.path for s in index.log} == {"/simple/markupsafe/"}


def test_arch_filter(
    session: HttpSession, mirror: Mirror, index: IndexServer, linux_names: set[str]
) -> None:
    aarch64 = {n for n in linux_names if "_aarch64" in n}
    x86_64 = {n for n in linux_names if "_x86_64" in n}
    assert aarch64 and x86_64
    for spec in (str(mirror.root), index.index_url):
        arm = make_source(spec, session=session, architectures=["aarch64"])
        assert set(by_name(arm.wheels())) == aarch64
        # an ISA level names the architecture its wheels are tagged with
        v3 = make_source(spec, session=session, architectures=["x86_64_v3"])
        assert set(by_name(v3.wheels())) == x86_64
    with pytest.raises(SourceError, match="unknown architecture"):
        make_source(str(mirror.root), architectures=["amd64"])


def test_since_filter_keeps_wheels_without_an_upload_time(
    session: HttpSession, mirror: Mirror, index: IndexServer, linux_names: set[str]
) -> None:
    for spec in (str(mirror.root), index.index_url):
        recent = make_source(spec, session=session, since="2025-01-01")
        assert set(by_name(recent.wheels())) == set(LINUX_BUILT)
        late = make_source(spec, session=session, since=datetime(2025, 6, 1, 0, 0, 1, tzinfo=UTC))
        assert not list(late.wheels())
    # a directory knows no upload times: --since passes everything
    directory = make_source(str(mirror.web / "packages"), since="2025-01-01")
    assert set(by_name(directory.wheels())) == linux_names


def test_html_only_mirror(session: HttpSession, tmp_path: Path) -> None:
    built = built_wheels(tmp_path / "built")
    html_mirror = build_mirror(tmp_path / "mirror", built, json_pages=False)
    expected = {n: html_mirror.sha256[n] for n in LINUX_BUILT}
    with IndexServer(html_mirror.web) as server:
        listed = make_source(server.index_url, session=session, since="2030-01-01")
        simple = by_name(listed.wheels())
    bandersnatch = by_name(make_source(str(html_mirror.root), since="2030-01-01").wheels())
    for refs in (simple, bandersnatch):
        assert {n: r.sha256 for n, r in refs.items()} == expected
        assert all(r.upload_time is None for r in refs.values())
    assert all(simple[n].size is None for n in expected)  # PEP 503 pages carry no size
    assert all(bandersnatch[n].size == html_mirror.files[n].stat().st_size for n in expected)


def test_diff_file_selects_only_the_listed_wheels(
    mirror: Mirror, tmp_path: Path, real_wheels: list[Path]
) -> None:
    real = real_wheels[0].name
    built = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    # a file the sync wrote whose page is not there yet: still audited
    stray_dir = mirror.web / "packages" / "zz" / "zz" / "stray"
    stray_dir.mkdir(parents=True, exist_ok=True)
    stray = stray_dir / "stray-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    shutil.copyfile(mirror.files[built], stray)
    diff = tmp_path / "mirrored-files"
    diff.write_text(
        "\n".join(
            [
                str(mirror.files[real]),  # absolute
                str(mirror.files[built].relative_to(mirror.root)),  # relative to the mirror's root
                str(mirror.web / "simple" / "demo" / "index.html"),  # pages are listed too
                str(mirror.files["purelib-1.0-py3-none-any.whl"]),  # not a Linux wheel
                str(stray),
                "",
            ]
        )
    )
    try:
        refs = by_name(make_source(str(mirror.root), diff_file=diff).wheels())
    finally:
        shutil.rmtree(mirror.web / "packages" / "zz")
    assert set(refs) == {real, built, stray.name}
    assert refs[real].sha256 == mirror.sha256[real] and refs[built].sha256 == mirror.sha256[built]
    assert refs[stray.name].sha256 is None and refs[stray.name].location == str(stray)
    only_demo = make_source(str(mirror.root), diff_file=diff, projects=["demo"])
    assert {r.filename for r in only_demo.wheels()} == {built}


def test_hash_index_and_root_uri_layouts(tmp_path: Path) -> None:
    built = built_wheels(tmp_path / "built")
    hashed = build_mirror(tmp_path / "mirror", built)
    simple = hashed.web / "simple"
    for page_dir in [d for d in simple.iterdir() if d.is_dir()]:
        target = simple / page_dir.name[0] / page_dir.name
        target.parent.mkdir(exist_ok=True)
        page_dir.rename(target)
        for page in target.iterdir():  # one level deeper; and absolute links (root_uri)
            text = page.read_text().replace("../../packages/", "http://127.0.0.1:9/packages/")
            page.write_text(text)
    refs = by_name(BandersnatchSource(hashed.root).wheels())
    assert {n: r.location for n, r in refs.items()} == {n: str(p) for n, p in hashed.files.items()}
    demo = by_name(BandersnatchSource(hashed.root, projects=["demo"]).wheels())
    assert set(demo) == set(LINUX_BUILT)


def test_page_links_outside_the_mirror_are_skipped(tmp_path: Path) -> None:
    built = built_wheels(tmp_path / "built")
    escaped = build_mirror(tmp_path / "mirror", built[:1])
    page = next((escaped.web / "simple").glob("*/index.v1_json"))
    page.write_text(page.read_text().replace("../../packages/", "../../../../packages/"))
    assert not list(BandersnatchSource(escaped.root).wheels())


def test_make_source_picks_the_adapter(mirror: Mirror, tmp_path: Path) -> None:
    assert isinstance(make_source(str(mirror.root)).source, BandersnatchSource)
    assert isinstance(make_source(str(tmp_path)).source, DirectorySource)
    assert isinstance(make_source("http://127.0.0.1:9/simple").source, SimpleIndexSource)
    with pytest.raises(SourceError, match="no such directory"):
        make_source(str(tmp_path / "missing"))
    with pytest.raises(SourceError, match="diff-file"):
        make_source(str(tmp_path), diff_file=tmp_path / "x")
    with pytest.raises(SourceError, match="not a bandersnatch mirror"):
        BandersnatchSource(tmp_path)


def test_directory_source_skips_files_that_are_not_wheels(tmp_path: Path) -> None:
    built_wheels(tmp_path / "b" / "nested")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "not-a-wheel.whl").write_bytes(b"")
    (tmp_path / "a" / "readme.txt").write_bytes(b"")
    os.symlink(tmp_path, tmp_path / "b" / "loop")  # not followed
    refs = list(DirectorySource(tmp_path).wheels())
    assert [r.filename for r in refs] == sorted([*LINUX_BUILT, *NOT_LINUX])
    assert refs == list(DirectorySource(tmp_path).wheels())


def test_index_errors(session: HttpSession, index: IndexServer) -> None:
    missing = make_source(index.index_url, session=session, projects=["no-such-project"])
    assert not list(missing.wheels())  # a 404 page: no wheels, a warning
    index.always_fail = True
    try:
        with pytest.raises(SourceError, match="HTTP 500"):
            list(SimpleIndexSource(index.index_url, session=session).wheels())
    finally:
        index.always_fail = False
    with pytest.raises(SourceError, match="404"):
        list(SimpleIndexSource(index.url + "/nothing/", session=session).wheels())


def test_a_private_index_with_credentials_in_its_url(
    session: HttpSession, index: IndexServer
) -> None:
    index.credentials = "reader:s3cret/with@odd:chars"
    try:
        with pytest.raises(SourceError, match="HTTP 401"):
            list(make_source(index.index_url, session=session).wheels())
        private = index.index_url.replace("//", "//reader:s3cret%2Fwith%40odd%3Achars@", 1)
        refs = list(make_source(private, projects=["demo"], session=session).wheels())
        assert {r.filename for r in refs} == set(LINUX_BUILT)
        with open_remote_archive(refs[0].location, refs[0].size, session=session) as archive:
            assert read_wheel_facts(archive, refs[0].filename).examined
    finally:
        index.credentials = None
