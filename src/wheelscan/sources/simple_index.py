"""A simple repository over HTTP (PEP 503 / PEP 691): the project list, then each project's page.

Pages are fetched many at a time through one keep-alive session: listing a whole index is
hundreds of thousands of small requests, each mostly waiting on the network. How many at once
follows the round trip the index's answers showed (``pages_in_flight``), as a worker's wheels
in flight do (engine/inflight.py): a fixed 32 capped the listing at 160 pages a second over
200 ms, slower than two workers audit the wheels they list. Fewer where the server closes
connections past its limit (sources/page_window.py).

A project page that cannot be read whole (over ``PAGE_LIMIT``, past its deadline, in an
encoding not understood) costs only its project's wheels: the listing goes on with every
other project, and fails at its end with a ``SourceError`` naming the pages it could not
read, so the run ends ``failed``, never ``finished`` short of the wheels those pages list.
The index's own page failing fails the listing at once: it has nothing to go on with.

The listing's first page (the index's own, or with ``--project`` the first project's) can be
read ahead (``prepare``), before the audit starts its workers: forked after it, they know
from the start how far the index is, and read their first wheels as a far link asks
(wheel/http_ranges.py), not as a near one until their own first answers came back. Over
200 ms of round trip, 120 wheels took 1.96 s where 2.59 s (the lab notes of
benchmarks/results/remote-loopback.txt, session 23).

A link whose scheme is not the index's own (``file:``, or ``http:`` from an ``https:``
index) is never followed: its wheel gets a ``refused-link`` error record instead.
"""

from __future__ import annotations

import itertools
import logging
import math
import urllib.parse
from collections.abc import Iterable, Iterator

from packaging.utils import canonicalize_name

from wheelscan.sources.base import SourceError, WheelRef, listing_error, wheel_ref
from wheelscan.sources.index_url import project_page_url
from wheelscan.sources.page_window import Listed, PageWindow
from wheelscan.sources.pages import ACCEPT, project_names, wheel_links
from wheelscan.wheel.httpclient import (
    HttpError,
    HttpSession,
    Response,
    check_url,
    session_for,
)
from wheelscan.wheel.remote import redact

# Project pages fetched at once, at least. Listing is mostly waiting on the network: on the
# benchmark corpus through 200 ms of round trip, its 37 pages 32 at a time made the audit
# 0.6 s shorter than 8 at a time (3.7 s against 4.3; benchmarks/remote.py with nginx)
PAGES_IN_FLIGHT = 32
# On a slower link, as many as list ``PAGES_PER_SECOND`` (Little's law): twice what two
# workers audit of small wheels a page each (the worst case: a page per wheel), so that the
# listing keeps ahead of them. 100 at 200 ms: 1,051 pages of small wheels listed in 3.0 s
# where 32 at once took 7.5 s (nginx through tests/latencyproxy.py). Never more than
# ``MOST_PAGES_IN_FLIGHT``: each holds a connection of the session's pool (160 per host,
# shared with nothing else in the parent) and a page's body; ahead of the consumer, at most
# twice as many pages are held listed
PAGES_PER_SECOND = 500
MOST_PAGES_IN_FLIGHT = 128
# The largest page read (decoded). A project page lists each file in a few hundred bytes:
# 64 MiB is some 200k files, more than any project holds.
PAGE_LIMIT = 64 << 20

logger = logging.getLogger(__name__)


