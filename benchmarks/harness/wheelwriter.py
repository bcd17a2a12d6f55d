"""Write a wheel whose members arrive as streams of chunks, so a 1 GiB member is never held
in memory; the layout is ``tests/wheelbuilder.py``'s: the members, WHEEL, then RECORD."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path

FIXED_DATE = (2020, 1, 1, 0, 0, 0)  # the same bytes on every build


def _record_row(path: str, digest: bytes, size: int) -> str:
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{path},sha256={encoded},{size}"


def _write_member(zf: zipfile.ZipFile, path: str, chunks: Iterable[bytes], size: int) -> str:
    info = zipfile.ZipInfo(path, FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o755 << 16
    info.file_size = size  # tells zipfile up front whether ZIP64 is needed
    digest = hashlib.sha256()
    written = 0
    with zf.open(info, "w") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
            written += len(chunk)
    if written != size:
        raise ValueError(f"{path}: {written} bytes written, {size} announced")
    return _record_row(path, digest.digest(), size)


def write_wheel(
    target: Path, members: dict[str, tuple[Iterable[bytes], int]], compresslevel: int = 6
) -> None:
    """``members``: archive path -> (chunks, total size). Written to a temporary name first,
    so an interrupted build never leaves a wheel that looks complete."""
    name, version = target.name.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info"
    tag = "-".join(target.name.removesuffix(".whl").split("-")[-3:])
    wheel_meta = (
        f"Wheel-Version: 1.0\nGenerator: wheelscan-benchmarks\nRoot-Is-Purelib: false\nTag: {tag}\n"
    ).encode()
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        rows = [_write_member(zf, path, chunks, size) for path, (chunks, size) in members.items()]
        rows.append(_write_member(zf, f"{dist_info}/WHEEL", [wheel_meta], len(wheel_meta)))
        rows.append(f"{dist_info}/RECORD,,")
        zf.writestr(
            zipfile.ZipInfo(f"{dist_info}/RECORD", FIXED_DATE),
            "\n".join(rows) + "\n",
            zipfile.ZIP_DEFLATED,
        )
    partial.replace(target)
