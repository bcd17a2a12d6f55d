"""A simple repository over HTTP (PEP 503 / PEP 691): the project list, then each project's page.

Pages are fetched a few at a time (``concurrency``) through one keep-alive session: listing a
whole index is hundreds of thousands of small requests, each mostly waiting on the network.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from packaging.utils import canonicalize_name

from wheelscan.sources.base import SourceError, WheelRef, wheel_ref
from wheelscan.sources.index_url import project_page_url
from wheelscan.sources.pages import ACCEPT, project_names, wheel_links
from wheelscan.wheel.http import HttpError, HttpSession, Response, default_session
from wheelscan.wheel.remote import redact

logger = logging.getLogger(__name__)


class SimpleIndexSource:
    """The wheels of a simple index, with URL, sha256 and (PEP 700) size and upload time."""

    def __init__(
        self,
        index_url: str,
        projects: Iterable[str] | None = None,
        session: HttpSession | None = None,
        concurrency: int = 8,
    ) -> None:
        self.index_url = index_url.rstrip("/") + "/"
        self.projects = (
            None if projects is None else sorted({canonicalize_name(p) for p in projects})
        )
        self.session = session or default_session()
        self.concurrency = concurrency
        self.name = f"index:{redact(self.index_url)}"

    def wheels(self) -> Iterator[WheelRef]:
        names = self.projects if self.projects is not None else self._project_names()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="wheelscan-pages") as pool:
            # a bounded window, in order: pages are parsed no faster than they are consumed
            pending: deque[Future[list[WheelRef]]] = deque()
            for name in names:
                pending.append(pool.submit(self._project_wheels, name))
                if len(pending) >= 2 * self.concurrency:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()

    def _get(self, url: str) -> Response | None:
        """A page, or None when the index has none (404)."""
        try:
            response = self.session.get(url, {"Accept": ACCEPT})
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
        refs = (
            wheel_ref(link.filename, link.url, link.sha256, link.size, link.upload_time)
            for link in links
        )
        return [ref for ref in refs if ref is not None]
