"""The real-wheel corpus is what it claims to be, and the index URL is chosen the way pip does."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelscan.engine.worker import read_facts
from wheelscan.sources import index_url

from corpus.fetch import CorpusError, fetch, load_entries, sha256_of

TESTS = Path(__file__).parent
CORPUS = load_entries(TESTS / "corpus" / "wheels.json")
BENCHMARK = load_entries(TESTS.parent / "benchmarks" / "corpus.json")

ARCHITECTURES = ("x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l", "riscv64")
_PLATFORM = re.compile(
    r"(?P<libc>manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)"
    r"_(?P<arch>.+)"
)
# PEP 600: the legacy aliases of manylinux_x_y.
_LEGACY = {
    "manylinux1": "manylinux_2_5",
    "manylinux2010": "manylinux_2_12",
    "manylinux2014": "manylinux_2_17",
}


def _tags(filename: str) -> set[tuple[str, str, str]]:
    """(interpreter/abi, libc tag, architecture) for every tag of a wheel filename."""
    tags = set()
    for tag in parse_wheel_filename(filename)[3]:
        match = _PLATFORM.fullmatch(tag.platform)
        assert match, f"{filename}: {tag.platform} is not a Linux platform tag"
        tags.add((f"{tag.interpreter}-{tag.abi}", match["libc"], match["arch"]))
    return tags


def _coverage(entries: list[dict[str, Any]]) -> dict[str, set[str]]:
    """libc tag -> architectures, plus arch -> filenames, over a corpus."""
    seen: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for abi, libc, arch in _tags(entry["filename"]):
            seen[libc].add(arch)
            seen[arch].add(entry["filename"])
            seen[f"{libc}_{arch}"].add(abi)
    return seen


# -- the pinned lists ----------------------------------------------------------------------------


@pytest.mark.parametrize("entries", [CORPUS, BENCHMARK], ids=["tests", "benchmarks"])
def test_entries_are_well_formed(entries: list[dict[str, Any]]) -> None:
    filenames = [entry["filename"] for entry in entries]
    assert len(filenames) == len(set(filenames)), "a wheel is pinned twice"
    for entry in entries:
        assert set(entry) == {"project", "version", "filename", "sha256", "size"}, entry
        name, version, _, _ = parse_wheel_filename(entry["filename"])
        assert name == canonicalize_name(entry["project"]), entry
        assert str(version) == entry["version"], entry
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), entry
        assert isinstance(entry["size"], int) and entry["size"] > 0, entry


def test_corpus_is_large_but_cheap() -> None:
    sizes = [entry["size"] for entry in CORPUS]
    assert len(sizes) >= 110
    assert sum(sizes) < 300e6, "CI downloads the whole corpus"
    assert sum(size < 3e6 for size in sizes) >= 0.85 * len(sizes), "most wheels stay small"


def test_corpus_covers_every_architecture_and_libc() -> None:
    seen = _coverage(CORPUS)
    for arch in ARCHITECTURES:
        assert len(seen[arch]) >= 5, f"only {len(seen[arch])} {arch} wheels"
    assert len(seen["musllinux_1_1"]) >= 4, seen["musllinux_1_1"]
    assert len(seen["musllinux_1_2"]) >= 6, seen["musllinux_1_2"]
    for libc in (
        "manylinux2010",
        "manylinux2014",
        "manylinux_2_28",
        "manylinux_2_31",
        "manylinux_2_34",
    ):
        assert seen[libc], f"no {libc} wheel"
    assert seen["linux"], "no wheel with a plain linux_<arch> tag"


def test_corpus_has_legacy_python2_wheels() -> None:
    seen = _coverage(CORPUS)
    # PEP 513: cp27mu is the wide-unicode build, cp27m the narrow (UCS2) one.
    for arch in ("x86_64", "i686"):
        assert {"cp27-cp27mu", "cp27-cp27m"} <= seen[f"manylinux1_{arch}"], arch


def test_benchmark_corpus_has_large_wheels_of_every_architecture() -> None:
    seen = _coverage(BENCHMARK)
    assert 35 <= len(BENCHMARK) <= 50
    for arch in ARCHITECTURES:
        assert seen[arch], f"no {arch} wheel in the benchmark corpus"
    assert 8 <= sum(entry["size"] > 20e6 for entry in BENCHMARK) <= 12


def test_benchmark_corpus_has_releases_as_a_mirror_holds_them() -> None:
    """A mirror holds each release's wheels for several Pythons on one platform, which
    share their vendored libraries; so does the benchmark corpus, for some releases."""
    siblings: dict[tuple[str, str, str], int] = {}
    for entry in BENCHMARK:
        platform = entry["filename"].removesuffix(".whl").split("-")[-1]
        key = (entry["project"], entry["version"], platform)
        siblings[key] = siblings.get(key, 0) + 1
    assert sum(n >= 2 for n in siblings.values()) >= 6
    assert sum(n >= 3 for n in siblings.values()) >= 4


# -- fetch.py against a local index -------------------------------------------------------------

_DEMO_WHEEL = "demo_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
_DEMO_BYTES = b"not really a wheel, only bytes to hash"


class _Index(BaseHTTPRequestHandler):
    """A one-project simple index: PEP 691 JSON when asked for it and enabled, else PEP 503."""

    speaks_json = True

    def do_GET(self) -> None:
        digest = hashlib.sha256(_DEMO_BYTES).hexdigest()
        if self.path == "/simple/demo-pkg/":
            if self.speaks_json and "vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
                kind = "application/vnd.pypi.simple.v1+json"
                file = {
                    "filename": _DEMO_WHEEL,
                    "url": f"../../files/{_DEMO_WHEEL}",
                    "hashes": {"sha256": digest},
                }
                body = json.dumps({"meta": {"api-version": "1.0"}, "files": [file]}).encode()
            else:
                kind = "text/html"
                body = f'<a href="/files/{_DEMO_WHEEL}#sha256={digest}">{_DEMO_WHEEL}</a>'.encode()
        elif self.path == f"/files/{_DEMO_WHEEL}":
            kind, body = "application/octet-stream", _DEMO_BYTES
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=[True, False], ids=["json", "html"])
def local_index(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Index", (_Index,), {"speaks_json": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's end
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()
    thread.join()


def _demo_entry(sha256: str) -> dict[str, Any]:
    return {
        "project": "Demo_Pkg",
        "version": "1.0",
        "filename": _DEMO_WHEEL,
        "sha256": sha256,
        "size": len(_DEMO_BYTES),
    }


def test_fetch_downloads_verifies_and_reuses(local_index: str, tmp_path: Path) -> None:
    entry = _demo_entry(hashlib.sha256(_DEMO_BYTES).hexdigest())
    [path] = fetch([entry], tmp_path, local_index)
    assert path.read_bytes() == _DEMO_BYTES
    # Cached now: an index that no longer answers is not asked.
    assert fetch([entry], tmp_path, "http://127.0.0.1:9/unreachable/") == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == [_DEMO_WHEEL]


def test_fetch_rejects_a_hash_mismatch(local_index: str, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="sha256"):
        fetch([_demo_entry("0" * 64)], tmp_path, local_index)
    assert list(tmp_path.iterdir()) == []


# -- the downloaded wheels -----------------------------------------------------------------------


def test_every_wheel_is_cached_with_its_pinned_hash(real_wheels: list[Path]) -> None:
    assert len(real_wheels) == len(CORPUS)
    for entry, path in zip(CORPUS, real_wheels, strict=True):
        assert path.name == entry["filename"]
        assert path.stat().st_size == entry["size"], path.name
        assert sha256_of(path) == entry["sha256"], path.name


def test_corpus_has_wheels_that_vendor_libraries(real_wheels: list[Path]) -> None:
    # auditwheel repair grafts libraries into a top-level "<package>.libs/" directory.
    vendoring = []
    for path in real_wheels:
        with zipfile.ZipFile(path) as wheel:
            if any(re.match(r"[^/]+\.libs/[^/]+\.so", name) for name in wheel.namelist()):
                vendoring.append(path.name)
    assert len(vendoring) >= 5, vendoring


# -- the auditwheel oracle -----------------------------------------------------------------------


def test_auditwheel_judges_every_wheel(
    real_wheels: list[Path], auditwheel_verdicts: dict[str, dict[str, Any]]
) -> None:
    assert set(auditwheel_verdicts) == {path.name for path in real_wheels}
    crashed = {name: v["crash"] for name, v in auditwheel_verdicts.items() if "crash" in v}
    assert not crashed
    for name, verdict in auditwheel_verdicts.items():
        assert verdict["wheel"] == name
        assert verdict["overall_tag"].endswith(_tags(name).pop()[2]), name


def test_corpus_has_interesting_verdicts(auditwheel_verdicts: dict[str, dict[str, Any]]) -> None:
    def claimed(name: str) -> set[str]:
        tags = set()
        for _, libc, arch in _tags(name):
            tags.add(f"{_LEGACY.get(libc, libc)}_{arch}")
        return tags

    differing = {n for n, v in auditwheel_verdicts.items() if v["overall_tag"] not in claimed(n)}
    not_manylinux = {
        n for n, v in auditwheel_verdicts.items() if v["overall_tag"].startswith("linux_")
    }
    outside_whitelist = {n for n, v in auditwheel_verdicts.items() if v["external_libs"]}
    assert len(differing) >= 5, differing
    assert len(not_manylinux) >= 2, not_manylinux
    assert len(outside_whitelist) >= 2, outside_whitelist


# -- index_url -----------------------------------------------------------------------------------


@pytest.fixture
def pip_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pip configuration file named by PIP_CONFIG_FILE, and no PIP_INDEX_URL."""
    config = tmp_path / "pip.conf"
    config.write_text(
        textwrap.dedent("""\
        [global]
        index-url = https://config.invalid/simple/
        timeout = 60
        """)
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    return config


def test_explicit_index_url_wins(pip_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.invalid/simple/")
    assert index_url.default_index_url("https://flag.invalid/simple/") == (
        "https://flag.invalid/simple/"
    )


def test_pip_index_url_beats_config_files(
    pip_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.invalid/simple/")
    assert index_url.default_index_url() == "https://env.invalid/simple/"


def test_pip_config_file_is_read(pip_config: Path) -> None:
    assert index_url.default_index_url() == "https://config.invalid/simple/"


def test_command_section_beats_global(pip_config: Path) -> None:
    # Key spelling is normalized as pip does: case, '_' for '-'.
    pip_config.write_text(pip_config.read_text() + "[download]\nIndex_URL = https://dl.invalid/\n")
    assert index_url.default_index_url() == "https://dl.invalid/"


def _user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user = tmp_path / "xdg" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nindex-url = https://user.invalid/\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return user


def test_pip_config_file_hides_user_config(
    pip_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user_config(tmp_path, monkeypatch)
    # pip skips the user's files when PIP_CONFIG_FILE names a file that exists.
    assert user not in index_url.pip_config_files()
    assert index_url.pip_config_files()[-1] == pip_config
    assert index_url.default_index_url() == "https://config.invalid/simple/"


def test_user_config_is_read(
    pip_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user_config(tmp_path, monkeypatch)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "missing.conf"))
    assert user in index_url.pip_config_files()
    assert index_url.default_index_url() == "https://user.invalid/"


def test_without_configuration_pip_default_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from pip._internal.models.index import PyPI

    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # pip's switch for "no config files"
    assert index_url.pip_config_files() == []
    assert index_url.default_index_url() == PyPI.simple_url


def test_project_page_url_is_normalized() -> None:
    assert index_url.project_page_url("https://i.invalid/simple", "Charset_Normalizer.x") == (
        "https://i.invalid/simple/charset-normalizer-x/"
    )
    assert index_url.project_page_url("https://i.invalid/simple/", "PyYAML") == (
        "https://i.invalid/simple/pyyaml/"
    )


def test_reading_members_on_threads_gives_the_same_facts(real_wheels: list[Path]) -> None:
    """``show`` spreads one wheel's members over threads: the facts must not depend on it."""
    for path in real_wheels:
        assert read_facts(path, path.name, threads=3) == read_facts(path, path.name), path.name
