"""Indexing throughput with 1, 2 and 4 `reverie worker` processes on the distributed stack
(PostgreSQL + S3), and a check that nothing was lost or done twice.

    .venv/bin/python bench/workers.py                          # 300 COCO photos, W = 1, 2, 4
    .venv/bin/python bench/workers.py --images 30 --kill       # small, and SIGKILL one worker mid-run

A throwaway PostgreSQL and SeaweedFS S3 (reverie.devstack) serve every run. For each W: a fresh database
and bucket prefix; `reverie serve --no-workers` takes all N uploads (real photos from
../shared/eval/coco/images, read in place, cycled when fewer, 8 random bytes appended so each is new)
with no worker running; the server is stopped, then W `reverie worker --workers 1` processes start and
the clock runs until every image is PARSE. Two rates: wall (from starting the workers, their start-up and
model loading included) and steady (first image indexed to last).

Then the check: every image PARSE, no job left queued, running or failed (a done job's row is deleted),
one vector row per image and space, one full-text row per image, every original and thumbnail in S3.

--kill: once a quarter of the images are done, SIGKILL a worker while it holds a job, and start a new
one in its place; the jobs it held must be taken again after their lease (--job-lease-seconds, 10 here;
300 by default in Reverie) and end indexed once. Every worker runs with that short lease then, so on a
loaded machine a slow job may also be taken over (and counted as a retry): its first result is dropped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reverie.config import Settings  # noqa: E402
from reverie.devstack import Postgres, SeaweedS3  # noqa: E402
from reverie.store import Store  # noqa: E402
from reverie.store.accounts import create_key  # noqa: E402
from reverie.store.blobs import original_key  # noqa: E402

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "eval" / "coco" / "images"
BUCKET = "bench"


def stop_on_sigterm() -> None:
    """SIGTERM runs the finally blocks (workers, PostgreSQL and S3 stopped) like Ctrl-C does."""

    def interrupt(*_) -> None:  # noqa: ANN002
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def photos(n: int, folder: Path) -> list[tuple[str, bytes]]:
    sources = sorted(folder.glob("*.jpg"))
    if not sources:
        raise SystemExit(f"no .jpg photos in {folder}")
    return [(f"{i:05d}-{sources[i % len(sources)].name}", sources[i % len(sources)].read_bytes() + os.urandom(8))
            for i in range(n)]


def pg(url: str):  # noqa: ANN201
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)


def owner_pid(owner: str | None) -> int | None:
    """Workers name themselves host:pid:random (index/worker.py)."""
    try:
        return int(owner.split(":")[1])
    except (AttributeError, IndexError, ValueError):
        return None


@dataclass
class Run:
    workers: int
    images: int
    wall_s: float = 0.0
    steady_s: float = 0.0
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    killed: str = ""
    killed_images: list[int] = field(default_factory=list)  # what the SIGKILLed worker held
    killed_ms: int = 0  # when (epoch ms, as images.indexed_ms)
    retried: dict[int, tuple[int, str]] = field(default_factory=dict)  # image -> (most attempts seen, owner)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


def start_worker(data: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "reverie"), "worker", "--data", str(data), "--workers", "1", "--log-level", "warning",
                             "--log-format", "text"], env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def one_run(args: argparse.Namespace, W: int, postgres: Postgres, s3: SeaweedS3, blobs: list[tuple[str, bytes]],
            folder: Path) -> Run:
    run = Run(W, len(blobs))
    url = postgres.create_database(f"bench_w{W}")
    blob_url = s3.blob_url(BUCKET, f"w{W}-{os.getpid()}")
    data = folder / f"w{W}"
    settings = Settings(data=data, database_url=url, blob_url=blob_url)
    store = Store.open(settings)
    key = create_key(store.db, "bench", "bench")
    env = {**os.environ, "REVERIE_DATABASE_URL": url, "REVERIE_BLOB_URL": blob_url, "REVERIE_MODEL_DIR": args.model_dir,
           "REVERIE_JOB_LEASE_SECONDS": str(args.job_lease_seconds)}
    t0 = time.perf_counter()
    with serving(data, key, "--no-workers", env=env) as http:
        for i in range(0, len(blobs), 10):
            files = [("files", (name, b, "image/jpeg")) for name, b in blobs[i : i + 10]]
            res = http.post("/upload_img", files=files).json()
            assert res["code"] == "0000", res
    print(f"  W={W}: uploaded {len(blobs)} photos in {time.perf_counter() - t0:.1f} s (no worker running)", file=sys.stderr)
    procs: list[subprocess.Popen] = []
    db = pg(url)
    try:
        assert db.execute("SELECT count(*) FROM images WHERE status = 'UNPARSE'").fetchone()[0] == len(blobs)
        t0 = time.perf_counter()
        procs = [start_worker(data, env, data / f"worker-{i}.log") for i in range(W)]
        deadline = time.monotonic() + args.timeout
        while True:
            parse, failed = db.execute("SELECT count(*) FILTER (WHERE status = 'PARSE'), "
                                       "count(*) FILTER (WHERE status = 'FAILED') FROM images").fetchone()
            for subject, attempts, owner in db.execute("SELECT subject_id, attempts, lease_owner FROM jobs WHERE attempts > 1"):
                if attempts > run.retried.get(subject, (0, ""))[0]:
                    run.retried[subject] = (attempts, owner or "")
            if parse + failed == len(blobs):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"W={W}: {parse} of {len(blobs)} PARSE after {args.timeout} s; logs in {data}")
            dead = [p for p in procs if p.poll() is not None and p.returncode != -signal.SIGKILL]
            if dead:
                raise RuntimeError(f"W={W}: a worker exited with {dead[0].returncode}; logs in {data}")
            if args.kill and not run.killed and parse >= len(blobs) // 4:
                run.killed, run.killed_images = kill_one(db, procs, data, env, t0)
                run.killed_ms = int(time.time() * 1000)
            time.sleep(0.2)
        run.wall_s = time.perf_counter() - t0
        first, last = db.execute("SELECT min(indexed_ms), max(indexed_ms) FROM images").fetchone()
        run.steady_s = (last - first) / 1000 if last and first else 0.0
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        verify(run, db, store, failed)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        db.close()
        store.close()
    return run


def kill_one(db, procs: list[subprocess.Popen], data: Path, env: dict, t0: float) -> tuple[str, list[int]]:  # noqa: ANN001
    """SIGKILL a worker that holds a job right now and start another in its place: (what happened, the
    images it held); ('', []) if none held one at this moment."""
    by_pid = {p.pid: p for p in procs if p.poll() is None}
    for job_id, subject, owner, attempts in db.execute(
            "SELECT id, subject_id, lease_owner, attempts FROM jobs WHERE state = 'running' ORDER BY id").fetchall():
        victim = by_pid.get(owner_pid(owner))
        if victim is None:
            continue
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        held = [r[0] for r in db.execute("SELECT subject_id FROM jobs WHERE state = 'running' AND lease_owner = %s", (owner,))]
        procs.append(start_worker(data, env, data / f"worker-{len(procs)}.log"))
        note = (f"SIGKILLed worker pid {victim.pid} at {time.perf_counter() - t0:.1f} s while it held job {job_id} "
                f"(image {subject}, attempt {attempts}); images it held: {held}; a new worker started in its place")
        print(f"  {note}", file=sys.stderr)
        return note, held
    return "", []


def verify(run: Run, db, store: Store, failed: int) -> None:  # noqa: ANN001
    n = run.images
    check = run.checks.append
    status = dict(db.execute("SELECT status, count(*) FROM images GROUP BY status").fetchall())
    check(("every image PARSE", status.get("PARSE", 0) == n and failed == 0, f"{status}"))
    jobs = db.execute("SELECT state, count(*), max(attempts) FROM jobs GROUP BY state").fetchall()
    left = {s: c for s, c, _ in jobs if s != "done"}
    per_subject = db.execute("SELECT count(*) FROM (SELECT subject_id FROM jobs GROUP BY subject_id HAVING count(*) > 1) d").fetchone()[0]
    check(("no job queued, running or failed", not left and per_subject == 0,
           f"job rows left: { {s: c for s, c, _ in jobs} or 'none (a done job is deleted)'}"
           + (f"; subjects with several jobs: {per_subject}" if per_subject else "")))
    spaces = db.execute("SELECT space, count(*), count(DISTINCT image_id) FROM image_vectors GROUP BY space").fetchall()
    doubled = db.execute("SELECT count(*) FROM (SELECT image_id, space FROM image_vectors GROUP BY image_id, space "
                         "HAVING count(*) > 1) d").fetchone()[0]
    check(("one vector row per image and space", doubled == 0 and bool(spaces) and all(c == d == n for _, c, d in spaces),
           ", ".join(f"{s}: {c} rows / {d} images" for s, c, d in spaces) + f"; doubled: {doubled}"))
    fts, fts_distinct = db.execute("SELECT count(*), count(DISTINCT rowid) FROM image_fts").fetchone()
    check(("one full-text row per image", fts == fts_distinct == n, f"image_fts rows: {fts}"))
    rows = db.execute("SELECT sha256, size, thumbnail_key FROM images").fetchall()
    originals = set(store.blobs.keys("originals"))
    thumbnails = set(store.blobs.keys("thumbnails"))
    missing = [sha for sha, _, _ in rows if original_key(sha) not in originals]
    wrong_size = [sha for sha, size, _ in rows[:20] if original_key(sha) in originals and store.blobs.size(original_key(sha)) != size]
    check(("every original in S3", not missing and not wrong_size and len(originals) == n,
           f"{len(originals)} originals, missing {len(missing)}, wrong size {len(wrong_size)} (of 20 sized)"))
    no_thumb = [t for _, _, t in rows if t is None or t not in thumbnails]
    check(("every thumbnail in S3", not no_thumb, f"{len(thumbnails)} thumbnails, missing {len(no_thumb)}"))
    if run.killed_images:
        ids = run.killed_images
        final = db.execute("SELECT count(*) FILTER (WHERE status = 'PARSE') FROM images WHERE id = ANY(%s)", (ids,)).fetchone()[0]
        vec = db.execute("SELECT count(*) FROM image_vectors WHERE image_id = ANY(%s)", (ids,)).fetchone()[0]
        fts_rows = db.execute("SELECT count(*) FROM image_fts WHERE rowid = ANY(%s)", (ids,)).fetchone()[0]
        seen = [i for i in ids if i in run.retried]
        after = [(ms - run.killed_ms) / 1000 for (ms,) in db.execute("SELECT indexed_ms FROM images WHERE id = ANY(%s)", (ids,))]
        check(("the killed worker's images indexed once", final == len(ids) and vec == len(spaces) * len(ids) and fts_rows == len(ids),
               f"images {ids}: PARSE {final}/{len(ids)}, vector rows {vec}, full-text rows {fts_rows}; indexed "
               + ", ".join(f"{a:.1f} s" for a in after) + " after the kill (the lease: its job waited for it to run out); "
               f"seen claimed again (attempt 2+) while polling: {seen or 'not caught between polls'}"))
    if run.retried:
        ids = list(run.retried)
        final = db.execute("SELECT count(*) FILTER (WHERE status = 'PARSE') FROM images WHERE id = ANY(%s)", (ids,)).fetchone()[0]
        vec = db.execute("SELECT count(*) FROM image_vectors WHERE image_id = ANY(%s)", (ids,)).fetchone()[0]
        per_image = len(spaces)
        check(("retried images indexed once", final == len(ids) and vec == per_image * len(ids),
               f"{len(ids)} image(s) taken again after a lease ran out: "
               + ", ".join(f"{i} (attempt {a}, {o.split(':')[1] if ':' in o else o})" for i, (a, o) in sorted(run.retried.items())[:8])
               + f"; PARSE {final}/{len(ids)}, vector rows {vec} (expected {per_image * len(ids)})"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--workers", default="1,2,4", help="worker process counts to measure, comma separated")
    ap.add_argument("--photos", type=Path, default=PHOTOS, help="folder of .jpg photos, read in place")
    ap.add_argument("--model-dir", default=str(ROOT / ".model-cache"))
    ap.add_argument("--kill", action="store_true", help="SIGKILL one worker mid-run (see above)")
    ap.add_argument("--job-lease-seconds", type=int, default=None, help="default: 10 with --kill, else Reverie's 300")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one run may take to index everything")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, PostgreSQL, S3)")
    args = ap.parse_args()
    if args.job_lease_seconds is None:
        args.job_lease_seconds = 10 if args.kill else Settings().job_lease_seconds
    stop_on_sigterm()
    counts = [int(w) for w in args.workers.split(",")]
    blobs = photos(args.images, args.photos)
    folder = Path(tempfile.mkdtemp(prefix="reverie-bench-workers-"))
    loadavg = os.getloadavg()
    print(f"{len(blobs)} photos from {args.photos} ({sum(len(b) for _, b in blobs) / len(blobs) / 1024:.0f} KB on average); "
          f"work in {folder}", file=sys.stderr)
    postgres = s3 = None
    runs: list[Run] = []
    try:
        postgres = Postgres(folder / "postgres").start()
        s3 = SeaweedS3(folder / "s3").start()
        for W in counts:
            runs.append(one_run(args, W, postgres, s3, blobs, folder))
            print(f"  W={W}: {runs[-1].images / runs[-1].wall_s:.2f} images/s (wall)", file=sys.stderr)
    finally:
        if s3 is not None:
            s3.stop()
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} CPUs, load average {loadavg[0]:.1f} at start; {args.images} real COCO photos; "
          f"PostgreSQL + SeaweedFS S3 (devstack) on this machine; each worker: 1 indexing thread, model_threads 1; "
          f"job lease {args.job_lease_seconds} s" + ("; one worker SIGKILLed per run" if args.kill else ""))
    head = f"{'workers':>7} {'images':>7} {'wall s':>8} {'images/s':>9} {'steady s':>9} {'images/s':>9} {'vs W=' + str(counts[0]):>8}  check"
    print(head)
    print("-" * len(head))
    base = runs[0].images / runs[0].wall_s if runs else 1.0
    for r in runs:
        steady = (r.images - 1) / r.steady_s if r.steady_s else float("nan")
        print(f"{r.workers:>7} {r.images:>7} {r.wall_s:>8.1f} {r.images / r.wall_s:>9.2f} {r.steady_s:>9.1f} {steady:>9.2f} "
              f"{r.images / r.wall_s / base:>7.2f}x  {'ok' if r.ok else 'FAILED'}")
    print(f"(wall: from starting the workers to the last PARSE, their start-up and model loading included; steady: "
          f"first image indexed to last.) This machine has {os.cpu_count()} cores and every worker process runs its "
          f"models on one thread: past {os.cpu_count()} workers they share the same cores, so the rate saturates "
          f"rather than growing with W (and PostgreSQL, S3 and other work on the machine take their share).")
    for r in runs:
        print(f"\nW={r.workers}: nothing lost or doubled: {'yes' if r.ok else 'NO'}")
        if r.killed:
            print(f"  {r.killed}")
        elif args.kill:
            print("  (no worker held a job when the kill was due: none killed)")
        for name, ok, detail in r.checks:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    if not all(r.ok for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
