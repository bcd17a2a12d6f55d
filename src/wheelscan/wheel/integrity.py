"""``--strict``: a wheel checked byte for byte as an installer would check it, and more.

The fast mode judges a wheel's ELF files from as few bytes as settle their facts
(docs/trust.md): right for statistics over an index, not for a gate, since a crafted stream
can show it other bytes than an installer writes. A strict reading leaves nothing unread:

- every member is inflated whole, its CRC-32 and size checked (``zipfile`` refuses a wrong
  CRC as it extracts; a stream shorter than declared with the CRC of the bytes it has is
  installed by pip, and refused here all the same: two readers would see two files);
- every member's sha256 and size are compared with RECORD's (pip does not check them: a
  mismatch is a finding, the wheel is installed as it is), every member must be listed in
  RECORD (one that is not is installed all the same), every listed file must exist;
- the ``.dist-info`` directory must be the file name's project and version (pip refuses the
  wheel otherwise), and WHEEL's ``Tag`` lines the file name's tags;
- the file's sha256 must be the index's, where the index gives one (pip refuses it otherwise).

What an installer refuses is an error (``StrictError``: no verdict); what it installs all
the same is a problem reported beside the verdict (``IntegrityProblem``: a finding).
"""

from __future__ import annotations

import base64
import csv
import io
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wheelscan.model import IntegrityProblem
from wheelscan.wheel.archive import DEFLATED, STORED, Member, WheelArchive, WheelError
from wheelscan.wheel.inflate import RawInflaterError, crc32, raw_inflater

if TYPE_CHECKING:
    import hashlib

# Inflated in chunks of this size: memory stays flat whatever a member's size
CHUNK = 1 << 20
# RECORD lists itself without a hash (PEP 376), and so may its signatures (PEP 427)
_UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")


class StrictError(WheelError):
    """What an installer refuses, or two readers would see differently: no verdict."""


@dataclass(frozen=True, slots=True)
class Digest:
    """A member's content as RECORD describes it."""

    sha256: str  # urlsafe base64 without padding, as RECORD spells it
    size: int

    @classmethod
    def of(cls, content: bytes | memoryview) -> Digest:
        return cls(_record_hash(_sha256(content).digest()), len(content))


def check_wheel(
    archive: WheelArchive, filename: str, file_sha256: str | None = None
) -> tuple[IntegrityProblem, ...]:
    """Every strict check of this module on ``archive``; raises StrictError for the first
    thing an installer would refuse, returns what it would install all the same."""
    info_dir = check_identity(archive, filename, file_sha256)
    return check_contents(archive, filename, info_dir)


def check_identity(archive: WheelArchive, filename: str, file_sha256: str | None) -> str:
    """The checks an installer makes before extracting anything: the file is the index's,
    and its ``.dist-info`` directory (returned) is the file name's project and version."""
    if file_sha256 is not None:
        _check_file_sha256(archive, file_sha256)
    return _dist_info_dir(archive, filename)


def check_contents(
    archive: WheelArchive,
    filename: str,
    info_dir: str,
    known: Mapping[str, Digest] | None = None,
) -> tuple[IntegrityProblem, ...]:
    """Every member inflated whole and checked, then compared with RECORD and WHEEL.
    ``known``: digests of members already inflated whole and checked (a strict reading's
    ELF members, parsed from their whole content): not inflated again."""
    known = known or {}
    digests = {
        member.name: known.get(member.name) or _inflated_digest(archive, member)
        for member in _files(archive)
    }
    problems = list(_record_problems(archive, info_dir, digests))
    problems.extend(_tag_problems(archive, info_dir, filename))
    return tuple(problems)


def _files(archive: WheelArchive) -> Iterator[Member]:
    return (m for m in archive.members if not m.name.endswith("/"))


def _inflated_digest(archive: WheelArchive, member: Member) -> Digest:
    """The member inflated whole, in chunks, its CRC-32 and size checked as ``zipfile``
    checks them, and more: a stream that ends early or runs on is refused too."""
    archive.check_limits(member)
    payload = archive.payload(member)
    sha = _sha256()
    crc = 0
    size = 0
    if member.method == STORED:
        for start in range(0, len(payload), CHUNK):
            chunk = payload[start : start + CHUNK]
            sha.update(chunk)
            crc = crc32(chunk, crc)
        size = len(payload)
    elif member.method == DEFLATED:
        inflater = raw_inflater()  # ISA-L: three times zlib's speed
        try:
            for start in range(0, len(payload), CHUNK):
                data = inflater.decompress(payload[start : start + CHUNK], CHUNK)
                while True:
                    size += len(data)
                    if size > member.size:
                        raise StrictError(
                            "size-mismatch", "inflates past its declared size", member.name
                        )
                    sha.update(data)
                    crc = crc32(data, crc)
                    if not inflater.unconsumed_tail:
                        break
                    data = inflater.decompress(inflater.unconsumed_tail, CHUNK)
            if not inflater.eof:
                raise StrictError("truncated", "the deflate stream does not end", member.name)
            if inflater.unused_data:
                raise StrictError(
                    "trailing-data", "bytes follow the end of the deflate stream", member.name
                )
        except RawInflaterError as e:
            raise StrictError("bad-deflate", str(e), member.name) from e
    else:
        raise StrictError("unsupported-compression", f"method {member.method}", member.name)
    if size != member.size:
        raise StrictError(
            "size-mismatch", f"{size} bytes, the directory says {member.size}", member.name
        )
    if crc != member.crc:
        raise StrictError("crc-mismatch", "CRC-32 differs from the directory's", member.name)
    return Digest(_record_hash(sha.digest()), size)


