"""The inflaters agree, and a bad stream gets its code.

``wheelscan._inflate`` (the ``deflate`` package's libdeflate, whole members into the caller's
buffer) and ``wheel/inflate_isal.py`` (the same interface over ISA-L, where it cannot bind) are
checked against zlib on generated streams, and the one in use against ISA-L, the streaming
inflater, on every deflated member of the real corpus wheels.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelscan.wheel import inflate as in_use
from wheelscan.wheel import inflate_isal
from wheelscan.wheel.archive import DEFLATED, WheelArchive
from wheelscan.wheel.inflate import PREFIX_SLACK, raw_inflater

from elfwriter import build_elf, sample_spec
from property_budget import examples
from wheelbuilder import build_wheel


def _libdeflate() -> list[ModuleType]:
    try:
        from wheelscan import _inflate
    except ImportError:
        return []
    return [_inflate]


# both where libdeflate could be bound; the ISA-L one alone elsewhere
IMPLEMENTATIONS = [*_libdeflate(), inflate_isal]
EACH = pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda m: m.__name__)


def test_libdeflate_is_bound_and_in_use() -> None:
    """The ``deflate`` package is a dependency: a release of it that no longer exports
    libdeflate's functions would leave wheelscan on ISA-L, silently slower. This fails then."""
    import deflate

    assert _libdeflate(), "wheelscan._inflate did not import: deflate exports no libdeflate?"
    assert in_use.inflate_into is _libdeflate()[0].inflate_into
    provider = f"deflate {deflate.__version__}"
    assert provider == in_use.LIBDEFLATE_VERSION


def deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def inflated(impl: ModuleType, payload: bytes, size: int) -> tuple[bytes, int]:
    out = bytearray(size)
    crc = impl.inflate_into(payload, out)
    return bytes(out), crc


@EACH
@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=200_000), st.integers(0, 9))
def test_inflate_into_gives_what_zlib_gives(impl: ModuleType, data: bytes, level: int) -> None:
    out, crc = inflated(impl, deflate(data, level), len(data))
    assert out == data
    assert crc == zlib.crc32(data) == impl.crc32(data)


def mixed_data(seed: int, size: int) -> bytes:
    """Runs of random bytes (which deflate stores: blocks up to 65535 bytes, the slack's
    reason) between runs of repeats (matches)."""
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size:
        n = rng.randrange(1, 90_000)
        parts.append(rng.randbytes(n) if rng.random() < 0.5 else bytes([rng.randrange(256)]) * n)
        total += n
    return b"".join(parts)[:size]


@EACH
@settings(max_examples=examples(150), deadline=None)
@given(st.integers(0, 2**32), st.integers(70_000, 600_000), st.integers(0, 9), st.data())
def test_inflate_prefix_gives_the_first_bytes(
    impl: ModuleType, seed: int, size: int, level: int, draw: st.DataObject
) -> None:
    data = mixed_data(seed, size)
    length = draw.draw(st.integers(1, size - 1))
    out = bytearray(length)
    valid = impl.inflate_prefix(deflate(data, level), out)
    assert valid == max(0, length - PREFIX_SLACK)
    assert bytes(out[:valid]) == data[:valid]


@EACH
def test_inflate_prefix_refuses_a_stream_that_ends_within_the_buffer(impl: ModuleType) -> None:
    data = random.Random(2).randbytes(100_000)
    for length in (len(data), len(data) + 1):
        with pytest.raises(impl.InflateError) as caught:
            impl.inflate_prefix(deflate(data), bytearray(length))
        assert caught.value.code == "size-mismatch"


@EACH
def test_inflate_prefix_refuses_bad_deflate_within_the_prefix(impl: ModuleType) -> None:
    payload = bytearray(deflate(mixed_data(3, 300_000), 1))
    payload[0] |= 0b110  # block type 3: reserved
    with pytest.raises(impl.InflateError) as caught:
        impl.inflate_prefix(bytes(payload), bytearray(200_000))
    assert caught.value.code == "bad-deflate"


