"""A `reverie serve` child process for the bench scripts: started on a free port, ready when it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(data: Path, key: str, *args: str, env: dict | None = None,
            process: list | None = None) -> Iterator[httpx.Client]:
    """Yields an HTTP client on /serve/api/v1 with the key set; stops the server on exit. The server's
    Popen is appended to `process` when given (to watch its memory, say)."""
    port = free_port()
    proc = subprocess.Popen([str(BIN / "reverie"), "serve", "--data", str(data), "--port", str(port), "--log-level", "warning", *args],
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if process is not None:
        process.append(proc)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}/serve/api/v1", headers={"Authorization": key}, timeout=120,
                        limits=httpx.Limits(max_connections=64))
    try:
        for _ in range(600):
            try:
                http.get("/list_unique_ids")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield http
    finally:
        proc.terminate()
        proc.wait(timeout=60)
