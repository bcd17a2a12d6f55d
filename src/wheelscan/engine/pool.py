"""A local pool of worker processes with crash isolation and per-wheel time limits.

Each worker audits one local wheel at a time, with the next one already waiting in its pipe
(so it never idles between wheels for the parent to answer); remote wheels, which mostly wait
on the network, it reads several at once (engine/inflight.py: a few to 128, by round trip). The
parent always knows which wheel a worker was on when it died (a segfault in a library, the OOM
killer, ``kill -9``) or went silent: that wheel gets an error record, the one waiting behind
it goes to another worker, the worker is replaced, the run goes on (a worker lost while it
read several remote wheels has each of them read again alone, to tell which it was).
Wheels are pulled from the caller's iterator only to keep each worker's queue at
``QUEUE_DEPTH`` and a short look-ahead (``LOOKAHEAD``) full, so memory stays flat however
large the index is.

From the look-ahead, a worker takes a wheel of the release it is on, else one of a release
no other worker is on: a release's wheels for each Python version carry the same vendored
libraries byte for byte (40-70% of the ELF bytes of a second numpy, scipy, pyarrow, pillow or
onnxruntime wheel), and each worker parses a library once (wheel/dedupe.py).

Workers die with their parent, however it dies (issue #13): ``kill -9`` of the parent alone
left them running for minutes, holding the store's run lock, so that no later run could begin.
The kernel kills each worker when its parent dies (PR_SET_PDEATHSIG, set first thing in the
worker), and a worker holds nothing a later run needs, nor anything that keeps its pipe open:
it closes the parent's ends of every worker's pipe it inherited (its own included, so that its
pipe ends when the parent does), and the store closes its run lock in every forked child
(store/runs.py). Where prctl is missing (not Linux), that pipe is the fallback: the parent's
death closes it, so a waiting worker reads EOF and a busy one fails to send its result, and
either exits. No second pipe watched by a thread: it would only end sooner a wheel whose
result nobody can receive, in a process that holds nothing any more.

The executor interface is one method, ``results(refs) -> Generator[WheelResult]``, so a
distributed engine can replace this one without touching the CLI or the store; closing the
generator stops the work at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Generic, Protocol, TypeVar

from wheelscan.engine.forking import current_mask, signals_held
from wheelscan.engine.inflight import NEAR_ROUND_TRIP, serve, wheels_in_flight
from wheelscan.model import WheelResult
from wheelscan.policy.verdict import AuditError
from wheelscan.sources.base import WheelRef
from wheelscan.wheel.remote import is_url

log = logging.getLogger(__name__)

# Wheels sent to a worker ahead of its results: the one it audits and one waiting in its pipe
QUEUE_DEPTH = 2
# Wheels read ahead of the workers, among which each chooses one of its own release
LOOKAHEAD = 64

# What a task returns for a wheel: a WheelResult (engine/task.py's AuditTask), or the same
# already encoded for the store (engine/run.py's PreparingTask). An executor yields what its
# task returns, and a WheelResult (``_failed``) for a wheel whose worker was lost.
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
Task = Callable[[WheelRef], R]
Release = tuple[str, str]  # project, version


class Executor(Protocol[R_co]):
    def results(self, refs: Iterable[WheelRef]) -> Generator[R_co | WheelResult, None, None]: ...


# A worker collects garbage itself, after every wheel (the young generations) and after
# every FULL_COLLECTION_EVERY wheels (all of them)
FULL_COLLECTION_EVERY = 256


# The signals that stop a run (cli/interrupt.py), held while a worker is forked
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

# prctl(2): the signal the kernel sends this process when its parent dies
PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded in the parent once, before it forks (not in every worker)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: most commands that import the pool never start it

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this worker when its parent dies, SIGKILL included.

    Strictly, when the parent's thread that forked it ends: the pool runs in that thread.
    ``parent_pid``: the pool's process, when it forked this worker itself.
    """
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # a parent that died before prctl sends no signal: this worker has been handed to another
    # (init, or a subreaper) already
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)