@EACH
def test_a_stream_of_another_size_is_a_size_mismatch(impl: ModuleType) -> None:
    data = random.Random(1).randbytes(100_000)
    payload = deflate(data)
    for size in (len(data) - 1, len(data) + 1, 0):
        with pytest.raises(impl.InflateError) as caught:
            inflated(impl, payload, size)
        assert caught.value.code == "size-mismatch", size


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff" * 64, deflate(b"x" * 100_000)[:20], bytes([0x07]) + bytes(100)],
    ids=["empty", "invalid-block-type", "truncated", "reserved-block"],
)
@EACH
def test_a_broken_stream_is_refused_with_a_code(impl: ModuleType, payload: bytes) -> None:
    with pytest.raises(impl.InflateError) as caught:
        inflated(impl, payload, 100_000)
    assert caught.value.code in ("bad-deflate", "size-mismatch")
    assert caught.value.reason


@EACH
def test_the_output_buffer_must_be_writable(impl: ModuleType) -> None:
    with pytest.raises((TypeError, ValueError, BufferError)):
        impl.inflate_into(deflate(b"abc"), b"xxx")


def isal_inflate(payload: memoryview) -> bytes:
    inflater = raw_inflater()
    return bytes(inflater.decompress(payload)) + bytes(inflater.flush())


def test_both_inflaters_agree_on_every_member_of_the_real_wheels(real_wheels: list[Path]) -> None:
    checked = 0
    for path in real_wheels[::4]:
        with WheelArchive.open(path) as archive:
            for member in archive.members:
                if member.method != DEFLATED or member.size > 64 << 20:
                    continue
                payload = archive.payload(member)
                out, crc = inflated(in_use, bytes(payload), member.size)
                assert crc == member.crc, member.name
                assert out == isal_inflate(payload), member.name
                checked += 1
    assert checked > 500


FALLBACK = """
import sys
from wheelscan.wheel import inflate, inflate_isal
print(inflate.inflate_into is inflate_isal.inflate_into, inflate.LIBDEFLATE_VERSION)
"""


def test_without_libdeflate_to_bind_isal_inflates(tmp_path: Path) -> None:
    """A ``deflate`` whose extension is not a loaded library (here a stand-in package on the
    path): binding fails at import with a reason, and wheelscan inflates with ISA-L."""
    import os
    import subprocess
    import sys

    fake = tmp_path / "deflate"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '0.0'\n")
    (fake / "_deflate.py").write_text("")  # importable, but no shared object to look into
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", FALLBACK], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "None"]
    command = [sys.executable, "-c", "import wheelscan._inflate"]
    reason = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    assert reason.returncode != 0
    assert "ImportError: deflate 0.0" in reason.stderr


def test_an_unbound_libdeflate_is_said_and_the_verdict_kept(tmp_path: Path) -> None:
    """A ``deflate`` whose extension exports no libdeflate (a release that drops them): the
    run falls back to ISA-L with the same verdict, and says so in one line."""
    fake = tmp_path / "fake" / "deflate"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "0.99"\n')
    (fake / "_deflate.py").write_text("")  # loaded by Python, but no shared object to bind
    wheel = tmp_path / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    wheel.write_bytes(
        build_wheel(
            {
                "demo/_m.cpython-312-x86_64-linux-gnu.so": build_elf(
                    sample_spec("x86_64", interpreter=None)
                )
            }
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(fake.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    slow = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--json", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    usual = subprocess.run(
        [sys.executable, "-m", "wheelscan", "show", "--json", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert slow.stderr.startswith("wheelscan show: libdeflate not found (deflate 0.99")
    assert "inflating with ISA-L" in slow.stderr and len(slow.stderr.splitlines()) == 1
    assert usual.stderr == ""
    verdict = json.loads(slow.stdout)["results"][0]
    assert verdict == json.loads(usual.stdout)["results"][0]
