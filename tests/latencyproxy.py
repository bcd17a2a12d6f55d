"""A TCP proxy on 127.0.0.1 that adds round-trip time, as a mirror across a network would.

Every chunk, each way, is held for half of ``rtt`` seconds before it is passed on, so a request
and its answer cost ``rtt`` more. A new connection costs one ``rtt`` more before its first
request gets through, as TCP's handshake does (the kernel completes the handshake with the
proxy at once, so without this a fresh connection would be free and reusing one would not
pay). Bytes are never changed, dropped or reordered; bandwidth is not limited.

One thread serves every connection from a ``selectors`` loop: a thread per direction of each
connection (as this proxy had) meant 256 threads for 64 connections, and on a loaded machine
their wake-ups, not the round trip asked for, set the pace (requests took 0.3-0.7 s at 200 ms).

``depths`` counts round trips without timing anything: each request for a path gets a depth,
one more than the deepest request for the same path whose answer had begun to come back
before it was sent. Requests sent together share a depth; a request that needed an earlier
answer to be asked comes one deeper. The deepest is how many round trips the reading of that
file waited for, one after another.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Self

_REQUEST_LINE = re.compile(rb"[A-Z]+ (\S+) HTTP/")


@dataclass(eq=False)
class _Direction:
    """Bytes one way through one connection: held until due, then written."""

    source: socket.socket
    sink: socket.socket
    # (due, bytes, the request whose answer these bytes begin), b"": the end of stream
    held: deque[tuple[float, bytes, tuple[bytes, int] | None]] = field(default_factory=deque)
    unsent: bytes = b""
    done: bool = False  # the end of stream passed on (or the sink gone)


@dataclass(eq=False)
class _Connection:
    upstream: _Direction  # client to server
    downstream: _Direction  # server to client
    open_at: float  # when the handshake would be done: no request gets through before
    # the request (path, depth) waiting for its answer's first byte, in order
    asked: deque[tuple[bytes, int]] = field(default_factory=deque)
    answering: bool = False  # the answer to the last request has begun


@dataclass
class LatencyProxy:
    target: tuple[str, int]
    rtt: float
    # path -> the depth of each request for it, in the order they were sent (see the module)
    depths: dict[str, list[int]] = field(default_factory=dict)
    _answered: dict[bytes, int] = field(default_factory=dict)  # path -> deepest answered
    _listener: socket.socket | None = None
    _selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _read_by: dict[socket.socket, _Direction] = field(default_factory=dict)  # its source's

    def __enter__(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        assert self._thread is not None
        self._thread.join()
        assert self._listener is not None
        for sock in [self._listener, *self._read_by]:
            sock.close()
        self._selector.close()

    @property
    def address(self) -> str:
        assert self._listener is not None
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def deepest(self, path: str) -> int:
        """How many round trips the reading of ``path`` waited for, one after another."""
        with self._lock:
            return max(self.depths.get(path, [0]))

    def _run(self) -> None:
        directions: list[_Direction] = []
        connections: dict[_Direction, _Connection] = {}
        while not self._stopping.is_set():
            now = time.monotonic()
            for direction in directions:
                self._pass_on(direction, connections[direction], now)
            directions = [d for d in directions if not d.done]
            for direction in directions:
                self._watch(direction)
            due = [d.held[0][0] for d in directions if d.held and not d.unsent]
            wait = min([0.05, *(max(0.0, t - now) for t in due)])
            for key, events in self._selector.select(wait):
                if key.data is None:
                    directions += self._accept(connections)
                    continue
                direction, connection = key.data, connections[key.data]
                if events & selectors.EVENT_READ and key.fileobj is direction.source:
                    self._receive(direction, connection)
                if events & selectors.EVENT_WRITE and key.fileobj is direction.sink:
                    self._send(direction)
                # one socket serves two directions: the other one's events come with it
                other = connection.downstream
                if direction is connection.downstream:
                    other = connection.upstream
                if events & selectors.EVENT_READ and key.fileobj is other.source:
                    self._receive(other, connection)
                if events & selectors.EVENT_WRITE and key.fileobj is other.sink:
                    self._send(other)

    def _accept(self, connections: dict[_Direction, _Connection]) -> list[_Direction]:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return []
        server = socket.create_connection(self.target)
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(
            _Direction(client, server), _Direction(server, client), time.monotonic() + self.rtt
        )
        connections[connection.upstream] = connections[connection.downstream] = connection
        # a socket is registered once, for both directions it takes part in: data its first
        self._read_by[client], self._read_by[server] = connection.upstream, connection.downstream
        self._selector.register(client, selectors.EVENT_READ, connection.upstream)
        self._selector.register(server, selectors.EVENT_READ, connection.downstream)
        return [connection.upstream, connection.downstream]

    def _receive(self, direction: _Direction, connection: _Connection) -> None:
        try:
            data = direction.source.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.monotonic()
        answers = None
        if direction is connection.upstream:
            self._count_request(connection, data)
            due = max(now, connection.open_at) + self.rtt / 2
        else:
            answers = self._answer_begun(connection, data)
            due = now + self.rtt / 2
        if direction.held and direction.held[-1][1] == b"":
            return  # already ended
        direction.held.append((due, data, answers))
        if not data:
            self._unwatch_read(direction)

    def _count_request(self, connection: _Connection, data: bytes) -> None:
        """A chunk from the client after an answer began (or the first) opens a request."""
        if not data or not (connection.answering or not connection.asked):
            return
        line = _REQUEST_LINE.match(data)
        if line is None:
            return  # the rest of a request already counted
        path = line[1]
        with self._lock:
            depth = self._answered.get(path, 0) + 1
            self.depths.setdefault(path.decode("latin-1"), []).append(depth)
        connection.asked.append((path, depth))
        connection.answering = False

    def _answer_begun(self, connection: _Connection, data: bytes) -> tuple[bytes, int] | None:
        """The request whose answer ``data`` begins, if it begins one."""
        if not data or connection.answering or not connection.asked:
            return None
        connection.answering = True
        return connection.asked.popleft()

    def _pass_on(self, direction: _Direction, connection: _Connection, now: float) -> None:
        while not direction.unsent and direction.held and direction.held[0][0] <= now:
            _, data, answers = direction.held.popleft()
            if answers is not None:  # the client has it now: what it asks next is deeper
                path, depth = answers
                with self._lock:
                    self._answered[path] = max(self._answered.get(path, 0), depth)
            if not data:
                self._end(direction, connection)
                return
            direction.unsent = data
            self._send(direction)

    def _send(self, direction: _Direction) -> None:
        if not direction.unsent:
            return
        try:
            sent = direction.sink.send(direction.unsent)
        except BlockingIOError:
            return
        except OSError:
            direction.unsent, direction.held, direction.done = b"", deque(), True
            return
        direction.unsent = direction.unsent[sent:]

    def _end(self, direction: _Direction, connection: _Connection) -> None:
        direction.done = True
        with contextlib.suppress(OSError):
            direction.sink.shutdown(socket.SHUT_WR)
        if connection.upstream.done and connection.downstream.done:
            for sock in (direction.source, direction.sink):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                self._read_by.pop(sock, None)
                sock.close()

    def _watch(self, direction: _Direction) -> None:
        """Ask for the sink's writability while bytes wait for it, and only then."""
        self._set_events(direction.sink, selectors.EVENT_WRITE, bool(direction.unsent))

    def _unwatch_read(self, direction: _Direction) -> None:
        self._set_events(direction.source, selectors.EVENT_READ, False)

    def _set_events(self, sock: socket.socket, event: int, on: bool) -> None:
        if sock.fileno() < 0:
            return  # closed
        try:
            key = self._selector.get_key(sock)
        except KeyError:
            if on:  # its reading has ended, and now it has bytes to take
                self._selector.register(sock, event, self._read_by[sock])
            return
        events = (key.events | event) if on else (key.events & ~event)
        if events == key.events:
            return
        if events:
            self._selector.modify(sock, events, key.data)
        else:
            self._selector.unregister(sock)
