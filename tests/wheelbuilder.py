"""Build small wheels in memory for the tests: a zip with WHEEL and RECORD, members as given."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping


def build_wheel(
    files: Mapping[str, bytes],
    name: str = "demo",
    version: str = "1.0",
    compression: int = zipfile.ZIP_DEFLATED,
    record_extra: tuple[str, ...] = (),
    record: bool = True,
) -> bytes:
    """A wheel holding ``files`` (path -> content), listed in RECORD as PEP 376 wants."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\n"
    )
    rows = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows += list(record_extra)
    rows.append(f"{dist_info}/RECORD,,")
    if record:
        contents[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return out.getvalue()
