"""A TCP proxy on loopback in front of an S3 server, for tests of an object store that fails: its mode,
switched at run time, makes the store look down, broken, overloaded or slow to whoever talks through it.

- `pass`: bytes go both ways untouched.
- `refuse`: nothing listens on the port: connection refused.
- `reset`: connections are accepted, then reset at once.
- `http503`: each request is answered `503 Slow Down` with S3's XML error body, then the connection closes.
- `slow`: bytes go both ways, each piece `delay` seconds late.

Switching modes severs every open connection, so the new mode holds for the next request of any client,
pooled connections included. `cut_after(n)` passes n more bytes to the store, then switches to `reset`:
an upload cut off half-way.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

MODES = ("pass", "refuse", "reset", "http503", "slow")
SLOW_DOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
             b"<Message>Please reduce your request rate.</Message></Error>")


class FaultProxy:
    def __init__(self, upstream_port: int, delay: float = 5.0):
        from reverie.devstack import free_port

        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self.delay = delay
        self.mode = "pass"
        self.sent_up = 0  # bytes forwarded to the store
        self._cut_at: int | None = None
        self._lock = threading.RLock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        self._listen()
        return self

    def set(self, mode: str, delay: float | None = None) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode, self._cut_at = mode, None
            self.delay = self.delay if delay is None else delay
            for sock in list(self._open):
                self._close(sock)
            if mode == "refuse" and self._listener is not None:
                self._close(self._listener)
                self._listener = None
            elif mode != "refuse" and self._listener is None:
                self._listen()

    def cut_after(self, n_bytes: int) -> None:
        self.set("pass")
        with self._lock:
            self._cut_at = self.sent_up + n_bytes

    def stop(self) -> None:
        self.set("refuse")

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the mode is `refuse` now
                return
            with self._lock:
                self._open.add(client)
                mode = self.mode
            if mode == "reset":
                self._close(client)
            else:
                threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        if mode == "http503":
            self._drain(client)
            head = (f"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {len(SLOW_DOWN)}\r\n"
                    "Connection: close\r\n\r\n").encode()
            try:
                client.sendall(head + SLOW_DOWN)
            except OSError:
                pass
            self._close(client)
            return
        try:
            store = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._close(client)
            return
        store.settimeout(None)
        with self._lock:
            self._open.add(store)
        delay = self.delay if mode == "slow" else 0.0
        threading.Thread(target=self._pipe, args=(store, client, delay, False), daemon=True).start()
        self._pipe(client, store, delay, True)

    def _drain(self, client: socket.socket) -> None:
        """Read the request's head and the body it announces (unless it waits for `100 Continue`): a client
        still sending its body when the answer comes would see a broken pipe instead of the 503."""
        client.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data and (piece := client.recv(1 << 16)):
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:] if b":" in line)
            announced = int(fields.get(b"content-length", 0)) - len(body)
            left = 0 if b"100-continue" in fields.get(b"expect", b"") else announced
            while left > 0 and (piece := client.recv(min(left, 1 << 16))):
                left -= len(piece)
        except (OSError, ValueError):
            pass

    def _pipe(self, src: socket.socket, dst: socket.socket, delay: float, upward: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
                if upward and self._count(len(data)):
                    return
        except OSError:
            pass
        self._close(src)
        self._close(dst)

    def _count(self, n: int) -> bool:
        """Count bytes sent to the store; True when that reached the cut, and every connection was reset."""
        with self._lock:
            self.sent_up += n
            if self._cut_at is None or self.sent_up < self._cut_at:
                return False
            self.set("reset")
            return True

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a goodbye
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it, as close alone would not
        except OSError:
            pass
        sock.close()