def _worker_main(
    conn: multiprocessing.connection.Connection,
    task: Task[Any],
    parent_pid: int | None,
    parent_ends: list[multiprocessing.connection.Connection],
    memory_limit: int | None = None,
) -> None:
    _die_with_parent(parent_pid)
    if memory_limit is not None:
        # a hard bound on what one wheel may make a worker allocate, whatever slipped past
        # the readers' own bounds: past it an allocation fails (MemoryError, the wheel's
        # error record) instead of the machine swapping or the OOM killer choosing a victim
        # the soft limit only, within the hard one this process inherited (ulimit -d)
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
    # the parent's ends of the pipes, this worker's and its elder siblings': held here, they
    # would keep each pipe open after the parent's death, and no worker would see it end
    for end in parent_ends:
        end.close()
    # Ctrl-C and a terminal's hangup reach every process of the foreground group: stopping
    # is the parent's to handle (it stops feeding work, keeps finished results, stops its
    # workers). SIGTERM, sent to one process, keeps its default: multiprocessing's
    # terminate() and a user's kill of one worker stop it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # blocked by its fork (_spawn); unblocked whatever the parent's mask was before: SIGINT and
    # SIGHUP are ignored, and SIGTERM must reach it (terminate() stops workers with it)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # A wheel's facts are up to tens of thousands of small tuples (145k on the benchmark
    # corpus), each one counted towards an automatic collection that then walks the facts
    # cache too: 5-8% of a worker's time. They are freed by reference counting once the result
    # is sent, so collection waits for the wheel's end; what the worker inherited from the
    # parent (imports, policies) is frozen out of every collection. (Measured on CPython
    # 3.11; from 3.14, whose collector is incremental, collect(1) is one increment.)
    gc.freeze()
    gc.disable()
    done = 0

    def collect() -> None:
        nonlocal done
        done += 1
        gc.collect(2 if done % FULL_COLLECTION_EVERY == 0 else 1)

    serve(conn, task, collect)


@dataclass
class _Worker:
    process: BaseProcess
    conn: multiprocessing.connection.Connection
    # sent, in order: the first is being audited (since ``started``), the rest wait in the
    # pipe, so that the worker never waits for the parent between two wheels
    queued: deque[WheelRef] = field(default_factory=deque)
    started: float = 0.0
    release: Release | None = None  # of the last wheel it was given: its cache holds it
    # reading one wheel alone, that was being read beside others on a worker that was lost
    alone: bool = False

    @property
    def ref(self) -> WheelRef | None:
        return self.queued[0] if self.queued else None


def _depth(worker: _Worker, depth: int) -> int:
    """How many wheels to keep queued on a worker: ``depth``, or, while it reads remote
    wheels, as many as it reads at once and one more (engine/inflight.py): more where a
    round trip is longer, as this process's requests (the index's pages) found it."""
    last = worker.queued[-1] if worker.queued else None
    if depth > 1 and last is not None and is_url(last.location):
        # imported here: a local audit imports no HTTP code (urllib3 is 30 ms of start-up)
        from wheelscan.wheel.httpclient import quickest_answer

        seen = quickest_answer()
        if seen is not None and seen < NEAR_ROUND_TRIP:
            # few at once only where the files' own host answered from near by: an index's
            # pages may be near and its files far (a LAN index linking to a CDN)
            seen = quickest_answer(last.location)
        return max(depth, wheels_in_flight(seen) + 1)
    return depth


def _reads_several(worker: _Worker) -> bool:
    """Whether the worker reads its wheels several at once (remote ones: engine/inflight.py),
    answering them in any order."""
    return bool(worker.queued) and is_url(worker.queued[0].location)


