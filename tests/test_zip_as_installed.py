"""A wheel is judged by what pip installs from it, or refused (issue #14, "No evasion").

pip extracts a wheel with Python's ``zipfile``: that is the oracle. Each crafted wheel of
``hostile/evasion.py`` installs a library needing GLIBC_2.38 while another reading of the
archive sees only a harmless one; wheelscan must never judge such a wheel more compatible than
manylinux_2_38, nor let ``wheelscan show`` exit 0 on it. Beside them, a differential check:
archives mutated at random, read by ``zipfile`` and by wheelscan, must give the same members
(names, sizes, data offsets, bytes) whenever both read them (``hostile/zipdiff.py``).
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wheelscan.engine.worker import audit
from wheelscan.policy.verdict import AuditError, Verdict
from wheelscan.wheel.archive import WheelArchive, WheelError

from hostile.evasion import (
    EVASIONS,
    EXT,
    IMPL,
    benign,
    needs_glibc_238,
    stubbed,
)
from hostile.zipdiff import as_wheelscan_reads, as_zipfile_reads, disagreements, mutate, seeds
from hostile.zipwriter import (
    ZIP64_LOCATOR,
    Entry,
    wheel_entries,
    write_wheel,
    write_zip,
)
from inprocess import wheelscan

NAME = "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def pip_installs(data: bytes) -> dict[str, bytes] | None:
    """What pip would extract: every file member, by name (None when zipfile cannot)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir()
            }
    except Exception:
        return None


def not_above_2_38(tag: str) -> bool:
    """Whether ``tag`` is manylinux_2_38 or less compatible (linux_* included)."""
    found = re.match(r"manylinux_(\d+)_(\d+)_", tag)
    return found is None or (int(found[1]), int(found[2])) >= (2, 38)


def judged_by_what_is_installed(result: Verdict | AuditError) -> bool:
    return isinstance(result, AuditError) or (
        not_above_2_38(result.overall_tag) and bool(result.over_claims)
    )


@pytest.mark.parametrize("case", sorted(EVASIONS))
def test_an_installed_library_is_judged_or_the_wheel_refused(case: str) -> None:
    data = EVASIONS[case]()
    installed = pip_installs(data)
    if case != "local-name-differs":  # zipfile refuses that one; a streaming installer not
        assert installed is not None and needs_glibc_238() in installed.values(), case
    result = audit(data, NAME)
    assert judged_by_what_is_installed(result), result
    assert disagreements(data) == []


def test_the_evasions_are_refused_with_their_codes() -> None:
    codes = {case: audit(build(), NAME) for case, build in EVASIONS.items()}
    refused = {case: r.code for case, r in codes.items() if isinstance(r, AuditError)}
    assert refused == {
        "shadow-directory": "ambiguous-zip",
        "zip64-locator-decoy": "ambiguous-zip",
        "hidden-by-count": "ambiguous-zip",
        "unicode-path-rename": "ambiguous-zip",
        "duplicate-name": "duplicate-member",
        "local-name-differs": "local-header-mismatch",
    }
    for case in ("record-row-hidden", "unlisted-library"):  # read, and judged by _impl.so
        verdict = codes[case]
        assert isinstance(verdict, Verdict)
        assert IMPL in verdict.elf_files
        assert "GLIBC_2.38" in verdict.versioned_symbols["libc.so.6"]
    unlisted = codes["unlisted-library"]
    assert isinstance(unlisted, Verdict)
    assert [(f.kind, f.file) for f in unlisted.findings if f.kind == "unlisted-elf"] == [
        ("unlisted-elf", IMPL)
    ]


