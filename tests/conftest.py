"""Real servers on free ports, real files, real databases. Helpers that every test file uses.

The suite runs on either stack, chosen by REVERIE_TEST_STACK:
- `embedded` (default): SQLite and files under each server's data folder, workers inside `serve`.
- `distributed`: PostgreSQL + pgvector and SeaweedFS S3 (started once for the session from their wheels,
  on loopback ports), a database and a bucket prefix per test, and every server's indexing done by a
  separate `reverie worker` process. Tests start their processes with the test's REVERIE_DATABASE_URL and
  REVERIE_BLOB_URL in the environment; helpers below read and write through the same stack.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import pytest
import requests
from PIL import Image

from reverie.devstack import free_port

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVAL = SHARED / "eval"
BIN = Path(sys.executable).parent
API = "/serve/api/v1"
# One ONNX export of the bundled models for every server the tests start (each data folder would
# otherwise export its own copy).
os.environ.setdefault("REVERIE_MODEL_DIR", str(REPO / ".model-cache"))


@pytest.fixture(scope="session", autouse=True)
def _models_exported():
    """The export before the first test, not inside the first test's wait for indexing: on a fresh clone
    it takes a minute or more of a 2-core machine, longer than any test waits for one photo."""
    from reverie.models.export import ensure_exported

    ensure_exported(Path(os.environ["REVERIE_MODEL_DIR"]))


STACK = os.environ.get("REVERIE_TEST_STACK", "embedded")
DISTRIBUTED = STACK == "distributed"
if STACK not in ("embedded", "distributed"):
    raise SystemExit(f"REVERIE_TEST_STACK must be embedded or distributed, not {STACK!r}")
embedded_only = pytest.mark.skipif(DISTRIBUTED, reason="about SQLite's file or the data folder's own files")
# Tests of the models and pure functions alone: they touch neither database nor blob store, so the distributed
# run leaves them out (the embedded run has them) rather than spend CI minutes on the same result twice.
stack_free = pytest.mark.stack_free
# Tests of what a client shows of the API's answers (the web app, the command line's tables and messages, the
# README's examples): the API under them is tested on both stacks by its own tests, so these, too, run in the
# embedded pass only (CI's 30 minutes hold both passes).
client_side = pytest.mark.client_side
ONE_STACK = ("stack_free", "client_side")


def pytest_configure(config):  # noqa: ANN001, ANN201
    config.addinivalue_line("markers", "stack_free: touches no database or blob store; runs on the embedded stack only")
    config.addinivalue_line("markers", "client_side: what a client shows of the API; runs on the embedded stack only")


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ANN201
    if not DISTRIBUTED:
        return
    same_anywhere = [item for item in items if any(item.get_closest_marker(m) for m in ONE_STACK)]
    if same_anywhere:
        config.hook.pytest_deselected(items=same_anywhere)
        items[:] = [item for item in items if item not in same_anywhere]


class DistributedStack:
    """One PostgreSQL and one S3 server for the session; `fresh()` gives a test its own database (a copy of
    a migrated template, so no test pays for migrations) and its own prefix in the bucket."""

    BUCKET = "reverie-tests"

    def __init__(self, root: Path):
        from reverie.devstack import Postgres, SeaweedS3
        from reverie.store.db import Database, migrate

        self.pg = Postgres(root / "pg").start()
        self.s3 = SeaweedS3(root / "s3").start()
        template = Database(self.pg.create_database("reverie_template"))
        migrate(template)
        template.dispose()
        self.count = 0

    def fresh(self) -> dict[str, str]:
        self.count += 1
        name = f"t{self.count}_{os.getpid()}"
        url = self.pg.create_database(name, template="reverie_template")
        return {"REVERIE_DATABASE_URL": url, "REVERIE_BLOB_URL": self.s3.blob_url(self.BUCKET, name)}

    def stop(self) -> None:
        self.pg.stop()
        self.s3.stop()


_stack: DistributedStack | None = None
_env_by_data: dict[Path, dict[str, str]] = {}
_started: list[subprocess.Popen] = []  # every process Server started, killed at the end of the session


def stack_env(data: Path) -> dict[str, str]:
    """The database and blob URLs that processes on `data` use (nothing on the embedded stack)."""
    if not DISTRIBUTED:
        return {}
    data = Path(data)
    if data not in _env_by_data:
        current = {k: os.environ[k] for k in ("REVERIE_DATABASE_URL", "REVERIE_BLOB_URL") if k in os.environ}
        _env_by_data[data] = current if len(current) == 2 else _stack.fresh()
    return _env_by_data[data]


@pytest.fixture(scope="session", autouse=True)
def distributed_stack():
    global _stack
    if not DISTRIBUTED:
        yield None
        return
    # Not under pytest's temporary root: PostgreSQL runs as its own user, so the folders above its data get
    # o+x, and another pytest session starting meanwhile (make test runs the two passes side by side) sets
    # that root back to 0700, which locked initdb out of its own folder.
    root = Path(tempfile.mkdtemp(prefix="reverie-test-stack-"))
    _stack = DistributedStack(root)
    yield _stack
    for proc in _started:  # a fixture that failed half-way leaves its server, and now its worker, running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _stack.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _test_stack_env(distributed_stack, monkeypatch):
    """Every process a test starts itself (`reverie …` by subprocess) lands on the test's own database."""
    if distributed_stack is not None:
        for key, value in distributed_stack.fresh().items():
            monkeypatch.setenv(key, value)


