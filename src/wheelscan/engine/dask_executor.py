"""The audit spread over a dask.distributed cluster, behind the local pool's interface.

``DaskExecutor.results(refs) -> Iterator[WheelResult]`` is engine/pool.py's ``Executor``: the
parent (engine/run.py) pulls wheels, skips known ones, keeps the in-flight set, stores results
and reports progress as with the local pool; only where the wheels are audited changes.

- A Dask task is a *batch* of wheels, grouped by release: a release's wheels carry the same
  vendored libraries byte for byte, and a batch's wheels share one facts cache
  (wheel/dedupe.py), so a library is parsed once per batch.
- A batch holds about ``BATCH_SECONDS`` of work, each wheel's seconds guessed from its size
  and the results so far (``CostModel``): the scheduler's 0.2-1 ms a task, and the 15-20 ms
  it costs to start the batch's parsing process (below), stay under 2% of it. The listing's
  last wheels are shared out in smaller batches, so the workers finish together.
- Inside the Dask worker, the batch runs in a ``LocalPool`` of one process: a wheel that
  crashes or hangs the parser gets its own error record (``worker-crashed``, ``timeout``),
  and the other wheels of its batch go on in a fresh process. The process is kept for the
  worker's next batch of the same run. A Dask worker that dies (killed,
  out of memory) loses only batches whose results never left it: the scheduler runs them
  again elsewhere, and nothing of them was stored.
- Workers never open the store: each batch's results come back as soon as it is done
  (``as_completed``), and the parent writes them. At most two batches per worker thread are
  submitted ahead, so memory stays flat however large the index is, and the wheels listed
  but not yet batched are few.

``distributed`` is imported only here, and only when a run asks for this engine (it is the
optional extra ``wheelscan[dask]``).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Generic

from wheelscan.engine.pool import LocalPool, R, Release, Task, _failed, release_of
from wheelscan.errors import CommandError, CommandErrorCode
from wheelscan.model import WheelResult
from wheelscan.sources.base import WheelRef

# distributed's API is mostly unannotated: its client and futures are Any here
Client = Any

log = logging.getLogger(__name__)

# Work per task, in seconds of one core: 50 times the overhead of a task (the scheduler's
# 0.2-1 ms, and 15-20 ms to fork the batch's process, encode and send its results, measured
# on 2 busy cores), so that overhead stays under 2%
BATCH_SECONDS = 1.0
# Seconds a wheel is assumed to take until results tell: the test corpus's median is 30 ms
FIRST_GUESS_SECONDS = 0.05
# The part of a wheel's seconds that does not grow with its size (listing its zip, its
# RECORD, a verdict, encoding the result): the test corpus's smallest wheels take 3-5 ms
FIXED_SECONDS = 0.004
# Until results tell, a wheel's seconds per byte of its file: the benchmark corpus's (1 s of
# a core for 553 MB of wheels, session 7's figures), to cut the first batches by size too
PRIOR_SECONDS_PER_BYTE = 2e-9
MAX_BATCH = 2000  # wheels: a batch lost with its worker is redone whole
# A batch may run this far over its budget rather than leave a release's last wheel behind
SLACK = 0.25
# Batches submitted and not yet returned, per worker thread: one running, one waiting
AHEAD_PER_THREAD = 2
# Dask retries a task that raised (not one whose worker died: the scheduler does that itself)
RETRIES = 2
CLOSE_SECONDS = 5.0  # for the local cluster to stop
INSTALL_HINT = "pip install 'wheelscan[dask]'"


class SchedulerError(CommandError):
    """The Dask scheduler cannot be reached, or went away: said in one line (cli/main.py)."""

    kind = CommandErrorCode.SCHEDULER_UNREACHABLE


def available() -> bool:
    """Whether dask.distributed can be imported (the ``wheelscan[dask]`` extra)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class BatchDone(Generic[R]):
    """A batch's results, and the seconds the batch took in its Dask worker: what its wheels
    cost that worker's core, whatever each result's own seconds say (remote wheels are read
    many at once, so each one's seconds count the others' work too)."""

    results: list[R | WheelResult]
    seconds: float


def run_batch(
    task: Task[R],
    refs: list[WheelRef],
    timeout: float,
    memory_limit: int | None = None,
    run: str = "",
) -> BatchDone[R]:
    """In a Dask worker: the batch's results, each wheel audited in a child process that a
    crash or a hang costs only that wheel (engine/pool.py's crash isolation). ``run``
    names the run the batch is of: its batches share one process per worker thread."""
    started = time.perf_counter()
    # Dask starts its worker processes as daemons, and multiprocessing lets no daemon start
    # children (so that none outlives it): the pool kills its own when the batch ends, and
    # they die with the Dask worker (_DiesWithItsParent). Lifted for good, not for the
    # batch: a worker's threads run batches at once, and one must not restore the flag
    # while another's pool replaces a crashed process.
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
    _warm_up()
    pool = _batch_pool(task, timeout, memory_limit, run)
    results = list(pool.results(refs))
    return BatchDone(results, time.perf_counter() - started)


