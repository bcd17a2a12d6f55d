"""How a member is inflated: whole, or streamed and stopped once the parser is done.

``segments_end`` (native) reads the program headers from a member's first bytes; it is
checked against pyelftools on real members. The choice it drives is seen from the outside:
the other path is made to fail, and the wheel must still get its verdict.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from wheelscan._native import segments_end
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import Verdict
from wheelscan.wheel import contents
from wheelscan.wheel.archive import WheelArchive

from elfwriter import build_elf, sample_spec
from hostile.zipwriter import Entry, write_wheel

MEMBER = "demo/_mod.cpython-312-x86_64-linux-gnu.so"


def reference_end(data: bytes) -> int:
    kinds = ("PT_LOAD", "PT_DYNAMIC", "PT_INTERP", "PT_NOTE")
    segments = ELFFile(io.BytesIO(data)).iter_segments()
    return max(s["p_offset"] + s["p_filesz"] for s in segments if s["p_type"] in kinds)


def test_segments_end_agrees_with_pyelftools_on_real_members(real_wheels: list[Path]) -> None:
    checked = 0
    for path in real_wheels[::3]:
        with WheelArchive.open(path) as archive:
            for member in archive.elf_members():
                data = bytes(archive.read(member))
                expected = reference_end(data)
                assert segments_end(data) == expected, member.name
                assert segments_end(archive.head(member, contents.HEAD_BYTES)) == expected
                checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    "data", [b"", b"\x7fELF", b"\x7fELF\x02\x01" + bytes(10), b"MZ" + bytes(100)]
)
def test_segments_end_is_none_without_a_whole_header(data: bytes) -> None:
    assert segments_end(data) is None


def test_program_headers_past_the_prefix_give_none() -> None:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    assert segments_end(elf) is not None
    assert segments_end(elf[:100]) is None


def wheel_with(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "choice-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(write_wheel([Entry(MEMBER, content)]))
    return path


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the other inflation path was taken")


def test_a_member_with_a_long_tail_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    path = wheel_with(tmp_path, elf + random.Random(5).randbytes(2 << 20))  # "debug info"
    monkeypatch.setattr(contents, "inflate_into", refuse)
    assert isinstance(audit(path, path.name), Verdict)


def test_a_member_that_is_all_segments_is_inflated_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = wheel_with(tmp_path, build_elf(sample_spec("x86_64", interpreter=None)))
    monkeypatch.setattr(contents, "parse_streamed", refuse)
    assert isinstance(audit(path, path.name), Verdict)
