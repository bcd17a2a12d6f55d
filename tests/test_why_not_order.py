"""``show``'s "why not" lists symbol versions oldest first, numerically, as the JSON's
``blockers`` do (the README: GLIBC_2.7 before GLIBC_2.14); folded, it keeps the newest ones,
the most telling, and still lists them oldest first.

``show`` runs in this process (``tests/inprocess.py``) on a wheel built by ``wheelbuilder``
around an ELF file built by ``elfwriter``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from elfwriter import Sym, build_elf, sample_spec
from inprocess import wheelscan
from wheelbuilder import build_wheel

LIBC = "libc.so.6"
# with sample_spec's memcpy@GLIBC_2.14, getrandom@GLIBC_2.25, CXXABI_1.3.8, GLIBCXX_3.4.21:
# as strings GLIBC_2.10, GLIBC_2.14 and GLIBC_2.17 sort before GLIBC_2.7
EXTRA = [
    Sym("sscanf_c99", version="GLIBC_2.7", version_file=LIBC),
    Sym("clock_gettime", version="GLIBC_2.17", version_file=LIBC),
    Sym("ten", version="GLIBC_2.10", version_file=LIBC),
]


def wheel(tmp_path: Path) -> Path:
    spec = sample_spec("x86_64", interpreter=None)
    so = build_elf(dataclasses.replace(spec, symbols=[*spec.symbols, *EXTRA]))
    path = tmp_path / "many-1.0-cp312-cp312-manylinux1_x86_64.whl"
    path.write_bytes(build_wheel({"many/mod.cpython-312-x86_64-linux-gnu.so": so}, name="many"))
    return path


def sections(text: str) -> dict[str, list[str]]:
    """Each "why not" section's policy, and the versions it lists, in order."""
    found = {}
    for part in text.split("\n  why not ")[1:]:
        section = part.split("\n  newest symbol versions", 1)[0]
        policy = section.split(":", 1)[0].split(" ", 1)[0]
        found[policy] = re.findall(r"needs ([A-Z]+_[\d.]+) ", section)
    return found


def test_why_not_lists_versions_oldest_first_as_the_json(tmp_path: Path) -> None:
    path = wheel(tmp_path)
    listed = sections(wheelscan("show", "--verbose", path).stdout)
    assert listed["manylinux_2_12_x86_64"] == ["GLIBC_2.14", "GLIBC_2.17"]
    assert listed["manylinux_2_5_x86_64"] == ["GLIBC_2.7", "GLIBC_2.10"]
    document = json.loads(wheelscan("show", "--format", "json", path).stdout)
    for upgrade in document["results"][0]["upgrades"]:
        in_json = [b["subject"] for b in upgrade["blockers"]]
        # the JSON's order, less what the text said under a better policy ("as above")
        shown = listed[upgrade["policy"]]
        assert [v for v in in_json if v in shown] == shown


def test_a_folded_why_not_keeps_the_newest_and_lists_them_oldest_first(tmp_path: Path) -> None:
    text = wheelscan("show", wheel(tmp_path)).stdout
    shown = sections(text)["manylinux_2_5_x86_64"]
    assert shown == ["CXXABI_1.3.8", "GLIBC_2.10", "GLIBC_2.14", "GLIBC_2.17"]
    assert "and 2 more reasons (--verbose lists them)" in text  # GLIBC_2.7, GLIBCXX_3.4.21
