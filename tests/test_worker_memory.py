"""A worker that reads wheels on threads (engine/inflight.py) stays within the memory limit
the pool gives it (RLIMIT_DATA): its threads' scratch mappings, its threads' stacks; and a
wheel that meets the limit gets ``out-of-memory``, however the allocation failed."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wheelscan.engine.pool import LocalPool
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.contents import VERIFY_ENV
from wheelscan.wheel.scratch import scratch

from elfwriter import build_elf, sample_spec
from wheelbuilder import build_wheel

MiB = 1 << 20


class _ScratchUser:
    """Uses a member's worth of this thread's scratch, as a streamed member does (its first
    page written), and holds it a moment, so that the worker's threads hold theirs at once;
    records whether it got it. Touches no network: only the URL sends it to a thread."""

    def __call__(self, ref: WheelRef) -> WheelResult:
        assert ref.size is not None
        try:
            with scratch(ref.size, populate=4096) as buffer:
                buffer[0] = 1
                time.sleep(0.02)
            verdict = AuditError(ref.filename, "scratch-granted", "")
        except (OSError, MemoryError) as e:
            verdict = AuditError(ref.filename, "scratch-refused", repr(e))
        return WheelResult(ref, None, None, verdict, 0, 0, 0.0)


class _Idle:
    """Holds a moment, so that the worker starts a thread for each wheel in flight; says
    which worker read the wheel."""

    def __call__(self, ref: WheelRef) -> WheelResult:
        time.sleep(0.1)
        verdict = AuditError(ref.filename, "read", str(os.getpid()))
        return WheelResult(ref, None, None, verdict, 0, 0, 0.0)


def _remote_refs(names: list[str], size: int) -> list[WheelRef]:
    # the port is never connected to: the tasks above fetch nothing
    return [
        WheelRef(f"{n}-1.0-py3-none-any.whl", n, "1.0", f"http://127.0.0.1:9/{n}.whl", size=size)
        for n in names
    ]


def test_threads_give_their_scratch_back_within_the_workers_limit() -> None:
    """32 threads each with a 64 MiB mapping kept were 2 GiB of a 1 GiB limit, and one
    that streamed a large member kept a mapping of its size: the threads map what they use
    while they use it, so a worker holds its largest member at most, whatever its threads."""
    small = _remote_refs([f"s{i}" for i in range(48)], 1 * MiB)
    large = _remote_refs([f"l{i}" for i in range(4)], 400 * MiB)
    more = _remote_refs([f"t{i}" for i in range(48)], 1 * MiB)
    pool = LocalPool(_ScratchUser(), workers=1, timeout=30.0, memory_limit=_data_now() + (1 << 30))
    results = list(pool.results(small + large + more))
    assert len(results) == 100
    refused = [r.verdict for r in results if r.verdict.code != "scratch-granted"]  # type: ignore[union-attr]
    assert refused == []


def _data_now() -> int:
    """This process's data segment (VmData): what a forked worker starts with, counted
    against the RLIMIT_DATA the pool sets in it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmData in /proc/self/status")


def test_a_worker_starts_no_more_threads_than_its_limit_holds() -> None:
    """A thread's stack (8 MiB) counts against RLIMIT_DATA: at 256 MiB a worker could not
    start 32 of them, and its receiving thread died on "can't start new thread", leaving
    every wheel queued on it to the pool's timeout (which killed the worker, and read each
    wheel again alone on a new one). Fewer threads read them all, on the one worker."""
    refs = _remote_refs([f"w{i}" for i in range(40)], 1 * MiB)
    # 256 MiB beyond what the forked worker inherits (pytest's own data, larger in a
    # pytest-xdist worker that has run other tests)
    limit = _data_now() + 256 * MiB
    pool = LocalPool(_Idle(), workers=1, timeout=10.0, memory_limit=limit)
    verdicts = [r.verdict for r in pool.results(refs)]
    assert [v.code for v in verdicts] == ["read"] * 40  # type: ignore[union-attr]
    assert len({v.reason for v in verdicts}) == 1  # type: ignore[union-attr]


