"""What ``show`` makes ahead while the first wheel is read (cli/show.py, ``_prepare_judging``):
the policy set its filename names, which the judging then finds built (issue #15)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wheelscan.policy.evaluate import policies_named_by
from wheelscan.policy.policies import Architecture, Libc, load_policies


@pytest.mark.parametrize(
    ("filename", "named"),
    [
        (
            "x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            (Libc.GLIBC, Architecture.x86_64),
        ),
        ("x-1-cp311-cp311-musllinux_1_2_aarch64.whl", (Libc.MUSL, Architecture.aarch64)),
        ("x-1-cp311-cp311-manylinux_2_28_x86_64_v3.whl", (Libc.GLIBC, Architecture.x86_64)),
        # no one set: two libcs, no platform, not a wheel's name
        ("x-1-cp311-cp311-manylinux_2_17_x86_64.musllinux_1_2_x86_64.whl", None),
        ("x-1-py3-none-any.whl", None),
        ("x-1-cp311-cp311-linux_x86_64.whl", None),
        ("not-a-wheel", None),
    ],
)
def test_the_policy_set_a_filename_names(
    filename: str, named: tuple[Libc, Architecture] | None
) -> None:
    database = load_policies()
    found = policies_named_by(filename, database)
    if named is None:
        assert found is None
    else:
        assert found is not None and (found.libc, found.arch) == named
        assert found is database.for_platform(*named)  # the one the judging will use


_RENDERERS_PREPARED = """
import sys
from wheelscan.cli import main, show, show_start
from wheelscan.policy.policies import load_policies

for args in (main.parse(sys.argv[1:]), show_start.plain_show(sys.argv[1:])):
    show._prepare_judging(args.wheels[0], load_policies(), args.format)
print(all(m in sys.modules for m in show._RENDERERS["text"]))
"""


def test_the_text_renderers_are_prepared_where_no_format_is_given() -> None:
    # ``show WHEEL`` prints text; its namespace's format is None, parsed or taken plain
    # (cli/show_start.py): its renderers are imported while the wheel is read, not after
    done = subprocess.run(
        [sys.executable, "-c", _RENDERERS_PREPARED, "show", "x-1-py3-none-any.whl"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["True"]
