"""The catalogue of hostile wheels: what each is, and the record wheelscan must give for it.

``CASES`` maps a name to a :class:`Case`: a builder of the wheel's bytes and the expected
outcome, an ``AuditError`` code or ``VERDICT`` when the wheel is odd but sound and must be
judged as any other. ELF corruptions come from ``elfwriter.CORRUPTIONS``, their expected code
from the pyelftools reference reader (an oracle independent of the native core).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from wheelscan.elf import ElfError
from wheelscan.elf.reference import parse_elf as reference_parse
from wheelscan.policy.verdict import Verdict

from elfwriter import build_elf, make_corruptions, sample_spec
from hostile import bombs, elves, evasion
from hostile.zipwriter import (
    BZIP2,
    STORED,
    Entry,
    deflate,
    record_for,
    symlink_mode,
    wheel_entries,
    write_wheel,
    write_zip,
)

VERDICT = "verdict"
EXT = "demo/_mod.cpython-312-x86_64-linux-gnu.so"
HOST_LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"  # a real ELF file a follower would read


@functools.cache
def elf() -> bytes:
    return build_elf(sample_spec("x86_64", interpreter=None))


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    expect: str  # an AuditError code, or VERDICT
    why: str
    check: Callable[[Verdict], bool] = lambda verdict: True  # more, for VERDICT cases
    slow_reference: bool = False  # an ELF bomb: minutes for the pyelftools backend

    def filename(self, name: str) -> str:
        return f"hostile_{name.replace('-', '_')}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def _ext(**kw: object) -> Entry:
    return Entry(EXT, elf(), **kw)  # type: ignore[arg-type]


def _wheel(*entries: Entry, record: bool = True) -> bytes:
    return write_wheel(list(entries), record=record)


def _sound() -> bytes:
    return _wheel(_ext())


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _eocd(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


def _elf_only(verdict: Verdict) -> bool:
    return verdict.elf_files == (EXT,)


# --- the zip structure


def _directory_past_end() -> bytes:
    data = _sound()
    return _patched(data, _eocd(data) + 16, (len(data) + 100).to_bytes(4, "little"))


def _count_lies() -> bytes:
    data = _sound()
    at = _eocd(data)
    return _patched(data, at + 8, (4).to_bytes(2, "little") * 2)  # 3 entries, says 4


def _entry_cut() -> bytes:
    """The last central directory entry's name length runs past the directory."""
    layout = write_zip(wheel_entries([_ext()]))
    data = bytes(layout.data)
    last = data.rindex(b"PK\x01\x02")
    return _patched(data, last + 28, (500).to_bytes(2, "little"))


def _bad_central_signature() -> bytes:
    data = _sound()
    return _patched(data, data.index(b"PK\x01\x02"), b"PK\x01\x09")


def _bad_local_signature() -> bytes:
    return _patched(_sound(), 0, b"PK\x03\x09")


def _fake_end_record_in_comment() -> bytes:
    """The comment holds a second end record pointing nowhere; like zipfile, the last wins."""
    fake = b"PK\x05\x06" + bytes(6) + (1).to_bytes(2, "little") + (46).to_bytes(4, "little")
    fake += (10**9).to_bytes(4, "little") + bytes(2)
    return bytes(write_zip(wheel_entries([_ext()]), comment=fake).data)


def _crc_unread_tail() -> bytes:
    """A 3 MB member (an ELF file, then 'debug info') with a wrong CRC: the parser is done
    within the first megabyte, so the tail, and the CRC, are never inflated nor checked."""
    tail = random.Random(2).randbytes(3 << 20)
    return _wheel(Entry(EXT, elf() + tail, crc=1))


def _size_unread_tail(declared: int, tail: int) -> bytes:
    """A member (an ELF file, then 'debug info') whose stream is longer or shorter than the
    directory says, past its tables: never inflated there, the difference is never seen."""
    return _wheel(Entry(EXT, elf() + random.Random(3).randbytes(tail), size=declared))


def _symlink(target: str, name: str = "demo/libc.so.6") -> bytes:
    return _wheel(_ext(), Entry(name, target.encode(), external_attr=symlink_mode()))


def _nested_bomb() -> bytes:
    inner = _wheel(Entry("big.bin", bytes(1), payload=bombs.ratio_bomb(32 << 20), size=32 << 20))
    return _wheel(_ext(), Entry("demo/data/inner.zip", inner, method=STORED))


