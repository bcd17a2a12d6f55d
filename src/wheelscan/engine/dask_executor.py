"""The audit spread over a dask.distributed cluster, behind the local pool's interface.

``DaskExecutor.results(refs) -> Iterator[WheelResult]`` is engine/pool.py's ``Executor``: the
parent (engine/run.py) pulls wheels, skips known ones, keeps the in-flight set, stores results
and reports progress as with the local pool; only where the wheels are audited changes.

- A Dask task is a *batch* of wheels, grouped by release: a release's wheels carry the same
  vendored libraries byte for byte, and a batch's wheels share one facts cache
  (wheel/dedupe.py), so a library is parsed once per batch.
- A batch is sized from the seconds per wheel measured so far so that it holds about
  ``BATCH_SECONDS`` of work: the scheduler's 0.2-1 ms a task, and the 15-20 ms it costs to
  start the batch's parsing process (below), stay under 2% of it.
- Inside the Dask worker, the batch runs in a ``LocalPool`` of one process: a wheel that
  crashes or hangs the parser gets its own error record (``worker-crashed``, ``timeout``),
  and the other wheels of its batch go on in a fresh process. A Dask worker that dies (killed,
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
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from wheelscan.engine.pool import LocalPool, Release, Task, _failed, release_of
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
MAX_BATCH = 2000  # wheels: a batch lost with its worker is redone whole
# Batches submitted and not yet returned, per worker thread: one running, one waiting
AHEAD_PER_THREAD = 2
# Dask retries a task that raised (not one whose worker died: the scheduler does that itself)
RETRIES = 2
CLOSE_SECONDS = 5.0  # for the local cluster to stop
INSTALL_HINT = "pip install 'wheelscan[dask]'"


class SchedulerError(Exception):
    """The Dask scheduler cannot be reached, or went away: said in one line (cli/main.py)."""


def available() -> bool:
    """Whether dask.distributed can be imported (the ``wheelscan[dask]`` extra)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def run_batch(
    task: Task, refs: list[WheelRef], timeout: float, memory_limit: int | None = None
) -> list[WheelResult]:
    """In a Dask worker: the batch's results, each wheel audited in a child process that a
    crash or a hang costs only that wheel (engine/pool.py's crash isolation)."""
    # Dask starts its worker processes as daemons, and multiprocessing lets no daemon start
    # children (so that none outlives it): the pool kills its own when the batch ends, and
    # they die with the Dask worker (_DiesWithItsParent). Lifted for good, not for the
    # batch: a worker's threads run batches at once, and one must not restore the flag
    # while another's pool replaces a crashed process.
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
    _warm_up()
    pool = LocalPool(
        _DiesWithItsParent(task),
        workers=1,
        timeout=timeout,
        context=multiprocessing.get_context("fork"),
        memory_limit=memory_limit,
    )
    return list(pool.results(refs))


class _DiesWithItsParent:
    """``task``, in a batch's process that the kernel kills when its Dask worker dies.

    A Dask worker killed mid-batch (the OOM killer, a node drained) would leave its batch's
    process behind: it holds both ends of its pipe (a fork inherits them), so it would wait
    for its next wheel for ever. Set at its first wheel, before anything can block.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self.parent = os.getpid()

    def __call__(self, ref: WheelRef) -> WheelResult:
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
    from wheelscan.policy.policies import load_policies
    from wheelscan.store import codec  # noqa: F401
    from wheelscan.wheel import contents  # noqa: F401

    get_parser()
    load_policies(None)


class BatchSizer:
    """Wheels per batch, so that a batch holds about ``BATCH_SECONDS`` of work, from the
    seconds per wheel measured so far (a running mean over every result)."""

    def __init__(self) -> None:
        self.wheels = 0
        self.seconds = 0.0

    def record(self, results: Iterable[WheelResult]) -> None:
        for result in results:
            self.wheels += 1
            self.seconds += result.seconds

    def size(self) -> int:
        per_wheel = self.seconds / self.wheels if self.wheels else FIRST_GUESS_SECONDS
        return max(1, min(MAX_BATCH, math.ceil(BATCH_SECONDS / max(per_wheel, 1e-4))))


def release_batches(refs: Iterable[WheelRef], size: Callable[[], int]) -> Iterator[list[WheelRef]]:
    """``refs`` in batches of about ``size()`` wheels, pulled only as a batch is needed.

    The wheels read ahead are grouped by release: a batch takes whole releases, oldest
    first, while they fit; a release larger than a batch is cut into batches of its own. A
    source lists a release's wheels together, so a window of a few batches finds them.
    """
    refs = iter(refs)
    pending: dict[Release, list[WheelRef]] = {}  # in order of first listing
    count = 0
    exhausted = False
    while True:
        wanted = size()
        while not exhausted and count < 2 * wanted:
            ref = next(refs, None)
            if ref is None:
                exhausted = True
                break
            pending.setdefault(release_of(ref), []).append(ref)
            count += 1
        if not pending:
            return
        batch: list[WheelRef] = []
        for release in list(pending):
            wheels = pending[release]
            if batch and len(batch) + len(wheels) > wanted:
                break
            batch.extend(wheels[:wanted])
            del wheels[:wanted]
            if not wheels:
                del pending[release]
            if len(batch) >= wanted:
                break
        count -= len(batch)
        yield batch


class DaskExecutor:
    """Audits on the cluster at ``scheduler`` (``tcp://HOST:8786``), or, without one, on a
    ``LocalCluster`` of ``workers`` processes of one thread, listening on loopback only."""

    def __init__(
        self,
        task: Task,
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
        self.sizer = BatchSizer()
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
            raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {e}") from e

    def _local_client(self, stack: ExitStack) -> Client:
        from distributed import Client, LocalCluster

        _quiet_logs()
        with _sigint_ignored():  # inherited by the worker processes, through exec
            cluster = LocalCluster(
                n_workers=self.local_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",  # loopback only: nothing outside this machine may submit
                dashboard_address=None,
                # the work is in the batch's own process, beyond the worker's memory limit
                memory_limit=0,
                silence_logs=logging.CRITICAL,
            )
        stack.callback(_stop, cluster)
        return stack.enter_context(Client(cluster, set_as_default=False))

    def results(self, refs: Iterable[WheelRef]) -> Generator[WheelResult, None, None]:
        from distributed import as_completed

        with ExitStack() as stack:
            client = self._client or self._local_client(stack)
            if self._client is not None:
                stack.callback(client.close)
            self._client = None  # a client serves one run
            batches = release_batches(refs, self.sizer.size)
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
                        pure=False,
                        retries=RETRIES,
                    )
                    submitted[future.key] = batch
                    completed.add(future)

            submit_more()
            for future, value in completed:
                batch = submitted.pop(future.key)
                results = self._batch_results(value, batch, client)
                self.sizer.record(results)
                submit_more()  # before the results are handed on: keep the workers busy
                yield from results
                del future, value

    def _at(self) -> str:
        return f" at {self.scheduler}" if self.scheduler else " of the local cluster"

    def _batch_results(
        self, value: Any, batch: list[WheelRef], client: Client
    ) -> list[WheelResult]:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if isinstance(value, list):
            return value
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
