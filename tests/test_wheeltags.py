"""wheelscan's reading of a wheel's file name (policy/wheeltags.py) against packaging's
``parse_wheel_filename``, the reading it stands in for: the same tags for every name
packaging accepts, packaging's error (its words) for every name it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import InvalidWheelFilename as PackagingInvalid
from packaging.utils import parse_wheel_filename

from wheelscan.policy.wheeltags import (
    PLAIN,
    InvalidWheelFilename,
    WheelTag,
    plain,
    platform_tags,
    wheel_tags,
)

from property_budget import examples

CORPUS = Path(__file__).parent / "corpus"

# The plain shape and its edges, and the shapes left to packaging
NAMES = [
    "onnxruntime-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
    "jaxlib-0.12.0.1-cp312-cp312-manylinux_2_27_x86_64.whl",
    "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "demo-1.0-py2.py3-none-any.whl",
    "demo-1.0-cp311.cp312-abi3.none-linux_x86_64.linux_aarch64.whl",
    "Demo.Pkg_x-01.002-cp39-abi3-musllinux_1_2_aarch64.whl",
    "demo-1.0a1.post2.dev3-cp313-cp313t-android_24_arm64_v8a.whl",
    "demo-1.0rc1-7-cp311-cp311-manylinux_2_17_x86_64.whl",
    "demo-1.0-0-py3-none-any.whl",
    "_-0-_-_-_.whl",
    "a.b_c-1-x-y-z.whl",
    # left to packaging: each accepted or refused there
    "demo-1.0-7abc-cp311-cp311-linux_x86_64.whl",  # a build tag with letters
    "demo-1.0-abc-cp311-cp311-linux_x86_64.whl",  # a build tag that is no number
    "demo-1!1.0-cp311-cp311-linux_x86_64.whl",  # an epoch
    "demo-1.0+local.7-cp311-cp311-linux_x86_64.whl",  # a local version
    "demo-v1.0-cp311-cp311-linux_x86_64.whl",
    "demo-1.0.alpha1-cp311-cp311-linux_x86_64.whl",
    "demo-1.0c1-cp311-cp311-linux_x86_64.whl",
    "demo-1.0-CP311-CP311-Linux_X86_64.whl",  # uppercase tags: packaging lowercases
    "demo-1.0-cp311-cp311-linux_x86_64..manylinux1_x86_64.whl",  # an empty platform
    "demo-1.0-cp311-cp311-.whl",
    "demo-1.0-cp311-cp311-linux-x86_64.whl",  # six parts
    "demo-1.0-cp311-linux_x86_64.whl",  # three
    "demo-1.0-cp311-cp311-linux_x86_64.zip",
    "demo-1.0-cp311-cp311-linux_x86_64.WHL",
    "de__mo-1.0-cp311-cp311-linux_x86_64.whl",  # "__" in the name
    "de-mo-1.0-cp311-cp311-linux_x86_64.whl",
    "démo-1.0-cp311-cp311-linux_x86_64.whl",  # a non-ASCII name (packaging's \w)
    "de+mo-1.0-cp311-cp311-linux_x86_64.whl",
    "-1.0-cp311-cp311-linux_x86_64.whl",  # an empty name
    "demo-1.0.-cp311-cp311-linux_x86_64.whl",
    "demo-.1-cp311-cp311-linux_x86_64.whl",
    "demo--cp311-cp311-linux_x86_64.whl",
    "demo-1.0-cp311-cp311-linux_x86_64.whl\n",
    ".whl",
    "",
]


def packaging_reading(filename: str) -> frozenset[tuple[str, str, str]] | str:
    """packaging's tags as tuples, or its error's words."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except ValueError as e:  # its InvalidWheelFilename, or int()'s limit on digits
        return str(e)
    return frozenset((t.interpreter, t.abi, t.platform) for t in tags)


def wheelscan_reading(filename: str) -> frozenset[tuple[str, str, str]] | str:
    try:
        return frozenset(wheel_tags(filename))
    except InvalidWheelFilename as e:
        assert e.code == "bad-filename"
        return e.reason


def corpus_names() -> list[str]:
    names = [w["filename"] for w in json.loads((CORPUS / "wheels.json").read_text())]
    return names + [w["filename"] for w in json.loads((CORPUS / "android.json").read_text())]


@pytest.mark.parametrize("filename", NAMES)
def test_a_name_reads_as_packaging_reads_it(filename: str) -> None:
    assert wheelscan_reading(filename) == packaging_reading(filename)


