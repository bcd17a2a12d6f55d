"""How a member is inflated: whole, or only as far as the parser needs.

``facts_end`` (native) reads the program headers from a member's first bytes; it is checked
against pyelftools on real members. The choice ``facts_end`` drives
is seen from the outside: the other path is made to fail, and the wheel must still get its
verdict; and every member of the real wheels gets the same facts either way.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from wheelscan._native import facts_end
from wheelscan.elf import get_parser
from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import Verdict
from wheelscan.wheel import contents, partial, stream
from wheelscan.wheel.archive import DEFLATED, WheelArchive

from elfwriter import build_elf, sample_spec
from hostile.zipwriter import Entry, write_wheel

MEMBER = "demo/_mod.cpython-312-x86_64-linux-gnu.so"


def reference_facts_end(data: bytes) -> int:
    """``facts_end``'s rule, over pyelftools' reading of the program headers."""
    elf = ELFFile(io.BytesIO(data))
    segments = list(elf.iter_segments())
    dynamic = [s["p_offset"] for s in segments if s["p_type"] == "PT_DYNAMIC"]
    end = elf.header.e_phoff + elf.header.e_phnum * elf.header.e_phentsize
    for s in segments:
        later_load = s["p_type"] == "PT_LOAD" and (not dynamic or s["p_offset"] > dynamic[0])
        if s["p_type"] in ("PT_DYNAMIC", "PT_INTERP", "PT_NOTE") or later_load:
            end = max(end, s["p_offset"] + s["p_filesz"])
    return end


def test_facts_end_agrees_with_pyelftools_on_real_members(real_wheels: list[Path]) -> None:
    """From the whole file and from the member's first bytes, it is its rule over
    pyelftools' reading of the program headers."""
    checked = 0
    for path in real_wheels[::2]:
        with WheelArchive.open(path) as archive:
            for member in archive.elf_members():
                data = bytes(archive.read(member))
                expected = reference_facts_end(data)
                assert facts_end(data) == expected, member.name
                assert facts_end(archive.head(member, contents.HEAD_BYTES)) == expected
                checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    "data", [b"", b"\x7fELF", b"\x7fELF\x02\x01" + bytes(10), b"MZ" + bytes(100)]
)
def test_facts_end_is_none_without_a_whole_header(data: bytes) -> None:
    assert facts_end(data) is None


def wheel_with(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "choice-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    path.write_bytes(write_wheel([Entry(MEMBER, content)]))
    return path


def refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the other inflation path was taken")


def test_facts_end_is_none_without_the_program_headers() -> None:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    assert facts_end(elf) is not None
    assert facts_end(elf[:100]) is None
    assert facts_end(b"MZ" + bytes(100)) is None


def test_every_real_member_gets_the_same_facts_from_a_prefix(real_wheels: list[Path]) -> None:
    """Through the prefix wherever the rule allows, the facts are those of the whole file;
    and the prefix spares a real share of the inflation."""
    parse = get_parser()
    total = spared = 0
    for path in real_wheels:
        with WheelArchive.open(path) as archive:
            for member in archive.elf_members():
                if member.method != DEFLATED or member.size > contents.WHOLE_MEMBER_LIMIT:
                    continue
                whole = contents._parse_whole(parse, archive, member)
                assert contents._parse(parse, archive, member) == whole, member.name
                end = contents._facts_end(archive, member)
                total += member.size
                length = None if end is None else end + contents.PREFIX_SLACK
                if length is not None and length < contents.WHOLE_ABOVE * member.size:
                    spared += member.size - length
    assert spared > 0.1 * total


@pytest.mark.parametrize("guess", [64, 4096, 20_000])
def test_tables_past_the_guess_send_the_member_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guess: int
) -> None:
    """A layout ``facts_end`` does not foresee (here: a guess too short) costs one whole
    inflation more, never a wrong reading: the parser asks for what it lacks."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    content = elf + random.Random(5).randbytes(1 << 20)
    path = wheel_with(tmp_path, content)
    with WheelArchive.open(path) as archive:
        member = next(iter(archive.elf_members()))
        expected = contents._parse_whole(get_parser(), archive, member)
        prefixes: list[int] = []
        wholes: list[int] = []
        real_prefix, real_whole = partial.inflate_prefix, contents.inflate_into

        def noting_prefix(payload: object, out: memoryview) -> int:
            prefixes.append(len(out))
            return real_prefix(payload, out)

        def noting_whole(payload: object, out: memoryview) -> int:
            wholes.append(len(out))
            return real_whole(payload, out)

        monkeypatch.setattr(contents, "_facts_end", lambda archive, member: guess)
        monkeypatch.setattr(partial, "inflate_prefix", noting_prefix)
        monkeypatch.setattr(contents, "inflate_into", noting_whole)
        assert contents._parse(get_parser(), archive, member) == expected
        assert prefixes == [guess + contents.PREFIX_SLACK]
        # valid bytes: exactly the guess; the sample's tables end before its last byte
        assert wholes == ([len(content)] if guess < len(elf) else [])


def test_a_member_with_a_long_tail_is_inflated_only_in_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    path = wheel_with(tmp_path, elf + random.Random(5).randbytes(2 << 20))  # "debug info"
    monkeypatch.setattr(contents, "inflate_into", refuse)
    monkeypatch.setattr(stream, "parse_streamed", refuse)  # where contents takes it
    assert isinstance(audit(path, path.name), Verdict)


def test_a_member_that_is_all_segments_is_inflated_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = wheel_with(tmp_path, build_elf(sample_spec("x86_64", interpreter=None)))
    monkeypatch.setattr(stream, "parse_streamed", refuse)  # where contents takes it
    monkeypatch.setattr(partial, "inflate_prefix", refuse)
    assert isinstance(audit(path, path.name), Verdict)