def _send_ref(conn: multiprocessing.connection.Connection, ref: WheelRef) -> None:
    """Send a wheel to a worker, which reads it with ``conn.recv()``: pickled by ``pickle``
    itself, not multiprocessing's own pickler, which builds a pickler and copies its table
    of reducers for each message (14 µs a wheel against 9, in the parent, for each wheel)."""
    conn.send_bytes(pickle.dumps(ref, pickle.HIGHEST_PROTOCOL))


def _failed(ref: WheelRef, code: str, reason: str, seconds: float) -> WheelResult:
    return WheelResult(
        ref=ref,
        sha256=ref.sha256,
        facts=None,
        verdict=AuditError(ref.filename, code, reason),
        bytes_read=0,
        elf_bytes=0,
        seconds=seconds,
    )


def release_of(ref: WheelRef) -> Release:
    return (ref.project, ref.version)


class _Backlog:
    """The caller's wheels, read at most ``LOOKAHEAD`` ahead, handed out release by release.

    A wheel is read from the caller only while none already read will do: the first wheel
    goes out as soon as it is listed, not once ``LOOKAHEAD`` are (over a slow link that was
    one more round of the index's pages before any worker began: 64 pages where 32 or 50
    are asked at once)."""

    def __init__(self, refs: Iterable[WheelRef]) -> None:
        self._refs = iter(refs)
        self._window: list[WheelRef] = []
        self._releases: list[Release] = []  # the window's, in step: searched at C speed
        self._exhausted = False

    def take(self, own: Release | None, others: set[Release | None]) -> WheelRef | None:
        """The first wheel of release ``own``; else the first of a release not in ``others``
        (the releases other workers are on); else the first.

        Sources list a release's wheels together (a project's page, a directory's sorted
        names), so once a wheel of a free release is read, ``own``'s are not looked for
        further on."""
        choice = self._choice(own, others)
        while choice is None and not self._exhausted and len(self._window) < LOOKAHEAD:
            ref = next(self._refs, None)
            if ref is None:
                self._exhausted = True
                break
            release = release_of(ref)
            self._window.append(ref)
            self._releases.append(release)
            if release == own or release not in others:
                choice = len(self._window) - 1
        if choice is None:
            if not self._window:
                return None
            choice = 0
        del self._releases[choice]
        return self._window.pop(choice)

    def _choice(self, own: Release | None, others: set[Release | None]) -> int | None:
        """Where the wheel to hand out is among those read, if one will do."""
        releases = self._releases
        if own is not None:
            with contextlib.suppress(ValueError):
                return releases.index(own)
        return next((i for i, release in enumerate(releases) if release not in others), None)