def test_the_corpus_names_read_as_packaging_reads_them() -> None:
    names = corpus_names()
    assert len(names) > 100
    assert [wheelscan_reading(n) for n in names] == [packaging_reading(n) for n in names]
    # and almost all of them without packaging (the point of the plain shape)
    assert sum(PLAIN.fullmatch(n) is not None for n in names) > 0.9 * len(names)


def test_the_plain_shape_is_split_here_the_rest_by_packaging() -> None:
    assert PLAIN.fullmatch(NAMES[0]) is not None
    assert PLAIN.fullmatch("demo-1!1.0-cp311-cp311-linux_x86_64.whl") is None
    assert wheel_tags("demo-1.0-py2.py3-none-any.whl") == {
        WheelTag("py2", "none", "any"),
        WheelTag("py3", "none", "any"),
    }
    assert platform_tags(NAMES[2]) == ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
    with pytest.raises(InvalidWheelFilename, match="invalid version") as refused:
        wheel_tags("demo-1.0.-cp311-cp311-linux_x86_64.whl")
    assert isinstance(refused.value.__cause__, PackagingInvalid)


@pytest.mark.parametrize(
    "filename",
    [
        "demo-" + "1" * 5000 + "-cp311-cp311-linux_x86_64.whl",  # the version
        "demo-1.0-" + "1" * 5000 + "-cp311-cp311-linux_x86_64.whl",  # the build tag
        "demo-1.0.post" + "1" * 5000 + "-cp311-cp311-linux_x86_64.whl",
        "demo-1!" + "1" * 5000 + "-cp311-cp311-linux_x86_64.whl",  # packaging's to read
    ],
    ids=["version", "build-tag", "post", "epoch"],
)
def test_a_number_past_python_s_digits_is_refused_as_packaging_refuses_it(
    filename: str,
) -> None:
    """packaging reads each number with int(), which refuses over 4300 digits (a remote
    name may be that long): the name is refused, as a bad file name, in packaging's words."""
    reading = wheelscan_reading(filename)
    assert isinstance(reading, str) and "digits" in reading
    assert reading == packaging_reading(filename)


# names of the characters that make and break each part
_PART = st.text(alphabet="aZ09._-+!_vV", min_size=0, max_size=8)


@settings(max_examples=examples(400), deadline=None)
@given(
    st.lists(_PART, min_size=3, max_size=7).map("-".join),
    st.sampled_from([".whl", ".WHL", ""]),
)
def test_any_name_reads_as_packaging_reads_it(stem: str, suffix: str) -> None:
    assert wheelscan_reading(stem + suffix) == packaging_reading(stem + suffix)


@settings(max_examples=examples(100), deadline=None)
@given(
    # PLAIN's shape and plain()'s "__" rule beside it ("__-0-0-0-0.whl" has the shape only)
    st.from_regex(PLAIN, fullmatch=True).filter(lambda name: plain(name) is not None),
)
def test_every_plain_name_is_one_packaging_accepts(filename: str) -> None:
    assert isinstance(packaging_reading(filename), frozenset)
    assert wheelscan_reading(filename) == packaging_reading(filename)


def test_a_name_of_underscores_has_the_shape_and_is_still_refused() -> None:
    # the shape alone (PLAIN) takes it; plain()'s "__" rule leaves it to packaging, which
    # refuses the project name, as wheelscan must (found by the property above)
    filename = "__-0-0-0-0.whl"
    assert PLAIN.fullmatch(filename) is not None and plain(filename) is None
    assert isinstance(packaging_reading(filename), str)
    assert wheelscan_reading(filename) == packaging_reading(filename)


def test_show_gives_a_badly_named_wheel_packagings_words(tmp_path: Path) -> None:
    import subprocess
    import sys

    from elfwriter import build_elf, sample_spec
    from wheelbuilder import build_wheel

    names = ["demo-1.0.-cp311-cp311-linux_x86_64.whl", "de__mo-1.0-cp311-cp311-linux_x86_64.whl"]
    for name in names:
        (tmp_path / name).write_bytes(build_wheel({"m.so": build_elf(sample_spec("x86_64"))}))
    shown = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--json", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 2
    results = json.loads(shown.stdout)["results"]
    assert [(r["code"], r["reason"]) for r in results] == [
        ("bad-filename", packaging_reading(name)) for name in names
    ]