def reverie(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    data = args[args.index("--data") + 1] if "--data" in args else None
    stack = stack_env(Path(data)) if data else {}
    return subprocess.run(
        [str(BIN / "reverie"), *args], capture_output=True, text=True, check=check,
        env={**os.environ, **stack, **(env or {})},
    )


def create_key(data: Path, name: str, account: str | None = None) -> str:
    args = ["keys", "create", "--name", name, "--data", str(data)]
    if account:
        args += ["--account", account]
    out = reverie(*args).stdout
    return out.strip().splitlines()[-1].split()[-1]


def _holds_listener(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on loopback `port` (read from Linux's /proc)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return True  # no /proc to ask: trust the answer on the port, as before
    listening = set()
    for table in tables:
        for row in table.read_text().splitlines()[1:] if table.exists() else []:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                listening.add(f"socket:[{fields[9]}]")
    held = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process is gone
        return False
    for fd in descriptors:
        try:
            held.add(os.readlink(fd))
        except OSError:  # closed as we read
            pass
    return bool(listening & held)


class Server:
    """`reverie serve` in a child process, talked to over HTTP."""

    def __init__(self, data: Path, *extra: str, env: dict | None = None):
        self.data = data
        self.extra = extra
        self.env = {**stack_env(data), **(env or {})}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.log = data.parent / f"server-{self.port}.log"

    def start(self) -> "Server":
        # free_port() only names a port that was free a moment ago: the other stack's pass, running beside
        # this one, may take it first. Then its server answers our readiness probe while ours exits, and
        # the test talks to a stranger until that one stops (connection refused). So a start counts only
        # once this process holds the listening socket; a lost port is traded for a fresh one.
        for _ in range(3):
            if self._launch():
                return self
            self.port = free_port()
            self.base = f"http://127.0.0.1:{self.port}"
        raise RuntimeError(f"server lost its port three times; its log: {self.log.read_text()[-3000:]}")

    def _launch(self) -> bool:
        self.data.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")
        serve_args = list(self.extra)
        if DISTRIBUTED and "--no-workers" not in serve_args:
            if self.worker is None:  # a second launch, on a fresh port, keeps the worker it started
                # Indexing in a process of its own, as on many machines; it takes the same settings.
                self.worker = subprocess.Popen(
                    [str(BIN / "reverie"), "worker", "--data", str(self.data), *serve_args],
                    stdout=logf, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
                _started.append(self.worker)
            serve_args.append("--no-workers")
        log_start = self.log.stat().st_size
        self.proc = subprocess.Popen(
            [str(BIN / "reverie"), "serve", "--port", str(self.port), "--data", str(self.data), *serve_args],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        _started.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                said = self.log.read_bytes()[log_start:].decode(errors="replace")
                if "address already in use" in said.lower():
                    return False
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                requests.get(self.base + "/openapi.json", timeout=1)
            except requests.ConnectionError:
                time.sleep(0.1)
                continue
            if _holds_listener(self.proc.pid, self.port):
                return True
            self.proc.kill()
            self.proc.wait()
            return False
        raise RuntimeError("server did not start in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for proc in (self.proc, self.worker):
            if proc and proc.poll() is None:
                proc.send_signal(sig)
                proc.wait(timeout=30)
        self.proc = self.worker = None

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
        return self._send("POST", path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self._send("GET", path, **kw)

    def _send(self, method: str, path: str, **kw) -> requests.Response:
        try:
            return self.session.request(method, self.server.url(path), timeout=60, **kw)
        except requests.ConnectionError as e:
            # A refused connection alone says nothing of why: say whether the server still runs, and what it
            # logged last (CI keeps no server logs).
            proc = self.server.proc
            state = "not started" if proc is None else (
                "still running" if proc.poll() is None else f"exited with {proc.returncode}")
            log = self.server.log.read_text(errors="replace")[-3000:] if self.server.log.exists() else ""
            raise requests.ConnectionError(f"{method} {path}: {e}; the server is {state}; its log ends:\n{log}") from e

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

    def wait_indexed(self, image_id: int, timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            meta = self.metadata(image_id)
            if meta["status"] != "UNPARSE":
                return meta
            time.sleep(0.05)
        raise AssertionError(f"image {image_id} still UNPARSE after {timeout}s")

    def wait_video(self, video_no: str, timeout: float = 180) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = self.get("/get_metadata", params={"video_no": video_no}).json()["data"]
            if data and data["status"] != "UNPARSE":
                return data
            time.sleep(0.3)
        raise AssertionError(f"{video_no} still UNPARSE after {timeout} s")

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
    """Rows of a query (SQLite's `?` placeholders) on the database behind `data`."""
    if DISTRIBUTED:
        import psycopg

        url = stack_env(data)["REVERIE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    conn = sqlite3.connect(data / "reverie.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def db_integrity_ok(data: Path) -> bool:
    """SQLite's integrity_check; on PostgreSQL (whose wheel lacks amcheck) every table read in full and every
    index rebuilt, which fails on an unreadable page or on rows that break a unique index."""
    if not DISTRIBUTED:
        return db_rows(data, "PRAGMA integrity_check") == [("ok",)]
    tables = [t for (t,) in db_rows(data, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    for table in tables:
        db_rows(data, f"SELECT count(*) FROM {table}")
    db_exec(data, "REINDEX SCHEMA public")
    return len(tables) > 10


def open_store(data: Path, **settings):  # noqa: ANN003, ANN201
    """The library behind `data` opened in this process, on the test's stack, with the session's exported
    models (its own model folder would cost a fresh export, half a minute, to each test that indexes)."""
    from reverie.config import Settings
    from reverie.store import Store

    env = stack_env(data)
    settings.setdefault("model_dir", Path(os.environ["REVERIE_MODEL_DIR"]))
    return Store.open(Settings(data=data, database_url=env.get("REVERIE_DATABASE_URL", ""),
                               blob_url=env.get("REVERIE_BLOB_URL", ""), **settings))


def db_exec(data: Path, sql: str) -> None:
    """Run a statement that answers no rows (DDL, a deliberate damage) on the database behind `data`."""
    if DISTRIBUTED:
        import psycopg

        url = stack_env(data)["REVERIE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)
        return
    conn = sqlite3.connect(data / "reverie.db")
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def blob_store(data: Path):  # noqa: ANN201
    """The blob store that processes on `data` use: files under DATA/blobs, or the test's S3 prefix."""
    from reverie.store.blob_stores import open_blob_store

    return open_blob_store(stack_env(data).get("REVERIE_BLOB_URL", ""), data / "blobs")


def blob_files(data: Path, prefix: str = "originals") -> list[PurePosixPath]:
    """Stored blobs under a key prefix, as paths relative to the store (name, stem, parent as on disk)."""
    if not DISTRIBUTED and not (data / "blobs").exists():
        return []
    return [PurePosixPath(k) for k in blob_store(data).keys(prefix) if not k.startswith(".tmp")]


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
