"""Project pages fetched many at once and handed on in order: as many as the link's round
trip asks for, and no more than the server has shown it takes.

A page waits a round trip or more, so a listing keeps many in flight (sources/simple_index.py
says how many the round trip asks for). A server may take fewer connections at once: nginx
with ``worker_connections 32`` closes the kept-alive connections past them, and through 0.3 s
of round trip 72 of 200 pages asked 128 at once failed after every retry, where 32 at once
(this listing's old fixed number) all came. So the window learns the server's limit: a page
lost on its connection (a transient failure) while ``floor`` others or more may have been in
flight lowers the window's ``ceiling`` (halved, never below ``floor``), drops the session's
kept connections (the server closed them), and is asked again when fewer are in flight
(``TRIES`` times at most), with every other page lost so far. A page that fails otherwise,
or beside fewer than ``floor`` others, fails as it always did: it costs its project's
wheels, not the listing. Through 0.3 s, 200 pages from that nginx were all listed in 5.9 s
(4.3 s 32 at once; 1.6 s from an nginx that takes 1024), and from one that takes 16, where
32 at once lost 17 pages, in 11.7 s.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from wheelscan.sources.base import SourceError, WheelRef
from wheelscan.wheel.httpclient import HttpError

# How many times a page lost beside others is asked at most (a server that went away loses
# every page: each costs this many of the session's series of retries)
TRIES = 3

Listed = list[WheelRef] | SourceError  # a page's wheels, or why it could not be read


@dataclass(slots=True)
class _Page:
    name: str
    answer: Future[list[WheelRef]]
    beside: int  # pages in flight when it was asked
    asked: int  # pages asked before it
    asked_when_done: int = -1  # pages asked before its answer came (set by its thread)
    tries: int = 1  # how many times it was asked

    def crowded(self, floor: int) -> bool:
        """Whether ``floor`` other pages or more may have been in flight beside it."""
        return self.beside + max(0, self.asked_when_done - self.asked - 1) >= floor


def _lost_on_its_connection(error: SourceError) -> bool:
    return isinstance(error.__cause__, HttpError) and error.__cause__.transient


class PageWindow:
    """Fetches pages with ``fetch``, at most ``wanted()`` at once (read at each page, as the
    round trip becomes known), ``ceiling`` at most, ``floor`` at least."""

    def __init__(
        self,
        fetch: Callable[[str], list[WheelRef]],
        wanted: Callable[[], int],
        floor: int,
        ceiling: int,
        forget_connections: Callable[[], None],
    ) -> None:
        self._fetch, self._wanted, self.floor, self.ceiling = fetch, wanted, floor, ceiling
        self._forget_connections = forget_connections
        # in flight: each removes itself when done (set.discard, atomic), so that counting
        # them asks no page (a lock each: a tenth of the listing's CPU)
        self._running: set[Future[list[WheelRef]]] = set()
        self._asked = 0

    def listed(self, names: Iterable[str]) -> Iterator[Listed]:
        """The wheels of each name's page (or why it could not be read), in the order of
        ``names``; at most twice as many pages as may be in flight are fetched ahead of the
        caller."""
        # threads are started as pages are asked: only as many as were in flight at once
        with ThreadPoolExecutor(self.ceiling, thread_name_prefix="wheelscan-pages") as pool:
            pending: deque[_Page] = deque()
            for name in names:
                while pending and not self._room(len(pending)):
                    yield from self._take(pool, pending)
                pending.append(self._ask(pool, name))
            while pending:
                yield from self._take(pool, pending)

    def _most(self) -> int:
        return max(self.floor, min(self._wanted(), self.ceiling))

    def _room(self, pending: int) -> bool:
        most = self._most()
        return len(self._running) < most and pending < 2 * most

    def _ask(self, pool: ThreadPoolExecutor, name: str, tries: int = 1) -> _Page:
        answer = pool.submit(self._fetch, name)
        page = _Page(name, answer, len(self._running), self._asked, tries=tries)
        self._asked += 1
        self._running.add(page.answer)

        def done(answer: Future[list[WheelRef]]) -> None:
            page.asked_when_done = self._asked
            self._running.discard(answer)

        page.answer.add_done_callback(done)
        return page

    def _take(self, pool: ThreadPoolExecutor, pending: deque[_Page]) -> Iterator[Listed]:
        """The first pending page's wheels (or error), once it is answered; or, lost beside
        many others, nothing yet: it and the others lost so far are asked again, in their
        places, as fewer are in flight."""
        page = pending[0]
        try:
            wheels = page.answer.result()
        except SourceError as e:
            if not self._lost_beside_others(page):
                pending.popleft()
                yield e
                return
        else:
            pending.popleft()
            yield wheels
            return
        lowered = max(self.floor, min(self.ceiling, len(self._running) + 1) // 2)
        if lowered < self.ceiling:
            self.ceiling = lowered
            # the connections the server closed wait in the session's pool, each the loss
            # of the next request that takes it: the pages from now on open fresh ones
            self._forget_connections()
        # every page lost so far is asked again, in its place, as room is made (asked as
        # each came first in line, they waited a round trip each, one after another)
        for place in range(len(pending)):
            lost = pending[place]
            if lost.answer.done() and self._lost_beside_others(lost):
                while len(self._running) >= self._most():
                    wait(set(self._running), return_when=FIRST_COMPLETED)
                pending[place] = self._ask(pool, lost.name, lost.tries + 1)

    def _lost_beside_others(self, page: _Page) -> bool:
        """Whether the page's answer is an error that many pages at once may have caused."""
        error = page.answer.exception()
        return (
            isinstance(error, SourceError)
            and page.tries < TRIES
            and page.crowded(self.floor)
            and _lost_on_its_connection(error)
        )