# Per thread of a Dask worker: the pool of its last batch, and what it was made for. Its
# process is kept for the next batch of the same run (a fork and a pool per batch were a
# tenth of the work on the benchmark corpus); a batch of another run stops it and starts
# its own, so one pool per thread at most, and nothing a run's process learnt (its facts
# cache) serves another run, as with the local pool.
_POOLS = threading.local()


def _batch_pool(task: Task[R], timeout: float, memory_limit: int | None, run: str) -> LocalPool[R]:
    key = pickle.dumps((run, task, timeout, memory_limit))
    kept: tuple[bytes, LocalPool[R]] | None = getattr(_POOLS, "kept", None)
    if kept is not None and kept[0] == key:
        return kept[1]
    if kept is not None:
        kept[1].close()
    pool = LocalPool(
        _DiesWithItsParent(task),
        workers=1,
        timeout=timeout,
        context=multiprocessing.get_context("fork"),
        memory_limit=memory_limit,
        keep_workers=True,
    )
    _POOLS.kept = (key, pool)
    return pool


class _DiesWithItsParent(Generic[R]):
    """``task``, in a batch's process that the kernel kills when its Dask worker dies.

    A Dask worker killed mid-batch (the OOM killer, a node drained) would leave its batch's
    process behind: it holds both ends of its pipe (a fork inherits them), so it would wait
    for its next wheel for ever. Set at its first wheel, before anything can block.
    """

    def __init__(self, task: Task[R]) -> None:
        self.task = task
        self.parent = os.getpid()

    def __call__(self, ref: WheelRef) -> R:
        _die_with_parent(self.parent)
        return self.task(ref)


@functools.cache
def _die_with_parent(parent: int) -> None:
    import ctypes

    PR_SET_PDEATHSIG = 1  # prctl(2), Linux
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the death signal was set
        os._exit(1)


@functools.cache
def _warm_up() -> None:
    """Load, once per Dask worker, what every batch's process would load again: the parser
    and the built-in policies (40 ms a batch), so that a fork starts with them.

    A fork, not a fork server: a fork server's children load them again for every batch
    (40 ms a batch against 15 ms, measured on the test corpus). The Dask worker runs threads
    (its event loop, its comms), and the child of a fork keeps only the forking one: the
    child runs the audit alone, and CPython renews the locks it needs (imports, logging)
    after a fork.
    """
    from wheelscan.elf import get_parser
    from wheelscan.policy import abi3  # noqa: F401  (codec.prepare imports it when first used)
    from wheelscan.policy.policies import load_policies
    from wheelscan.store import codec  # noqa: F401
    from wheelscan.wheel import contents  # noqa: F401

    get_parser()
    load_policies(None)


class CostModel:
    """A wheel's audit seconds, guessed before it runs from the seconds measured so far.

    A wheel's cost grows with its size (a 50 MB wheel takes a hundred times a small one's):
    batches cut by count would hand one worker the large wheels and leave the other idle
    (on the benchmark corpus, 0.6x the local pool's throughput). So the guess is a fixed
    part per wheel plus a part per byte of the wheel file, the latter fitted on the batches
    so far (their seconds beyond the fixed part, over their bytes). The seconds are each
    batch's in its worker, not its results' own: remote wheels are read 32 at a time, and
    each one's seconds count the waits and the work of the others (summed, they made a
    batch look 30 times its cost, batches of a handful of wheels, and a fork per handful:
    a quarter of the throughput on a 20,000-wheel index). A listing without sizes
    (``WheelRef.size`` None) gets the mean size seen so far.
    """

    def __init__(self) -> None:
        self.wheels = 0
        self.seconds = 0.0
        self.sized_wheels = 0
        self.sized_seconds = 0.0
        self.sized_bytes = 0

    def record(self, results: Sequence[Any], seconds: float) -> None:
        """A batch's ``results`` took ``seconds``, shared out by the wheels' sizes."""
        if not results:
            return
        sizes = [result.size or 0 for result in results]  # the named ones too
        sized = sum(1 for size in sizes if size)
        self.wheels += len(results)
        self.seconds += seconds
        if sized:
            self.sized_wheels += sized
            # the unsized wheels' share, at the batch's mean: the rest goes to the sized
            self.sized_seconds += seconds * sized / len(results)
            self.sized_bytes += sum(sizes)

    def estimate(self, ref: WheelRef) -> float:
        if not self.wheels:
            if ref.size:
                return FIXED_SECONDS + PRIOR_SECONDS_PER_BYTE * ref.size
            return FIRST_GUESS_SECONDS
        per_wheel = self.seconds / self.wheels
        if not self.sized_bytes:
            return per_wheel
        beyond = max(0.0, self.sized_seconds - FIXED_SECONDS * self.sized_wheels)
        size = ref.size or self.sized_bytes / self.sized_wheels
        return FIXED_SECONDS + beyond / self.sized_bytes * size


