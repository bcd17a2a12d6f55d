"""The zip reader on wheels the tests build: in-place parsing, ELF by magic, clear errors."""

from __future__ import annotations

import io
import mmap
import warnings
import zipfile
from pathlib import Path

import pytest

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.wheel.archive import Limits, WheelArchive
from wheelscan.wheel.contents import read_wheel_facts

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel

ELF = build_elf(sample_spec("x86_64", interpreter=None))
NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def error_code(data: bytes, limits: Limits = Limits()) -> str:
    result = audit(data, NAME, limits=limits)
    assert isinstance(result, AuditError), result
    return result.code


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated_members_give_the_same_facts(compression: int) -> None:
    data = build_wheel({"mod.so": ELF}, compression=compression)
    with WheelArchive(data) as archive:
        facts = read_wheel_facts(archive, NAME)
    assert [m.path for m in facts.elf_files] == ["mod.so"]
    assert facts.elf_files[0].facts.needed == ("libstdc++.so.6", "libgcc_s.so.1", "libc.so.6")


def test_stored_members_are_parsed_in_place(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(build_wheel({"mod.so": ELF}, compression=zipfile.ZIP_STORED))
    with WheelArchive.open(path) as archive:
        member = archive.find("mod.so")
        assert member is not None
        view = archive.read(member)
        assert isinstance(view, memoryview) and isinstance(view.obj, mmap.mmap)
        assert bytes(view) == ELF
        view.release()


def test_elf_members_are_found_by_magic_not_by_name() -> None:
    data = build_wheel({"pkg/data.bin": ELF, "pkg/fake.so": b"text, not ELF", "pkg/x.py": b""})
    with WheelArchive(data) as archive:
        assert [m.name for m in archive.elf_members()] == ["pkg/data.bin"]


def test_members_outside_record_are_not_examined() -> None:
    data = build_wheel({"pkg/mod.so": ELF})
    # rebuild with a second ELF the RECORD does not list
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("pkg/unlisted.so", ELF)
    with WheelArchive(out.getvalue()) as archive:
        facts = read_wheel_facts(archive, NAME)
    assert [(m.path, m.in_record) for m in facts.elf_files] == [
        ("pkg/mod.so", True),
        ("pkg/unlisted.so", False),
    ]


def test_no_record() -> None:
    assert error_code(build_wheel({"mod.so": ELF}, record=False)) == "no-record"


def test_not_a_zip_and_truncated() -> None:
    assert error_code(b"this is not a zip file at all") == "not-zip"
    data = build_wheel({"mod.so": ELF})
    assert error_code(data[: len(data) // 2]) in {"not-zip", "truncated"}
    assert error_code(data[:-10]) in {"not-zip", "truncated"}


def test_crc_mismatch() -> None:
    data = bytearray(build_wheel({"mod.so": ELF}, compression=zipfile.ZIP_STORED))
    at = data.index(ELF[:64]) + 40
    data[at] ^= 0xFF
    assert error_code(bytes(data)) == "crc-mismatch"


def test_zip_bomb_ratio_and_size_limits() -> None:
    bomb = b"\x7fELF" + bytes(20 << 20)
    data = build_wheel({"mod.so": bomb})
    assert error_code(data) == "zip-bomb"
    assert error_code(build_wheel({"mod.so": ELF}), Limits(max_member_size=1000)) == "too-large"


def test_duplicate_entries() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zf.writestr("mod.so", ELF)
        zf.writestr("mod.so", ELF)
    assert error_code(out.getvalue()) == "duplicate-member"


def test_zip64_records() -> None:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(build_wheel({"mod.so": ELF}))) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            with dst.open(info.filename, "w", force_zip64=True) as f:
                f.write(src.read(info))
    result = audit(out.getvalue(), NAME)
    assert isinstance(result, Verdict) and result.elf_files == ("mod.so",)


def test_corrupt_elf_member_names_the_member() -> None:
    data = build_wheel({"pkg/mod.so": ELF[:200]})
    result = audit(data, NAME)
    assert isinstance(result, AuditError)
    assert result.code.startswith("elf-") and result.member == "pkg/mod.so"


def test_pure_wheel_is_not_a_platform_wheel() -> None:
    result = audit(build_wheel({"pkg/__init__.py": b""}), "demo-1.0-py3-none-any.whl")
    assert isinstance(result, AuditError) and result.code == "not-platform-wheel"
