"""The metadata database: engine set-up, transactions, migrations.

Writes on SQLite take the write lock at BEGIN (BEGIN IMMEDIATE), so a read-then-write inside `write()`
cannot be overtaken by another writer; with WAL, readers never wait for it. Writers of one process also
queue on a Python lock first: SQLite's own busy handler sleeps in growing steps (up to 100 ms), which
turned lock contention between upload threads into second-long latency tails.
"""

from __future__ import annotations

import fcntl
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..errors import DatabaseUnavailable, StorageFull
from .patience import PATIENCE_SECONDS, until_available

FULL = StorageFull("storage full: nothing was stored; free disk space under the data folder and retry")

MIGRATIONS = Path(__file__).with_name("migrations")


def now_ms() -> int:
    return int(time.time() * 1000)


def outage(exc: BaseException) -> str | None:
    """Why PostgreSQL is out of reach, when `exc` says it is (refused, reset, shut down, starting up, our
    connection terminated); None for every other error, SQLite's included."""
    if isinstance(exc, PoolTimeout):
        return "every connection of the pool is busy"
    if not isinstance(exc, DBAPIError):
        return None
    import psycopg

    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or ""
    # Class 08 is "connection exception", 57P0x the server shutting down, crashing or starting up; a lost
    # connection has no SQLSTATE at all.
    lost = isinstance(orig, psycopg.InterfaceError) or (
        isinstance(orig, psycopg.OperationalError) and (not state or state.startswith(("08", "57P"))))
    if not (lost or exc.connection_invalidated):
        return None
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return first.split(": ")[-1].strip()[:160]


@contextmanager
def _outage_as_unavailable() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        why = outage(exc)
        if why is None:
            raise
        raise DatabaseUnavailable(why) from exc


def lock_content(conn: Connection, sha256s: list[str]) -> None:
    """Hold, to the end of the transaction, the right to store or drop the originals with these hashes. On
    SQLite the write lock already serialises writers; on PostgreSQL an upload of some bytes and the delete
    of the last image holding the same bytes would otherwise both go ahead, and the delete could take
    away the file the upload has just counted on. Sorted, so two transactions cannot wait on each other."""
    if conn.dialect.name == "sqlite":
        return
    for sha in sorted(set(sha256s)):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "original:" + sha})


def insert_missing(conn: Connection, table: Table, **values) -> None:
    """Insert a row unless its key is taken. On SQLite the write lock already serialises a read-then-insert;
    on PostgreSQL two transactions can both read "missing", so the second insert must not fail."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())


class Database:
    def __init__(self, url: str, durable: bool = True):
        if url.startswith(("postgresql://", "postgres://")):  # the usual form, with the driver Reverie ships
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self.durable = durable
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._create_engine(url)
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def _create_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            # A database that went away must cost a request seconds at most, never a hang: connecting gives
            # up after 2 s, and a request waits at most 5 s for a free connection.
            engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=24, pool_timeout=5,
                                   connect_args={"connect_timeout": 2})

            @event.listens_for(engine, "connect")
            def _vectors(dbapi_conn, _record):  # noqa: ANN001
                # Vectors then travel as binary float arrays, not as text to format and parse.
                from pgvector.psycopg import register_vector
                from psycopg import ProgrammingError

                try:
                    register_vector(dbapi_conn)
                except ProgrammingError:  # no vector type yet: the connection that runs the migrations
                    dbapi_conn.rollback()

            return engine
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            # The driver's own transaction handling is switched off; `_begin` below issues BEGIN itself.
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the upload is acknowledged (WAL + NORMAL can lose the
            # last commits on power loss, which would break "every acknowledged upload survives").
            # Non-durable databases hold state that may lose its last moments to a power cut (rate buckets).
            cur.execute("PRAGMA synchronous=FULL" if self.durable else "PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _outage_as_unavailable(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, on_rollback: Callable[[], None] | None = None,
              in_doubt: Callable[[int], None] | None = None) -> Iterator[Connection]:
        """A transaction that holds the write lock from its first statement; commits on exit. A full disk
        rolls it back and surfaces as StorageFull, a database out of reach as DatabaseUnavailable; callers
        answer both with a clear envelope.
        `on_rollback` runs when the transaction surely failed, before this process lets the next writer in
        (undo of file work that the transaction's rows would have owned). On PostgreSQL a connection lost
        during COMMIT leaves the outcome unknown: `in_doubt` then gets the transaction's id instead, to
        settle later (`txid_status`), and `on_rollback` does not run."""
        try:
            with _outage_as_unavailable():
                if self._write_lock is None:
                    yield from self._pg_write(on_rollback, in_doubt)
                    return
                with self._write_lock:
                    try:
                        with self.engine.connect() as conn:
                            conn = conn.execution_options(sqlite_immediate=True)
                            with conn.begin():
                                yield conn
                    except BaseException:
                        if on_rollback is not None:
                            on_rollback()
                        raise
        except OperationalError as exc:
            if "disk is full" in str(exc.orig) or "No space left" in str(exc.orig):
                raise FULL from exc
            raise

    def _pg_write(self, on_rollback: Callable[[], None] | None,
                  in_doubt: Callable[[int], None] | None) -> Iterator[Connection]:
        body_done, xid = False, None
        try:
            with self.engine.connect() as conn, conn.begin():
                if in_doubt is not None:
                    xid = conn.execute(text("SELECT txid_current()")).scalar()
                yield conn
                body_done = True
        except BaseException as exc:
            if not (body_done and outage(exc)):
                if on_rollback is not None:
                    on_rollback()
            elif xid is not None:
                in_doubt(xid)
            raise

    def dispose(self) -> None:
        self.engine.dispose()


def wait_for(db: Database) -> None:
    """Wait until PostgreSQL answers (store/patience.py). A refusal that is not an outage (a wrong password)
    raises at once."""
    if db.is_sqlite:
        return

    def connect() -> None:
        with _outage_as_unavailable(), db.engine.connect():
            pass

    try:
        until_available("database", connect)
    except DatabaseUnavailable as exc:
        raise DatabaseUnavailable(f"{exc.why}; gave up after {PATIENCE_SECONDS:.0f} s: is PostgreSQL running at "
                                  f"{db.engine.url.host}:{db.engine.url.port}?") from exc


def migrate(db: Database, lock_dir: Path | None = None) -> None:
    """Bring the schema to the newest revision. Safe to call from several processes at once."""
    wait_for(db)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    lock = None
    if db.is_sqlite and lock_dir is not None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock = open(lock_dir / "migrate.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with db.engine.connect() as conn:
            if not db.is_sqlite:
                # Held to the end of the session: other processes migrating at the same time wait here.
                conn.execute(text("SELECT pg_advisory_lock(hashtext('reverie-migrate'))"))
                conn.commit()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            if conn.in_transaction():
                conn.commit()
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext('reverie-migrate'))"))
                conn.commit()
        if not db.is_sqlite:
            db.engine.dispose()  # connections opened before the vector type existed would read it as text
    finally:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