def release_batches(
    refs: Iterable[WheelRef],
    estimate: Callable[[WheelRef], float],
    budget: float = BATCH_SECONDS,
    threads: int = 1,
) -> Iterator[list[WheelRef]]:
    """``refs`` in batches of about ``budget`` seconds of work, as ``estimate`` guesses each
    wheel's, pulled only as a batch is needed (two batches' worth are read ahead).

    The wheels read ahead are grouped by release: a batch takes whole releases, oldest
    first, while they fit; a release larger than a batch is cut into batches of its own. A
    source lists a release's wheels together, so a window of a few batches finds them.

    Once the listing is exhausted, what is left is shared among the ``threads`` that will
    run it: full batches there would leave all but one idle while the last ran.
    """
    refs = iter(refs)
    pending: dict[Release, list[tuple[WheelRef, float]]] = {}  # in order of first listing
    count = 0
    pending_cost = 0.0
    exhausted = False
    share: float | None = None
    while True:
        wanted = budget
        while not exhausted and pending_cost < 2 * wanted and count < 2 * MAX_BATCH:
            ref = next(refs, None)
            if ref is None:
                exhausted = True
                break
            cost = estimate(ref)
            pending.setdefault(release_of(ref), []).append((ref, cost))
            count += 1
            pending_cost += cost
        if not pending:
            return
        if exhausted:
            if share is None:  # the remainder, cut once into two batches per thread:
                # the workers finish together although the guesses are rough
                share = pending_cost / (2 * threads)
            wanted = min(wanted, share)
        batch: list[WheelRef] = []
        batch_cost = 0.0
        for release in list(pending):
            wheels = pending[release]
            release_cost = sum(cost for _, cost in wheels)
            if batch and batch_cost + release_cost > wanted * (1 + SLACK):
                break
            while wheels and len(batch) < MAX_BATCH:
                if batch and batch_cost + wheels[0][1] > wanted * (1 + SLACK):
                    break
                ref, cost = wheels.pop(0)
                batch.append(ref)
                batch_cost += cost
            if not wheels:
                del pending[release]
            if batch_cost >= wanted * (1 - 1e-9) or len(batch) >= MAX_BATCH:
                break
        count -= len(batch)
        pending_cost -= batch_cost
        yield batch


