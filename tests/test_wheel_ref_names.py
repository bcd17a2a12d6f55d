"""A WheelRef's project and version are packaging's (``parse_wheel_filename``: the canonical
name, the normalised version), whether the name is split by sources/base.py itself (the
plain shape almost every wheel has) or left to packaging; and a name packaging refuses
names no wheel."""

from __future__ import annotations

import pytest
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelscan.sources.base import is_linux_platform_wheel, wheel_ref

NAMES = [
    "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "Pillow-10.4.0-cp311-cp311-musllinux_1_2_aarch64.whl",
    "zope.interface-7.0-cp39-cp39-manylinux_2_28_x86_64.whl",
    "ruamel.yaml.clib-0.2.8-cp310-cp310-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
    "Foo_Bar-1.0rc1-1-cp38-cp38-linux_x86_64.whl",
    "foo-1.0.post2.dev3-py3-none-any.whl",
    "foo-1.01-cp312-cp312-manylinux1_x86_64.whl",  # a leading zero: normalised to 1.1
    "foo-2024.01.10-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0rc01-cp312-cp312-manylinux1_x86_64.whl",
    "foo-0.10-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1!2.0-cp312-cp312-manylinux1_x86_64.whl",  # an epoch
    "foo-1.0+local.7-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0-RC1-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0.ALPHA1-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0-cp312-cp312-MANYLINUX1_X86_64.whl",
    "a__b-1.0-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0-cp312-manylinux1_x86_64.whl",
    "foo-1.0-x1-cp312-cp312-manylinux1_x86_64.whl",
    "foo-not.a.version-cp312-cp312-manylinux1_x86_64.whl",
    "foo-1.0-cp312-cp312-manylinux1_x86_64.zip",
]


@pytest.mark.parametrize("filename", NAMES)
def test_a_wheel_is_named_as_packaging_names_it(filename: str) -> None:
    ref = wheel_ref(filename, f"http://127.0.0.1:1/packages/{filename}")
    try:
        project, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        assert ref is None
        assert not is_linux_platform_wheel(filename)
        return
    assert ref is not None
    assert (ref.project, ref.version) == (project, str(version))
    linux = any(t.platform.startswith(("manylinux", "musllinux", "linux_")) for t in tags)
    assert is_linux_platform_wheel(filename) == linux


@pytest.mark.parametrize("version", ["9" * 4301, "1." + "9" * 4301, "1!" + "9" * 4301])
def test_a_number_past_python_s_digits_names_no_wheel(version: str) -> None:
    """packaging reads a version's numbers with int(), which refuses over 4300 digits with a
    plain ValueError: such a link is skipped as any name packaging refuses is, and does not
    end the listing of every other project (a review found the run aborted on one link)."""
    filename = f"evil-{version}-cp312-cp312-manylinux1_x86_64.whl"
    assert wheel_ref(filename, f"http://127.0.0.1:1/packages/{filename}") is None