class LocalPool(Generic[R]):
    """``workers`` processes running ``task`` on one wheel at a time each."""

    def __init__(
        self,
        task: Task[R],
        workers: int | None = None,
        timeout: float = 300.0,
        context: Any = None,
        memory_limit: int | None = None,
        keep_workers: bool = False,
    ) -> None:
        """``memory_limit``: each worker's data, in bytes (RLIMIT_DATA: its heap and anonymous
        mappings, not the wheels it maps read-only). ``keep_workers``: the workers idle at
        the end of ``results`` are kept for the next call (until ``close``), not stopped:
        the Dask engine runs one call per batch, and a fork per batch was a tenth of a
        batch's work on the benchmark corpus."""
        self.task = task
        self.size = max(1, workers or os.cpu_count() or 1)
        self.timeout = timeout
        self.memory_limit = memory_limit
        # fork: workers start in milliseconds (they log nothing: they return records)
        self.context = context or multiprocessing.get_context("fork")
        self.replaced = 0
        # the parent's ends of the live workers' pipes: each new worker closes them all
        self._parent_ends: set[multiprocessing.connection.Connection] = set()
        self.keep_workers = keep_workers
        self._kept: list[_Worker] = []
        _prctl()

    def close(self) -> None:
        """Stop the workers kept from the last ``results``."""
        kept, self._kept = self._kept, []
        self._shutdown(kept)

    def _start(self) -> list[_Worker]:
        """The workers of a ``results`` call: the kept ones still alive, and new ones."""
        kept, self._kept = self._kept, []
        alive = [w for w in kept if w.process.is_alive()]
        self._shutdown([w for w in kept if w not in alive])
        for worker in alive:
            worker.release, worker.alone = None, False
        workers = list(alive)
        try:
            while len(workers) < self.size:
                workers.append(self._spawn())
        except BaseException:
            # a stop signal noted while one forked is raised after it: the workers started
            # before it would be nobody's (results() has no list of them yet)
            self._shutdown(workers)
            raise
        return workers

    def _finish(self, workers: list[_Worker]) -> None:
        """Stop the workers, or keep the idle ones for the next call."""
        if not self.keep_workers:
            self._shutdown(workers)
            return
        idle = [w for w in workers if not w.queued and w.process.is_alive()]
        self._shutdown([w for w in workers if w not in idle])
        self._kept = idle

    def _spawn(self) -> _Worker:
        mask = current_mask()  # taken before anything is changed, put back after the fork
        parent, child = self.context.Pipe()
        self._parent_ends.add(parent)
        # a forked worker is this process's child and inherits every descriptor; one started
        # by a fork server or spawned inherits only what it is sent (and pickling a pipe's
        # end would send a copy)
        forked = self.context.get_start_method() == "fork"
        process = self.context.Process(
            target=_worker_main,
            args=(
                child,
                self.task,
                os.getpid() if forked else None,
                list(self._parent_ends) if forked else [],
                self.memory_limit,
            ),
            daemon=True,
        )
        # the stop signals held while it forks (engine/forking.py), so that none is lost
        try:
            with signals_held(STOP_SIGNALS, mask):
                process.start()
        except BaseException:
            # a stop signal noted during the fork is raised again after it, once the worker
            # has started: stopped here, it would be left running, nobody's to stop
            if process.pid is not None:
                process.kill()
                process.join()
            parent.close()
            self._parent_ends.discard(parent)
            raise
        finally:
            child.close()
        return _Worker(process, parent)

    def _close(self, worker: _Worker) -> None:
        worker.conn.close()
        self._parent_ends.discard(worker.conn)

    def results(self, refs: Iterable[WheelRef]) -> Generator[R | WheelResult, None, None]:
        backlog = _Backlog(refs)
        retry: deque[WheelRef] = deque()  # queued on a worker that was lost before it began
        # read beside others on a worker that was lost: each is read again on a worker of its
        # own, so that a wheel that kills workers is the one that gets the record
        alone: deque[WheelRef] = deque()
        workers = self._start()

        def feed(worker: _Worker, depth: int = QUEUE_DEPTH, most: int | None = None) -> None:
            """Fill the worker's queue to its depth (``_depth``), or to ``most`` wheels."""
            if worker.alone:
                return
            if alone and not worker.queued:
                worker.alone, worker.started = True, time.monotonic()
                worker.queued.append(alone.popleft())
                with contextlib.suppress(OSError):  # lost: the crash path sees it
                    _send_ref(worker.conn, worker.queued[0])
                return
            while len(worker.queued) < min(_depth(worker, depth), most or sys.maxsize):
                ref = retry.popleft() if retry else None
                if ref is None:
                    others = {w.release for w in workers if w is not worker and w.queued}
                    ref = backlog.take(worker.release, others - {None})
                if ref is None:
                    return
                if not worker.queued:
                    worker.started = time.monotonic()
                worker.queued.append(ref)
                worker.release = release_of(ref)
                try:
                    _send_ref(worker.conn, ref)
                except OSError:
                    # it died on the wheel it was given before (its result was just read):
                    # the crash path records that one and hands this one to another worker
                    return

        try:
            for worker in workers:  # one wheel each first: a short run spreads over all
                feed(worker, 1)
            # then one more each in turn, so that a run shorter than the workers' queues
            # (60 remote wheels each over 200 ms: engine/inflight.py) is shared evenly,
            # not left mostly to the first worker
            for most in itertools.count(2):
                queued = sum(len(w.queued) for w in workers)
                for worker in workers:
                    feed(worker, most=most)
                if sum(len(w.queued) for w in workers) == queued:
                    break
            while True:
                busy = [w for w in workers if w.queued]
                if not busy and alone:
                    for worker in workers:
                        feed(worker)
                    continue
                if not busy:
                    return
                waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = multiprocessing.connection.wait(
                    waitables, timeout=self._next_deadline(busy)
                )
                for index, worker in enumerate(workers):
                    if not worker.queued:
                        continue
                    collected = self._collect(worker, ready)
                    if collected is None:
                        continue
                    if isinstance(collected, WheelResult):  # the worker was lost
                        several = not worker.alone and _reads_several(worker)
                        if several:
                            alone.extend(worker.queued)  # which one was it? each on its own
                        else:
                            retry.extend(list(worker.queued)[1:])  # never begun: not its fault
                        workers[index] = self._replace(worker)
                        feed(workers[index])
                        if not several:
                            yield collected
                    elif _reads_several(worker):
                        # answered as they are ready: the wheel is the result's own
                        result = pickle.loads(collected)
                        worker.queued.remove(result.ref)
                        worker.started = time.monotonic()  # its latest progress
                        worker.alone = False
                        feed(worker)
                        yield result
                    else:
                        # the next wheel is already in the worker's pipe, and the one after
                        # goes out before this result is unpickled and handed on: the worker
                        # never waits for the parent (one worker took 1.7 s on the benchmark
                        # corpus sent one wheel at a time, 1.3 s with the next sent first)
                        worker.queued.popleft()
                        worker.started = time.monotonic()
                        worker.alone = False
                        feed(worker)
                        yield pickle.loads(collected)
        finally:
            self._finish(workers)

    def _next_deadline(self, busy: list[_Worker]) -> float:
        now = time.monotonic()
        return max(0.0, min(w.started + self.timeout for w in busy) - now)

    def _collect(self, worker: _Worker, ready: list[Any]) -> bytes | WheelResult | None:
        """The worker's pickled result; the error record if the worker was lost; None while
        it still works."""
        assert worker.ref is not None
        elapsed = time.monotonic() - worker.started
        if worker.conn in ready:
            try:
                return worker.conn.recv_bytes()
            except (EOFError, OSError):
                pass  # died while sending: fall through to the crash record
        if worker.conn in ready or worker.process.sentinel in ready:
            worker.process.join(1.0)
            code = worker.process.exitcode
            reason = (
                f"worker killed by signal {-code}"
                if code is not None and code < 0
                else f"worker exited with status {code}"
            )
            log.warning("%s: %s", worker.ref.filename, reason)
            return _failed(worker.ref, "worker-crashed", reason, elapsed)
        if elapsed >= self.timeout:
            log.warning(
                "%s: no result after %.0f s, killing its worker", worker.ref.filename, elapsed
            )
            worker.process.kill()
            worker.process.join(5.0)
            return _failed(worker.ref, "timeout", f"no result after {self.timeout:.0f} s", elapsed)
        return None

    def _replace(self, worker: _Worker) -> _Worker:
        self._close(worker)
        self.replaced += 1
        return self._spawn()

    def _shutdown(self, workers: list[_Worker]) -> None:
        for worker in workers:
            try:
                if worker.ref is None:
                    worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        for worker in workers:
            if worker.ref is not None:
                worker.process.kill()  # interrupted mid-wheel: its result is not wanted
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            self._close(worker)


class InlineExecutor(Generic[R]):
    """No processes: for ``--workers 0``, debugging and profiling."""

    def __init__(self, task: Task[R]) -> None:
        self.task = task

    def results(self, refs: Iterable[WheelRef]) -> Generator[R, None, None]:
        for ref in refs:
            yield self.task(ref)
