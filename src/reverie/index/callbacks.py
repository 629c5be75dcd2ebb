"""Upload callbacks: `{"videoNo", "status"}` POSTed as JSON to the URL given at upload when indexing ends.

Sent from a background thread, so a slow or dead receiver never holds up indexing; retried with backoff.
Loopback, private and link-local addresses are refused unless the operator allows them
(REVERIE_ALLOW_PRIVATE_URLS), so an upload cannot make the server call into its own network.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

ATTEMPTS = 4
FIRST_DELAY_S = 1.0
TIMEOUT_S = 10.0


def private_address(url: str) -> str | None:
    """The first address the URL's host resolves to that is not public, or None when all are public."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return None  # unresolvable: the request itself will fail and say so
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            return str(ip)
    return None


class Notifier:
    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, url: str, payload: dict) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="reverie-callbacks", daemon=True)
                self._thread.start()
        self._queue.put((url, payload))

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as http:
            while True:
                url, payload = self._queue.get()
                self._deliver(http, url, payload)

    def _deliver(self, http: httpx.Client, url: str, payload: dict) -> None:
        if not self.allow_private:
            blocked = private_address(url)
            if blocked:
                log.warning("callback for %s not sent: %s resolves to the non-public address %s "
                            "(set REVERIE_ALLOW_PRIVATE_URLS=true to allow)", payload["videoNo"], url, blocked)
                return
        delay = FIRST_DELAY_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                res = http.post(url, json=payload)
                if res.status_code < 400:
                    log.info("callback for %s delivered (%s)", payload["videoNo"], payload["status"])
                    return
                problem = f"HTTP {res.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < ATTEMPTS:
                time.sleep(delay)
                delay *= 2
        log.warning("callback for %s to %s failed after %d attempts: %s", payload["videoNo"], url, ATTEMPTS, problem)