def _record(text: bytes) -> bytes:
    files = [_ext(), Entry("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n")]
    return bytes(write_zip([*files, Entry("demo-1.0.dist-info/RECORD", text)]).data)


def _two_records() -> bytes:
    extra = Entry("demo-1.0.dist-info/RECORD", record_for({}, "x"), method=STORED)
    entries = wheel_entries([_ext()])
    return bytes(write_zip([*entries, Entry("demo2-1.0.dist-info/RECORD", extra.data)]).data)


def _two_entries_one_header() -> bytes:
    """A second central directory entry, another name, on the extension's local header."""
    return _wheel(_ext(), Entry("demo/other.so", elf(), header_offset=0))


def _data_into_next() -> bytes:
    """The extension says its data is 40 bytes longer: it runs into the next local header."""
    payload = deflate(elf())
    return _wheel(_ext(payload=payload, compressed_size=len(payload) + 40))


def _quoted_overlap() -> bytes:
    entries = wheel_entries([_ext()])
    tail = [(str(e.name), e.data) for e in entries]
    return bombs.quoted_overlap(tail=tail)[0]


_ZIP: dict[str, Case] = {
    "not-a-zip": Case(lambda: random.Random(3).randbytes(5000), "not-zip", "random bytes"),
    "empty-file": Case(lambda: b"", "not-zip", "zero bytes"),
    "empty-zip": Case(lambda: bytes(write_zip([]).data), "no-record", "an end record alone"),
    "truncated-half": Case(lambda: _sound()[: len(_sound()) // 2], "not-zip", "end record gone"),
    "truncated-end-record": Case(lambda: _sound()[:-10], "truncated", "end record cut short"),
    "directory-past-end": Case(_directory_past_end, "truncated", "directory offset past the end"),
    "entry-count-lies": Case(_count_lies, "bad-zip", "end record counts an entry too many"),
    "directory-entry-cut": Case(_entry_cut, "bad-zip", "a name runs past the directory"),
    "bad-central-signature": Case(_bad_central_signature, "bad-zip", "directory signature"),
    "bad-local-signature": Case(_bad_local_signature, "bad-zip", "local header signature"),
    "fake-end-record-in-comment": Case(
        _fake_end_record_in_comment, "truncated", "the comment's end record points past the end"
    ),
    "crc-mismatch-stored": Case(lambda: _wheel(_ext(method=STORED, crc=1)), "crc-mismatch", ""),
    "crc-mismatch-deflated": Case(lambda: _wheel(_ext(crc=1)), "crc-mismatch", "small member"),
    "crc-mismatch-record": Case(
        lambda: bytes(
            write_zip(
                [*wheel_entries([_ext()])[:-1], Entry("demo-1.0.dist-info/RECORD", b"x", crc=7)]
            ).data
        ),
        "crc-mismatch",
        "RECORD is read whole",
    ),
    "crc-mismatch-unread-tail": Case(
        _crc_unread_tail,
        VERDICT,
        "documented: a CRC is checked when a member is inflated to its end; this tail never is",
    ),
    "size-longer-unread-tail": Case(
        lambda: _size_unread_tail(1 << 20, 8 << 20),
        VERDICT,
        "documented: declares 1 MiB, inflates to 8 MiB past the tables, which are all it reads",
    ),
    "size-shorter-unread-tail": Case(
        lambda: _size_unread_tail(4 << 20, 3 << 20),
        VERDICT,
        "documented: declares 4 MiB, the stream ends at 3 MiB, past the tables",
    ),
    "bad-deflate": Case(
        lambda: _wheel(_ext(payload=b"\xff" * 64)), "bad-deflate", "not a deflate stream"
    ),
    "unsupported-method": Case(
        lambda: _wheel(_ext(method=BZIP2, payload=b"BZh9" + bytes(60))),
        "unsupported-compression",
        "bzip2",
    ),
    "zero-byte-so-only": Case(
        lambda: _wheel(Entry(EXT, b"")), "not-platform-wheel", "no ELF file at all"
    ),
    "zero-byte-so-beside-extension": Case(
        lambda: _wheel(_ext(), Entry("demo/empty.so", b"")), VERDICT, "", _elf_only
    ),
    "elf-magic-only": Case(lambda: _wheel(Entry(EXT, b"\x7fELF")), "elf-truncated", "4 bytes"),
    "no-record": Case(lambda: _wheel(_ext(), record=False), "no-record", ""),
    "two-records": Case(_two_records, "no-record", "two top-level RECORD files"),
    "record-huge-field": Case(
        lambda: _record(b"demo/x.py," + b"x" * 200_000 + b",1\n"), "bad-record", "csv's limit"
    ),
    "record-nul": Case(lambda: _record(f"{EXT},,\n\0\n".encode()), VERDICT, "", _elf_only),
    "record-not-utf8": Case(lambda: _record(f"{EXT},,\n\xff\xfe\n".encode("latin-1")), VERDICT, ""),
}

_BOMBS: dict[str, Case] = {
    "bomb-ratio": Case(
        lambda: _wheel(Entry(EXT, b"", payload=bombs.ratio_bomb(), size=64 << 20)),
        "zip-bomb",
        "64 MiB of zeros, ratio ~1000",
    ),
    "bomb-declared-4gib": Case(
        lambda: _wheel(_ext(size=0xFFFFFFFE)), "too-large", "a 32-bit size over the limit"
    ),
    "bomb-declared-zip64-1tib": Case(
        lambda: _wheel(_ext(size=1 << 40, zip64=True)), "too-large", "a ZIP64 size"
    ),
    "bomb-lying-small-size": Case(
        lambda: _wheel(Entry(EXT, b"", payload=bombs.ratio_bomb(8 << 20), size=100_000)),
        "size-mismatch",
        "declares 100 kB, inflates to 8 MiB: cut off after the first chunk",
    ),
    "bomb-record": Case(
        lambda: bytes(
            write_zip(
                [
                    _ext(),
                    Entry(
                        "demo-1.0.dist-info/RECORD",
                        b"",
                        payload=bombs.ratio_bomb(64 << 20, b""),
                        size=64 << 20,
                    ),
                ]
            ).data
        ),
        "zip-bomb",
        "RECORD is read whole, so it is held to the limits too",
    ),
    "bomb-quoted-overlap": Case(
        _quoted_overlap, "overlapping-members", "Fifield's construction: 47 kB -> 263 MB"
    ),
    "bomb-nested": Case(
        _nested_bomb, VERDICT, "an archive inside is data, never opened", _elf_only
    ),
}

_OVERLAPS: dict[str, Case] = {
    "duplicate-names": Case(lambda: _wheel(_ext(), _ext()), "duplicate-member", ""),
    "two-entries-one-header": Case(_two_entries_one_header, "overlapping-members", ""),
    "data-runs-into-next-entry": Case(_data_into_next, "overlapping-members", ""),
    "local-name-differs": Case(
        lambda: _wheel(_ext(local_name=b"demo/other.so")), "local-header-mismatch", ""
    ),
    "local-method-differs": Case(
        lambda: _wheel(_ext(local_method=STORED)), "local-header-mismatch", ""
    ),
    "local-size-differs": Case(lambda: _wheel(_ext(local_size=1)), "local-header-mismatch", ""),
    "local-crc-differs": Case(lambda: _wheel(_ext(local_crc=1)), "local-header-mismatch", ""),
    "data-descriptor": Case(
        lambda: _wheel(_ext(descriptor=True)), VERDICT, "zeros in the local header, flag bit 3"
    ),
    "zip64-extra-fields": Case(lambda: _wheel(_ext(zip64=True)), VERDICT, "", _elf_only),
}

_PATHS: dict[str, Case] = {
    "path-traversal": Case(
        lambda: _wheel(_ext(), Entry("../../etc/x.so", elf())), "unsafe-path", "pip refuses"
    ),
    "path-traversal-inside": Case(
        lambda: _wheel(_ext(), Entry("demo/../../x.so", elf())), "unsafe-path", ""
    ),
    "absolute-path": Case(
        lambda: _wheel(_ext(), Entry("/usr/lib/x.so", elf())), "unsafe-path", "pip refuses"
    ),
    "nul-in-name": Case(
        lambda: _wheel(_ext(), Entry("demo/x.so\0.txt", elf())),
        "unsafe-path",
        "zipfile cuts the name at the NUL",
    ),
    "backslash-name": Case(
        lambda: _wheel(_ext(), Entry("..\\..\\x.txt", b"text")),
        VERDICT,
        "on Linux a backslash is a character of the name, not a separator",
    ),
    "symlink-to-host-library": Case(
        lambda: _symlink(HOST_LIBC),
        VERDICT,
        "a symlink entry is its target's text, never followed",
        _elf_only,
    ),
    "symlink-out-of-the-tree": Case(
        lambda: _symlink("../../../../../../etc/passwd", "demo/escape"), VERDICT, "", _elf_only
    ),
    "symlink-to-member": Case(
        lambda: _symlink("_mod.cpython-312-x86_64-linux-gnu.so", "demo/alias.so"),
        VERDICT,
        "",
        _elf_only,
    ),
}


def _needs_2_38(verdict: Verdict) -> bool:
    return verdict.overall_tag == "manylinux_2_38_x86_64"


def _judged_by_impl(verdict: Verdict) -> bool:
    return evasion.IMPL in verdict.elf_files and _needs_2_38(verdict)


# each installs a library needing GLIBC_2.38 and shows another reading a harmless one
# (hostile/evasion.py, tests/test_zip_as_installed.py)
_EVASIONS: dict[str, Case] = {
    "shadow-directory": Case(
        evasion.shadow_directory, "ambiguous-zip", "a directory at the offset written, too"
    ),
    "zip64-locator-decoy": Case(
        evasion.zip64_locator_decoy, "ambiguous-zip", "the locator points at a decoy record"
    ),
    "count-hides-entry": Case(
        evasion.hidden_by_count, "ambiguous-zip", "the end record counts one entry fewer"
    ),
    "unicode-path-rename": Case(
        evasion.unicode_path_rename, "ambiguous-zip", "x.py installed as _impl.so"
    ),
    "record-row-behind-form-feed": Case(
        evasion.record_row_hidden, VERDICT, "RECORD's row after \\x0c", _judged_by_impl
    ),
    "unlisted-library": Case(evasion.unlisted, VERDICT, "not in RECORD", _judged_by_impl),
    "stub-before-wheel": Case(evasion.stubbed, VERDICT, "pip installs it", _needs_2_38),
    "stub-before-zip64-wheel": Case(
        lambda: evasion.stubbed(zip64=True), VERDICT, "pip installs it", _needs_2_38
    ),
}


def _elf_case(make: Callable[[], bytes], why: str, **kw: object) -> Case:
    """A wheel whose extension is ``make()``; the expected code comes from the reference."""
    data = make()
    try:
        reference_parse(data)
        expect = VERDICT
    except ElfError as e:
        # a member without the magic is no ELF file: the wheel then has none
        expect = "not-platform-wheel" if e.code == "not-elf" else f"elf-{e.code}"
    return Case(lambda: _wheel(Entry(EXT, data)), expect, why, **kw)  # type: ignore[arg-type]


def _elf_cases() -> dict[str, Case]:
    cases = {
        f"elf-{name}": _elf_case(make, "elfwriter.CORRUPTIONS")
        for name, make in make_corruptions("x86_64").items()
    }
    cases["elf-strsz-without-strtab"] = _elf_case(
        elves.strsz_without_strtab, "names read from the ELF header and past the end"
    )
    # built here, not by the reference (slow on them): their outcomes are known
    cases["elf-long-gnu-chain"] = Case(
        lambda: _wheel(Entry(EXT, elves.long_gnu_chain())),
        "scattered-tables",
        "a pass per chain word past the kept 32 MiB: hours; read whole, its size in memory",
        slow_reference=True,
    )
    cases["elf-string-scan-bomb"] = Case(
        lambda: _wheel(Entry(EXT, elves.string_scan_bomb(2 << 20, 1 << 17))),
        VERDICT,
        "2**17 symbols named by one 2 MiB string: 2.7e11 bytes scanned",
        slow_reference=True,
    )
    cases["elf-shared-long-name"] = Case(
        lambda: _wheel(Entry(EXT, elves.string_scan_bomb(2 << 20, 1 << 17, undefined=True))),
        VERDICT,
        "2**17 undefined symbols named by one 2 MiB string: 256 GB if each is copied",
        slow_reference=True,
    )
    return cases


def all_cases() -> dict[str, Case]:
    return {**_ZIP, **_BOMBS, **_OVERLAPS, **_PATHS, **_EVASIONS, **_elf_cases()}


CASES: dict[str, Case] = all_cases()

# the bombs: each declares far more than it may inflate to
BOMB_CASES = ("bomb-ratio", "bomb-declared-4gib", "bomb-declared-zip64-1tib", "bomb-record",
              "bomb-quoted-overlap")  # fmt: skip