@pytest.mark.parametrize("strict", [[], ["--strict"]], ids=["fast", "strict"])
@pytest.mark.parametrize("case", sorted(EVASIONS))
def test_wheelscan_show_never_passes_them(case: str, strict: list[str], tmp_path: Path) -> None:
    """The gate itself: ``wheelscan show`` exits 1 (over-claim) or 2 (refused), never 0, in
    either reading (the strict one judged only the members RECORD lists, too)."""
    path = tmp_path / NAME
    path.write_bytes(EVASIONS[case]())
    run = wheelscan("show", "--json", *strict, str(path))  # through the CLI's own main
    assert run.returncode in (1, 2), run.stdout + run.stderr
    [shown] = json.loads(run.stdout)["results"]
    assert "code" in shown or not_above_2_38(shown["overall_tag"]), shown


@pytest.mark.parametrize("zip64", [False, True])
def test_a_sound_wheel_behind_a_stub_is_read_as_pip_installs_it(zip64: bool) -> None:
    """pip installs a wheel that has bytes before it (a self-extractor's stub): wheelscan
    refused it, reading the directory at the offset written, which the stub moved."""
    stub = b"#!/bin/sh\necho not a shell script\nexit 1\n"
    data = stubbed(stub, zip64=zip64)
    plain = stubbed(b"", zip64=zip64)
    with WheelArchive(data) as archive, WheelArchive(plain) as unmoved:
        assert [m.header_offset for m in archive.members] == [
            m.header_offset + len(stub) for m in unmoved.members
        ]
    assert disagreements(data) == []
    result = audit(data, NAME)
    assert isinstance(result, Verdict), result
    assert result == audit(plain, NAME)
    assert result.overall_tag == "manylinux_2_38_x86_64"


def _eocd(data: bytes | bytearray) -> int:
    return bytes(data).rindex(b"PK\x05\x06")


def _zip64_wheel() -> bytearray:
    return write_zip(wheel_entries([Entry(EXT, benign(), zip64=True)])).data


def _zip64_record_moved() -> bytes:
    """The locator points at the ZIP64 end record, 8 bytes before the place just before the
    locator where zipfile reads it (before the CVE-2025-8291 fix; after it, zipfile refuses
    a record that does not end at its locator)."""
    data = _zip64_wheel()
    locator = _eocd(data) - ZIP64_LOCATOR.size
    data[locator:locator] = bytes(8)
    return bytes(data)


def _narrow_fields_differ() -> bytes:
    """The 32-bit end record's directory offset is not saturated and says something else than
    the ZIP64 record's: a reader without ZIP64 looks there."""
    data = _zip64_wheel()
    struct.pack_into("<L", data, _eocd(data) + 16, 0)
    return bytes(data)


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (_zip64_record_moved, "ambiguous-zip"),
        (_narrow_fields_differ, "ambiguous-zip"),
    ],
)
def test_zip64_end_records_read_one_way_only(build: object, code: str) -> None:
    data = build()  # type: ignore[operator]
    with pytest.raises(WheelError) as raised:
        WheelArchive(data)
    assert raised.value.code == code


def _entry_with(**kw: object) -> bytes:
    return write_wheel([Entry(EXT, benign(), **kw)])  # type: ignore[arg-type]


def _bad_utf8_name() -> bytes:
    entries = wheel_entries([Entry(EXT, benign()), Entry(b"demo/\xff\xfe.so", benign())])
    return bytes(write_zip(entries).data)


def _trailing_bytes_hide_the_end_record() -> bytes:
    """More than 64 KiB + 22 bytes after the end record: zipfile does not look that far."""
    return write_wheel([Entry(EXT, benign())]) + bytes(0xFFFF + 10)


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: _entry_with(extra=struct.pack("<2H", 0xCAFE, 10)), "bad-zip"),
        (lambda: _entry_with(flags=0x800 | 0x01), "bad-zip"),  # encrypted
        (lambda: _entry_with(flags=0x800 | 0x40), "bad-zip"),  # strong encryption
        (_bad_utf8_name, "bad-zip"),
        (_trailing_bytes_hide_the_end_record, "not-zip"),
    ],
    ids=["extra-field-overrun", "encrypted", "strong-encryption", "bad-utf8-name", "far-end"],
)
def test_what_zipfile_cannot_read_is_refused(build: object, code: str) -> None:
    """An archive pip cannot extract (zipfile raises opening it, or reading a member) is not
    judged: wheelscan read these, and a verdict on a wheel that installs nothing, or installs
    it some other way, is no verdict."""
    data = build()  # type: ignore[operator]
    assert pip_installs(data) is None
    result = audit(data, NAME)
    assert isinstance(result, AuditError) and result.code == code, result