class SimpleIndexSource:
    """The wheels of a simple index, with URL, sha256 and (PEP 700) size and upload time."""

    def __init__(
        self,
        index_url: str,
        projects: Iterable[str] | None = None,
        session: HttpSession | None = None,
        request_timeout: float | None = None,
    ) -> None:
        if "?" in index_url or "#" in index_url:
            # a project's page is its name joined to the index's path (PEP 503), as pip
            # joins it: onto the whole URL (search_scope.py), "simple/?x=1#f/demo/", a page
            # that lists nothing; wheelscan's join made an empty run that said "finished"
            raise SourceError(
                f"{redact(index_url)}: an index URL takes no query nor fragment (its project "
                "pages are NAME/ under its path): drop what follows its '?' or '#'"
            )
        scheme, colon, rest = index_url.partition(":")
        # the scheme as pages and links are compared with it (urlsplit's, lower case)
        self.index_url = scheme.lower() + colon + rest.rstrip("/") + "/"
        try:
            check_url(self.index_url)
        except HttpError as e:  # refused before a store is opened or a run recorded for it
            raise SourceError(str(e)) from None
        self.projects = (
            None if projects is None else sorted({canonicalize_name(p) for p in projects})
        )
        self.session = session or session_for(request_timeout)
        self.name = f"index:{redact(self.index_url)}"
        # the project pages that could not be read so far: also seen by a caller that stops
        # listing early (``audit --limit``), which never reaches the error at the end
        self.failed_pages: list[SourceError] = []
        self.pages_read = 0  # the project pages that were read (for ``listing_error``)
        # read ahead by ``prepare``, taken by the next ``wheels``: the index's project names
        # (or why they could not be read), or the first project's page
        self._names: list[str] | SourceError | None = None
        self._first_page: Listed | None = None

    def prepare(self) -> None:
        """Read the listing's first page now: the index's own, or the first project's."""
        if self.projects is None:
            try:
                self._names = self._project_names()
            except SourceError as e:
                self._names = e
        elif self.projects:
            try:
                self._first_page = self._project_wheels(self.projects[0])
            except SourceError as e:
                self._first_page = e

    def wheels(self) -> Iterator[WheelRef]:
        read_ahead, first_page = self._names, self._first_page
        self._names = self._first_page = None  # a second listing reads them again
        if isinstance(read_ahead, SourceError):
            raise read_ahead
        names = self.projects if self.projects is not None else read_ahead
        if names is None:
            names = self._project_names()
        failed = self.failed_pages
        window = PageWindow(
            self._project_wheels,
            lambda: pages_in_flight(self.session.quickest(self.index_url)),
            floor=PAGES_IN_FLIGHT,
            ceiling=MOST_PAGES_IN_FLIGHT,
            forget_connections=self.session.close,
        )
        pages: Iterable[Listed] = window.listed(names if first_page is None else names[1:])
        if first_page is not None:  # the first project's, read ahead
            pages = itertools.chain([first_page], pages)
        for page in pages:
            if isinstance(page, SourceError):  # this project's wheels only: the others come
                failed.append(page)
            else:
                self.pages_read += 1
                yield from page
        if failed:
            raise listing_error(failed, self.pages_read)

    def _get(self, url: str) -> Response | None:
        """A page, or None when the index has none (404)."""
        try:
            response = self.session.get(
                url, {"Accept": ACCEPT, "Accept-Encoding": "gzip"}, limit=PAGE_LIMIT
            )
        except HttpError as e:
            raise SourceError(f"cannot read {redact(url)}: {e.reason}") from e
        if response.status == 404:
            return None
        if response.status != 200:
            raise SourceError(f"cannot read {redact(url)}: HTTP {response.status}")
        return response

    def _project_names(self) -> list[str]:
        response = self._get(self.index_url)
        if response is None:
            raise SourceError(f"{redact(self.index_url)}: no simple index here (HTTP 404)")
        names = project_names(response.body, response.headers.get("content-type", ""), response.url)
        return sorted({canonicalize_name(n) for n in names})

    def _project_wheels(self, project: str) -> list[WheelRef]:
        url = project_page_url(self.index_url, project)
        response = self._get(url)
        if response is None:
            logger.warning("no page for project %s at %s", project, redact(url))
            return []
        links = wheel_links(response.body, response.headers.get("content-type", ""), response.url)
        scheme = urllib.parse.urlsplit(self.index_url).scheme
        refs = []
        for link in links:
            refused = _refusal(scheme, link.url)
            # the hash of a file never fetched vouches for nothing: the refusal is not keyed by it
            sha256 = None if refused else link.sha256
            ref = wheel_ref(
                link.filename, link.url, sha256, link.size, link.upload_time, refused=refused
            )
            if ref is not None:
                refs.append(ref)
        return refs


def pages_in_flight(round_trip: float | None) -> int:
    """How many project pages to fetch at once where the index answers in ``round_trip``
    seconds at best (None: no answer seen yet)."""
    if round_trip is None:
        return PAGES_IN_FLIGHT
    wanted = math.ceil(PAGES_PER_SECOND * round_trip)
    return max(PAGES_IN_FLIGHT, min(MOST_PAGES_IN_FLIGHT, wanted))


def _refusal(index_scheme: str, url: str) -> str | None:
    """Why a page's link must not be followed, or None: its scheme must be the index's
    (``https:`` from an ``http:`` index is allowed: it only adds protection)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises for a port out of range)
    except ValueError as e:  # kept as the page wrote it (pages._absolute)
        return f"the index links to a URL that cannot be parsed ({e}): {redact(url)}"
    scheme = parts.scheme
    if scheme == index_scheme or (scheme, index_scheme) == ("https", "http"):
        return None
    return f"the index ({index_scheme}:) links to a {scheme or 'scheme-less'}: URL: {redact(url)}"