class DaskExecutor(Generic[R]):
    """Audits on the cluster at ``scheduler`` (``tcp://HOST:8786``), or, without one, on a
    ``LocalCluster`` of ``workers`` processes of one thread, listening on loopback only."""

    def __init__(
        self,
        task: Task[R],
        scheduler: str | None = None,
        workers: int = 0,
        timeout: float = 600.0,
        memory_limit: int | None = None,
    ) -> None:
        """``memory_limit``: each wheel's process's data (RLIMIT_DATA), as the local pool's."""
        self.task = task
        self.memory_limit = memory_limit
        self.scheduler = scheduler
        self.local_workers = max(1, workers or os.cpu_count() or 1)
        self.timeout = timeout
        self.costs = CostModel()
        self.run = os.urandom(8).hex()  # its batches share a process per worker thread
        self.threads = self.local_workers  # a remote cluster's, once connected
        self._client: Client | None = None
        if scheduler is not None:
            # connect now: an unreachable scheduler is said before any store is opened
            self._client = self._connect(scheduler)
            self.threads = max(1, sum(self._client.nthreads().values()))

    def description(self) -> str:
        """Which engine, on how many workers: recorded with the run."""
        if self.scheduler is None:
            return f"dask LocalCluster of {self.local_workers} workers"
        return f"dask at {self.scheduler}, {self.threads} worker threads"

    @staticmethod
    def _connect(address: str) -> Client:
        from distributed import Client

        _quiet_logs()
        try:
            return Client(address, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            # ValueError, TypeError: an address distributed cannot parse (no port, http://)
            reason = str(e)
            # kept as the cause (WHEELSCAN_DEBUG shows it), without what holds the Client
            cause = e.with_traceback(None)
            cause.__context__ = cause.__cause__ = None
        # The Client that failed is held, half made, by the error's traceback: freed only at
        # exit, its __del__ waited a minute to close on a loop already stopped, and printed
        # a TimeoutError ("Exception ignored"). Let go of with the traceback (out of the
        # except block, the cause without its frames), it is collected here, while its loop
        # still runs
        import gc

        gc.collect()
        raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {reason}") from cause

    def _local_client(self, stack: ExitStack) -> Client:
        from distributed import Client

        cluster = stack.enter_context(local_cluster(self.local_workers))
        return stack.enter_context(Client(cluster, set_as_default=False))

    def results(self, refs: Iterable[WheelRef]) -> Generator[R | WheelResult, None, None]:
        from distributed import as_completed

        with ExitStack() as stack:
            client = self._client or self._local_client(stack)
            if self._client is not None:
                stack.callback(client.close)
            self._client = None  # a client serves one run
            batches = release_batches(refs, self.costs.estimate, BATCH_SECONDS, self.threads)
            submitted: dict[Any, list[WheelRef]] = {}  # future key -> its wheels
            completed = as_completed(with_results=True, raise_errors=False, loop=client.loop)
            stack.callback(_cancel, client, completed)

            def submit_more() -> None:
                while len(submitted) < AHEAD_PER_THREAD * self.threads:
                    batch = next(batches, None)
                    if batch is None:
                        return
                    future = client.submit(
                        run_batch,
                        self.task,
                        batch,
                        self.timeout,
                        self.memory_limit,
                        self.run,
                        pure=False,
                        retries=RETRIES,
                    )
                    submitted[future.key] = batch
                    completed.add(future)

            submit_more()
            for future, value in completed:
                batch = submitted.pop(future.key)
                results = self._batch_results(value, batch, client)
                if isinstance(value, BatchDone):
                    self.costs.record(results, value.seconds)
                submit_more()  # before the results are handed on: keep the workers busy
                yield from results
                del future, value

    def _at(self) -> str:
        return f" at {self.scheduler}" if self.scheduler else " of the local cluster"

    def _batch_results(
        self, value: Any, batch: list[WheelRef], client: Client
    ) -> list[R | WheelResult]:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if isinstance(value, BatchDone):
            return value.results
        if isinstance(value, FutureCancelledError | KilledWorker) and client.status != "running":
            raise SchedulerError(f"lost the Dask scheduler{self._at()}")
        if isinstance(value, FutureCancelledError):
            raise SchedulerError(f"the Dask scheduler{self._at()} cancelled a batch: {value}")
        # KilledWorker: the batch's worker died ``allowed-failures`` times (the out-of-memory
        # killer, most likely): its wheels are recorded as crashes, read again next run
        # (store.TRANSIENT_ERRORS); anything else it raised, on every retry, likewise
        reason = f"dask task failed: {type(value).__name__}: {value}"
        log.warning("%d wheels from %s on: %s", len(batch), batch[0].filename, reason)
        return [_failed(ref, "worker-crashed", reason, 0.0) for ref in batch]


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` one-thread processes on loopback, closed at the end."""
    from distributed import LocalCluster

    _quiet_logs()
    with _sigint_ignored():  # inherited by the worker processes, through exec
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # loopback only: nothing outside this machine may submit
            dashboard_address=None,
            # the work is in the batch's own process, beyond the worker's memory limit
            memory_limit=0,
            silence_logs=logging.CRITICAL,
            # no dashboard, but the scheduler serves its HTTP routes all the same, on 8787
            # unless told: with another cluster on the machine (a notebook's), Dask warned
            # on stderr in four lines. Any free loopback port will do
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    try:
        yield cluster
    finally:
        _stop(cluster)


def _cancel(client: Client, completed: Any) -> None:
    """Drop the batches not returned (Ctrl-C, an error): a remote cluster stops on them."""
    if client.status == "running":
        futures = list(completed.futures)
        if futures:
            try:
                client.cancel(futures)
            except Exception as e:  # a scheduler already gone: nothing to cancel there
                log.debug("cancelling %d batches: %s", len(futures), e)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ctrl-C is the parent's to handle, as with the local pool: it stops feeding work,
    keeps what is finished and closes the cluster. A terminal sends it to the whole process
    group, so the local cluster's workers are started ignoring it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler (and only it gets the signal)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(cluster: Any) -> None:
    try:
        cluster.close(timeout=CLOSE_SECONDS)
    except Exception as e:  # closing is best effort: the process exits next anyway
        log.debug("closing the local cluster: %s", e)


def _quiet_logs() -> None:
    # Dask's INFO lines (workers started, tasks rescheduled) are its own business: a run's
    # stderr keeps wheelscan's one-line messages
    # (Dask's configuration sets some of its loggers' levels one by one: each is set here)
    names = [
        n for n in logging.root.manager.loggerDict if n.startswith(("distributed.", "tornado."))
    ]
    for name in ("distributed", "tornado", *names):
        # (a local cluster's scheduler, in this process, logs the comms of a worker that
        # was killed as errors: the run goes on, and its results say what happened)
        logging.getLogger(name).setLevel(logging.CRITICAL)