def test_a_zip64_field_too_short_is_refused() -> None:
    """A ZIP64 extra field without the offset the directory says it holds: zipfile raises,
    wheelscan kept the 0xFFFFFFFF it had and went on."""
    data = bytearray(write_wheel([Entry(EXT, benign(), extra=struct.pack("<2H", 1, 0))]))
    first = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, first + 42, 0xFFFFFFFF)
    assert pip_installs(bytes(data)) is None
    with pytest.raises(WheelError) as raised:
        WheelArchive(bytes(data))
    assert (raised.value.code, raised.value.reason) == (
        "bad-zip",
        "a ZIP64 extra field too short for its values",
    )


def test_every_zip64_field_is_read_as_zipfile_reads_them() -> None:
    """zipfile reads every 0x0001 extra field in turn: a first one that leaves the size at
    0xFFFFFFFF is followed by a second that gives it. wheelscan read the first only, and
    listed the member at 4 GiB."""
    fields = struct.pack("<2HQ", 1, 8, 0xFFFFFFFF) + struct.pack("<2HQ", 1, 8, len(benign()))
    data = write_wheel([Entry(EXT, benign(), size=0xFFFFFFFF, extra=fields)])
    assert pip_installs(data) is not None
    with WheelArchive(data) as archive:
        assert archive.members[0].size == len(benign())
    assert disagreements(data) == []
    assert isinstance(audit(data, NAME), Verdict)


# --- the differential check: archives mutated at random ----------------------------------


SEEDS = seeds()


class _Drawn:
    """A mutation's choices drawn by hypothesis."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def binary(self, max_size: int) -> bytes:
        return self.draw(st.binary(min_size=1, max_size=max_size))


@st.composite
def mutated_archives(draw: st.DrawFn) -> bytes:
    return mutate(draw(st.sampled_from(SEEDS)), _Drawn(draw))


@pytest.mark.slow  # a long property run: 1500 archives read twice
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_archives())
def test_wheelscan_reads_what_zipfile_reads_or_refuses(data: bytes) -> None:
    assert disagreements(data) == []


def test_a_member_in_a_method_neither_reads_is_no_disagreement() -> None:
    """Found by the property above (CI, session 25): a member's method set to 9 (Deflate64)
    in both its headers. zipfile opens no member of it; wheelscan finds where its bytes
    begin, then refuses them, as an audit says (``unsupported-compression``): both refuse
    it, which the comparison once took for a member read at two places."""
    data = bytearray(write_wheel([Entry(EXT, benign(), descriptor=True)]))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, local + 8, 9)
    struct.pack_into("<H", data, central + 10, 9)
    ours, theirs = as_wheelscan_reads(bytes(data)), as_zipfile_reads(bytes(data))
    assert ours is not None and theirs is not None
    assert (ours[0].name, ours[0].content, theirs[0].data_offset) == (EXT, None, None)
    assert ours[0].data_offset is not None
    with WheelArchive(bytes(data)) as archive, pytest.raises(WheelError) as refused:
        archive.read(archive.members[0])
    assert refused.value.code == "unsupported-compression"
    assert disagreements(bytes(data)) == []


def test_the_seeds_are_read_alike() -> None:
    """Every seed opens in both readers (so the mutations above start from archives both
    read), the stubbed ones included: wheelscan refused those before."""
    for seed in SEEDS:
        assert as_zipfile_reads(seed) is not None
        assert as_wheelscan_reads(seed) is not None
        assert disagreements(seed) == []