def _record_hash(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sha256(data: bytes | memoryview = b"") -> hashlib._Hash:
    import hashlib  # OpenSSL's bindings, a few ms of start-up: only --strict hashes

    return hashlib.sha256(data)


def _check_file_sha256(archive: WheelArchive, expected: str) -> None:
    sha = _sha256()
    for start in range(0, archive.size, CHUNK):
        sha.update(archive.reader.read_at(start, min(CHUNK, archive.size - start)))
    if sha.hexdigest() != expected.lower():
        raise StrictError("sha256-mismatch", "the file's sha256 differs from the index's")


def _dist_info_dir(archive: WheelArchive, filename: str) -> str:
    """The one top-level ``.dist-info`` directory, which must name the file's project and
    version (pip: ``wheel_dist_info_dir`` and the metadata's version check)."""
    # packaging's utils import its tags (45 ms): only a strict reading pays for them
    from packaging.utils import (
        InvalidWheelFilename,
        canonicalize_name,
        canonicalize_version,
        parse_wheel_filename,
    )

    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as e:
        raise StrictError("bad-filename", str(e)) from e
    dirs = sorted(
        {
            m.name.split("/", 1)[0]
            for m in archive.members
            if "/" in m.name and m.name.split("/", 1)[0].endswith(".dist-info")
        }
    )
    if len(dirs) != 1:
        raise StrictError("dist-info-mismatch", f"{len(dirs)} top-level .dist-info directories")
    stem = dirs[0].removesuffix(".dist-info")
    dir_name, _, dir_version = stem.rpartition("-")
    if canonicalize_name(dir_name) != name or canonicalize_version(
        dir_version
    ) != canonicalize_version(version):
        raise StrictError(
            "dist-info-mismatch",
            f"{dirs[0]} is not {name} {version}, as the file name says",
            dirs[0],
        )
    return dirs[0]


def _text(archive: WheelArchive, name: str) -> str | None:
    member = archive.find(name)
    if member is None:
        return None
    return bytes(archive.read(member)).decode("utf-8", "replace")


def _record_problems(
    archive: WheelArchive, info_dir: str, digests: dict[str, Digest]
) -> Iterator[IntegrityProblem]:
    record_name = f"{info_dir}/RECORD"
    text = _text(archive, record_name)
    if text is None:
        raise StrictError("no-record", f"no {record_name}")
    # as pip reads it: csv over str.splitlines(), which also ends a line at \x0b, \x0c,
    # \x1c-\x1e, \x85, \u2028 and \u2029
    try:
        rows = [row for row in csv.reader(io.StringIO("\n".join(text.splitlines()))) if row]
    except csv.Error as e:
        raise StrictError("bad-record", f"RECORD: {e}", record_name) from e
    listed: dict[str, tuple[str, str]] = {}
    for row in rows:
        path = posixpath.normpath(row[0])
        hash_field = row[1] if len(row) > 1 else ""
        size_field = row[2] if len(row) > 2 else ""
        listed[path] = (hash_field, size_field)
    for name, digest in digests.items():
        entry = listed.get(posixpath.normpath(name))
        if entry is None:
            yield IntegrityProblem(
                "unrecorded-member", name, "not listed in RECORD, installed all the same"
            )
            continue
        hash_field, size_field = entry
        if not hash_field:
            if name.rpartition("/")[2] not in _UNHASHED or not name.startswith(info_dir + "/"):
                yield IntegrityProblem("unhashed-member", name, "RECORD gives it no hash")
            continue
        algorithm, _, value = hash_field.partition("=")
        if algorithm != "sha256":
            yield IntegrityProblem(
                "record-hash-mismatch", name, f"RECORD's hash is {algorithm}, not sha256"
            )
        elif value != digest.sha256:
            yield IntegrityProblem(
                "record-hash-mismatch", name, "the member's sha256 differs from RECORD's"
            )
        if size_field and size_field != str(digest.size):
            yield IntegrityProblem(
                "record-size-mismatch", name, f"{digest.size} bytes, RECORD says {size_field}"
            )
    present = {posixpath.normpath(name) for name in digests}
    for path in sorted(set(listed) - present):
        yield IntegrityProblem(
            "record-lists-missing-file", path, "listed in RECORD, not in the wheel"
        )


def _tag_problems(
    archive: WheelArchive, info_dir: str, filename: str
) -> Iterator[IntegrityProblem]:
    """WHEEL's ``Tag`` lines against the file name's tags (PEP 427: the file name is the
    expanded tags' compressed form); installers go by the file name."""
    text = _text(archive, f"{info_dir}/WHEEL")
    if text is None:
        yield IntegrityProblem("wheel-tag-mismatch", f"{info_dir}/WHEEL", "no WHEEL file")
        return
    import email.parser  # 8 ms of imports: a strict reading's only

    from packaging.utils import parse_wheel_filename

    declared = {str(tag) for tag in parse_wheel_filename(filename)[3]}
    message = email.parser.Parser().parsestr(text)
    tags = {value.strip() for value in message.get_all("Tag") or []}
    if tags != declared:
        only_wheel = sorted(tags - declared)
        only_name = sorted(declared - tags)
        detail = "; ".join(
            part
            for part in (
                f"WHEEL only: {', '.join(only_wheel)}" if only_wheel else "",
                f"file name only: {', '.join(only_name)}" if only_name else "",
            )
            if part
        )
        yield IntegrityProblem("wheel-tag-mismatch", f"{info_dir}/WHEEL", detail)