_POOL_AT_A_LIMIT = """
import json, sys
from wheelscan.engine.pool import LocalPool
from wheelscan.engine.task import AuditTask
from wheelscan.sources.base import WheelRef

def data_now():
    for line in open("/proc/self/status"):
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024

names = [p.rsplit("/", 1)[1] for p in sys.argv[1:]]
refs = [WheelRef(n, n.split("-")[0], "1.0", p) for n, p in zip(names, sys.argv[1:])]
pool = LocalPool(AuditTask(), workers=1, timeout=30.0, memory_limit=data_now() + 384 * 2**20)
print(json.dumps({r.ref.project: getattr(r.verdict, "code", "ok") for r in pool.results(refs)}))
"""


def test_a_member_mapped_past_the_limit_is_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scratch for a 512 MiB member inflated whole is a mapping (mmap), which fails with
    ENOMEM past RLIMIT_DATA, not with MemoryError: still the wheel's ``out-of-memory``, not
    ``io-error`` (transient either way, but the one the README promises); and the worker
    reads on. Inflated whole as WHEELSCAN_VERIFY asks (read by a prefix, its tables at its
    start, it would need no such mapping), by a pool in a process of its own: a worker
    forked from this one would inherit the scratch an earlier test left mapped, and need no
    new mapping (the test failed in the whole suite, never alone)."""
    elf = build_elf(sample_spec("x86_64", interpreter=None))
    # random bytes enough that the member is no zip bomb (max_compression_ratio)
    member = elf + os.urandom(MiB) + bytes(512 * MiB - len(elf) - MiB)
    paths = []
    for name, content in [("a", elf), ("big", member), ("b", elf)]:
        path = tmp_path / f"{name}-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        path.write_bytes(build_wheel({f"{name}/_mod.cpython-312-x86_64-linux-gnu.so": content}))
        paths.append(str(path))
    del member
    monkeypatch.setenv(VERIFY_ENV, "1")
    done = subprocess.run(
        [sys.executable, "-c", _POOL_AT_A_LIMIT, *paths],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    codes = json.loads(done.stdout)
    assert codes == {"a": "ok", "big": "out-of-memory", "b": "ok"}, done.stderr


_THREADS_THAT_CANNOT_START = """
import queue, resource, sys, threading
from wheelscan.engine.inflight import _Readers

def data_now():
    for line in open("/proc/self/status"):
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024

gate = threading.Event()
ready = queue.SimpleQueue()
none_started = _Readers(lambda ref: ref, ready, 32)
some_started = _Readers(lambda ref: (gate.wait(), ref)[1], ready, 32)
_, hard = resource.getrlimit(resource.RLIMIT_DATA)
# room for the stacks of two threads (8 MiB each), not three; then for none
resource.setrlimit(resource.RLIMIT_DATA, (data_now() + 20 * 2**20, hard))
some = [some_started.submit(i) for i in range(6)]
resource.setrlimit(resource.RLIMIT_DATA, (data_now() + 2**20, hard))
none = [none_started.submit(i) for i in range(2)]
gate.set()
print((some, none, sorted(ready.get() for _ in range(sum(some))), threading.active_count()))
"""


def test_a_thread_that_cannot_start_leaves_its_wheel_to_the_others() -> None:
    """Past RLIMIT_DATA a thread cannot start: the wheel waits for a thread that did
    (each of the six is read, by two threads), or, none started, goes back to the worker's
    own thread (``submit`` says False), instead of killing the thread that receives them."""
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_THAT_CANNOT_START],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    some, none, read, threads = ast.literal_eval(out)
    assert some == [True] * 6
    assert none == [False, False]
    assert read == [0, 1, 2, 3, 4, 5]
    assert threads == 3  # this one and the two that started
