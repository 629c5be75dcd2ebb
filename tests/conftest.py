"""Real servers on free ports, real files, real SQLite. Helpers that every test file uses."""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVAL = SHARED / "eval"
BIN = Path(sys.executable).parent
API = "/serve/api/v1"
# One ONNX export of the bundled models for every server the tests start (each data folder would
# otherwise export its own copy).
os.environ.setdefault("REVERIE_MODEL_DIR", str(REPO / ".model-cache"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reverie(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "reverie"), *args], capture_output=True, text=True, check=check, env={**os.environ, **(env or {})}
    )


def create_key(data: Path, name: str, account: str | None = None) -> str:
    args = ["keys", "create", "--name", name, "--data", str(data)]
    if account:
        args += ["--account", account]
    out = reverie(*args).stdout
    return out.strip().splitlines()[-1].split()[-1]


class Server:
    """`reverie serve` in a child process, talked to over HTTP."""

    def __init__(self, data: Path, *extra: str, env: dict | None = None):
        self.data = data
        self.extra = extra
        self.env = env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data.parent / f"server-{self.port}.log"

    def start(self) -> "Server":
        self.data.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "reverie"), "serve", "--port", str(self.port), "--data", str(self.data), *self.extra],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                requests.get(self.base + "/openapi.json", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def url(self, path: str) -> str:
        return self.base + API + path

    def client(self, key: str) -> "Client":
        return Client(self, key)


class Client:
    def __init__(self, server: Server, key: str):
        self.server = server
        self.session = requests.Session()
        self.session.headers["Authorization"] = key

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.server.url(path), timeout=60, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.server.url(path), timeout=60, **kw)

    def upload(self, files: list[tuple[str, bytes, str]], data: dict | list | None = None) -> dict:
        parts = [("files", (name, content, ctype)) for name, content, ctype in files]
        return self.post("/upload_img", files=parts, data=data or {}).json()

    def upload_ok(self, files, data=None) -> list[int]:  # noqa: ANN001
        body = self.upload(files, data)
        assert body["code"] == "0000", body
        return [d["id"] for d in body["data"]]

    def metadata(self, image_id: int) -> dict:
        body = self.get("/get_img_metadata", params={"id": image_id}).json()
        assert body["code"] == "0000", body
        return body["data"]

    def wait_indexed(self, image_id: int, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            meta = self.metadata(image_id)
            if meta["status"] != "UNPARSE":
                return meta
            time.sleep(0.05)
        raise AssertionError(f"image {image_id} still UNPARSE after {timeout}s")

    def list_page(self, **body) -> dict:
        res = self.post("/img_list_page", json=body).json()
        assert res["code"] == "0000", res
        return res["data"]


def jpeg(width: int = 64, height: int = 48, color=(200, 30, 30), quality: int = 90) -> bytes:  # noqa: ANN001
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=quality)
    return out.getvalue()


def image_bytes(fmt: str, size=(40, 30)) -> bytes:  # noqa: ANN001
    out = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, size, 1 if mode == "P" else (10, 120, 200)).save(out, fmt)
    return out.getvalue()


def db_rows(data: Path, sql: str, *params) -> list[tuple]:  # noqa: ANN002
    conn = sqlite3.connect(data / "reverie.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def blob_files(data: Path, prefix: str = "originals") -> list[Path]:
    root = data / "blobs" / prefix
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    """One server for the many tests that only need isolation by account."""
    data = tmp_path_factory.mktemp("shared") / "data"
    server = Server(data, "--max-batch-files", "10", "--workers", "2").start()
    yield server
    server.stop()


@pytest.fixture
def account(shared_server, request) -> Client:
    """A fresh account (so counts and namespaces start empty) on the shared server."""
    name = f"acct-{request.node.name[:40]}-{time.time_ns()}"
    return shared_server.client(create_key(shared_server.data, name))


@pytest.fixture
def fresh_server(tmp_path):
    """A server of its own, for tests that stop, restart or count files on disk."""
    servers: list[Server] = []

    def make(*extra: str, data: Path | None = None) -> Server:
        s = Server(data or tmp_path / "data", *extra).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop(signal.SIGKILL)
