"""The command line as a newcomer meets it: `reverie import` with videos and --wait, `status`, the search
table and its empty answer, `--open` without a display, and each command's --help. Real `reverie`
processes against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import BIN, EVAL, client_side, create_key, jpeg, open_store, stack_env, stack_free
from reverie.search.fusion import LEVELS
from reverie.synthetic_video import make_video

LEOPARD = EVAL / "caltech101" / "Leopards" / "image_0001.jpg"
PIZZA = EVAL / "caltech101" / "pizza" / "image_0001.jpg"


def cli(server, key, *args, env: dict | None = None):  # noqa: ANN001, ANN002, ANN201
    return subprocess.run([str(BIN / "reverie"), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "REVERIE_URL": server.base, "REVERIE_KEY": key, **(env or {})})


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    leopard = make_video(d / "leopard.mp4", [(Image.open(LEOPARD), 2.0)])
    pizza = make_video(d / "pizza.mp4", [(Image.open(PIZZA), 2.0)])
    whole = pizza.read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])  # an mp4 by its first bytes, undecodable past them
    return {"leopard": leopard, "pizza": pizza, "truncated": d / "truncated.mp4"}


@pytest.fixture
def key(shared_server, request) -> str:
    return create_key(shared_server.data, f"cli-{request.node.name[:30]}-{time.time_ns()}")


@client_side
def test_import_takes_videos_skips_them_the_second_time_and_waits_for_indexing(shared_server, key, videos, tmp_path):
    folder = tmp_path / "2024"
    (folder / "summer").mkdir(parents=True)
    shutil.copy(LEOPARD, folder / "leopard.jpg")
    shutil.copy(videos["pizza"], folder / "summer" / "pizza.MP4")
    (folder / "summer" / "not-a-video.mov").write_bytes(b"just some text, not a film")
    (folder / "notes.txt").write_text("not a photo")
    first = cli(shared_server, key, "import", folder, "--unique-id", "trip", "--tag", "summer", "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "imported 2 (1 photo, 1 video), skipped 0 (already there), rejected 1, not photos or videos 1"
    assert lines[1].startswith(f"  rejected {folder / 'summer' / 'not-a-video.mov'}: content is not an MP4")
    assert lines[2] == "indexed 2, failed 0"
    assert "indexing" in first.stderr and "100%" in first.stderr  # the progress bar of --wait
    from reverie.client import Reverie

    with Reverie(shared_server.base, key) as rv:
        (video,) = rv.list_videos(unique_id="trip")["videos"]
        assert video["status"] == "PARSE" and video["video_name"] == "pizza" and video["tags"] == ["summer", "api"]
        (photo,) = list(rv.iter_images(unique_id="trip"))
        assert photo["status"] == "PARSE"
    again = cli(shared_server, key, "import", folder, "--unique-id", "trip", "--wait")
    assert again.returncode == 0
    assert again.stdout.splitlines()[0] == ("imported 0 (0 photos, 0 videos), skipped 2 (already there), rejected 1, "
                                            "not photos or videos 1")
    with Reverie(shared_server.base, key) as rv:
        assert rv.list_videos(unique_id="trip")["total_count"] == 1


@client_side
def test_wait_names_what_failed_and_why_and_exits_1(shared_server, key, videos, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    shutil.copy(videos["truncated"], folder / "truncated.mp4")
    shutil.copy(LEOPARD, folder / "leopard.jpg")
    out = cli(shared_server, key, "import", folder, "--unique-id", "damaged", "--wait")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "imported 2 (1 photo, 1 video), skipped 0 (already there), rejected 0, not photos or videos 0"
    assert lines[1] == "indexed 1, failed 1"
    assert lines[2].startswith(f"  failed {folder / 'truncated.mp4'} (VI") and len(lines[2].split("): ", 1)[1]) > 5
    status = cli(shared_server, key, "status")  # the same failure, through GET /indexing_status
    assert status.returncode == 0, status.stderr
    table = status.stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "PHOTOS", "UNPARSE", "PARSE", "FAILED", "VIDEOS", "UNPARSE", "PARSE", "FAILED"]
    assert table[1].split() == ["damaged", "1", "0", "1", "0", "1", "0", "0", "1"]
    failures = table[table.index("LAST FAILURES") + 1:]
    assert len(failures) == 1 and "video VI" in failures[0] and "damaged/truncated.mp4: " in failures[0]
    assert failures[0].split(": ", 1)[1] == lines[2].split("): ", 1)[1]  # the cause, as --wait printed it
    as_json = json.loads(cli(shared_server, key, "status", "--json").stdout)
    assert as_json["namespaces"] == [{"unique_id": "damaged", "images": {"UNPARSE": 0, "PARSE": 1, "FAILED": 0},
                                      "videos": {"UNPARSE": 0, "PARSE": 0, "FAILED": 1}}]
    other = cli(shared_server, create_key(shared_server.data, f"other-{time.time_ns()}"), "status")
    assert other.stdout.strip() == "no photos or videos yet; add some with `reverie import FOLDER`"  # per account


@client_side
def test_dry_run_lists_twenty_then_counts_the_rest_by_kind(shared_server, key, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(22):
        (folder / f"a{i:02d}.jpg").write_bytes(jpeg(color=(i * 10, 50, 90)))
    for i in range(3):  # a dry run reads names and hashes only
        (folder / f"z{i}.mp4").write_bytes(b"video %d" % i)
    out = cli(shared_server, key, "import", folder, "--unique-id", "dry", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "dry run: would import 25 (22 photos, 3 videos), skip 0 (already there), not photos or videos 0"
    assert lines[1:21] == [f"  would import {folder / f'a{i:02d}.jpg'}" for i in range(20)]
    assert lines[21] == "  … and 5 more (2 photos, 3 videos)" and len(lines) == 22
    from reverie.client import Reverie

    with Reverie(shared_server.base, key) as rv:
        assert rv.list_unique_ids() == []


def family_folder(tmp_path: Path, *files: Path) -> tuple[Path, Path]:
    """A data folder with the account "family", and a folder of photos and videos to import into it."""
    data = tmp_path / "library"
    create_key(data, "me", account="family")
    folder = tmp_path / "home"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f"leopard{f.suffix}")
    return data, folder


def test_import_and_status_straight_on_a_data_folder_take_videos_too(tmp_path, videos):
    data, folder = family_folder(tmp_path, LEOPARD, videos["leopard"])
    env = {**os.environ, **stack_env(data)}
    args = [str(BIN / "reverie"), "import", str(folder), "--data", str(data), "--account", "family", "--unique-id", "home"]
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == ("imported 2 (1 photo, 1 video), skipped 0 (already there), rejected 0, "
                                          "not photos or videos 0")
    again = subprocess.run(args, capture_output=True, text=True, env=env)  # the video known by its bytes here
    assert again.stdout.splitlines()[0] == ("imported 0 (0 photos, 0 videos), skipped 2 (already there), rejected 0, "
                                            "not photos or videos 0")
    status = subprocess.run([str(BIN / "reverie"), "status", "--data", str(data), "--account", "family"],
                            capture_output=True, text=True, env=env)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[1].split() == ["home", "1", "1", "0", "0", "1", "1", "0", "0"]  # nothing indexes this folder yet
    jobs = {line.split()[0]: line.split()[1:] for line in lines[lines.index("") + 2:] if line}
    assert jobs["image.index"] == ["1", "0", "0"] and jobs["video.index"] == ["1", "0", "0"]
    assert jobs["video.asr"] == ["1", "0", "0"]
    nobody = subprocess.run([str(BIN / "reverie"), "status", "--data", str(data), "--account", "nobody"],
                            capture_output=True, text=True, env=env)
    assert nobody.returncode == 1 and "no account 'nobody'" in nobody.stderr


def test_wait_on_a_folder_nobody_indexes_says_so_and_ends_once_a_worker_starts(tmp_path, monkeypatch):
    import threading

    from sqlalchemy import select

    from reverie import importer
    from reverie.store.schema import accounts

    data, folder = family_folder(tmp_path, LEOPARD)
    store = open_store(data)
    try:
        with store.db.read() as conn:
            account_id = conn.execute(select(accounts.c.id).where(accounts.c.name == "family")).scalar_one()
        target = importer.DataFolderTarget(store, account_id)
        report = importer.run(target, [str(folder)], "home", [], jobs=1)
        monkeypatch.setattr(importer, "STALL_S", 0.5)
        said, ended = threading.Event(), {}
        waiting = threading.Thread(target=lambda: ended.update(result=importer.wait(
            target, report, "home", poll=0.2, stalled=lambda seconds: said.set())), daemon=True)
        waiting.start()
        assert said.wait(60), "no word that nothing is being indexed"
        assert waiting.is_alive() and not ended
        worker = subprocess.Popen([str(BIN / "reverie"), "worker", "--data", str(data)], env={**os.environ, **stack_env(data)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            waiting.join(300)
        finally:
            worker.terminate()
            worker.wait(60)
        assert ended["result"].indexed == 1 and not ended["result"].failed
    finally:
        store.close()


@pytest.fixture(scope="module")
def zoo(shared_server, videos):
    """An account whose namespace `zoo` holds a leopard photo taken 2024-03-01 and a leopard video taken 2023-07-01."""
    from reverie.client import Reverie

    key = create_key(shared_server.data, f"zoo-{time.time_ns()}")
    with Reverie(shared_server.base, key) as rv:
        (photo,) = rv.upload_images([LEOPARD], unique_id="zoo", datetime_taken="2024-03-01 12:00:00")
        video = rv.upload_video(videos["leopard"], unique_id="zoo", datetime_taken="2023-07-01 09:30:00")["videoNo"]
        rv.wait_for_video(video, timeout=300, poll=0.3)
        deadline = time.time() + 300
        while rv.get_image(photo)["status"] == "UNPARSE" and time.time() < deadline:
            time.sleep(0.2)
    return key, photo, video


@client_side
def test_search_table_shows_rank_confidence_taken_matched_and_the_clip_moment(shared_server, zoo):
    key, photo, video = zoo
    answer = json.loads(cli(shared_server, key, "search", "a leopard", "--unique-id", "zoo", "--json").stdout)
    out = cli(shared_server, key, "search", "a leopard", "--unique-id", "zoo")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{len(answer['item'])} of {answer['total_count']} hits for 'a leopard'"
    assert lines[1].split() == ["#", "CONFIDENCE", "SCORE", "TAKEN", "(UTC)", "WHAT", "MATCHED", "ID"]
    rows = {line.split()[-1]: line for line in lines[2:]}
    assert {str(photo), video} <= set(rows)
    for rank, it in enumerate(answer["item"], 1):
        row = rows[str(it.get("id", it.get("videoNo")))]
        level = max((n for n, floor in LEVELS.items() if it["score"] >= floor), key=LEVELS.get, default="-")
        assert row.split()[:3] == [str(rank), level, f"{it['score']:.2f}"]
        assert (",".join(it["matched"]) or "-") in row
    assert "2024-03-01 12:00:00  image_0001" in rows[str(photo)]
    clip = next(it for it in answer["item"] if it.get("videoNo") == video)
    assert f"2023-07-01 09:30:00  leopard ▶ {clip['startTime']}–{clip['endTime']} s" in rows[video]


@client_side
def test_no_hits_say_which_namespaces_hold_photos_and_videos(shared_server, zoo):
    key, _, _ = zoo
    out = cli(shared_server, key, "search", "a leopard", "--unique-id", "empty")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["no hits for 'a leopard' in 'empty', which holds no photos or videos",
                                       "namespaces: zoo (1 photo, 1 video); search one with --unique-id NAME"]
    picky = cli(shared_server, key, "search", "zzzz qqqq", "--unique-id", "zoo", "--level", "high")
    assert picky.stdout.splitlines() == ["no hits for 'zzzz qqqq' in 'zoo', which holds 1 photo and 1 video",
                                         "try other words, or a lower --level than high"]


@client_side
def test_open_without_a_display_or_an_opener_says_so_in_one_line(shared_server, zoo, tmp_path):
    key, _, _ = zoo
    base = ("search", "a leopard", "--unique-id", "zoo", "--open")
    plain = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    no_display = subprocess.run([str(BIN / "reverie"), *base], capture_output=True, text=True,
                                env={**plain, "REVERIE_URL": shared_server.base, "REVERIE_KEY": key})
    assert no_display.returncode == 1
    assert no_display.stderr.splitlines() == [no_display.stderr.strip()]  # one line
    assert no_display.stderr.startswith("Error: no display to open it on (DISPLAY is not set); the top hit is at http")
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    no_opener = cli(shared_server, key, *base, env={"DISPLAY": ":99", "PATH": str(empty_path)})
    assert no_opener.returncode == 1
    assert no_opener.stderr.startswith("Error: no program to open it with (xdg-open is not installed)")
    opener = empty_path / "xdg-open"  # an opener that fails noisily, as xdg-open does without a desktop
    opener.write_text("#!/bin/sh\necho 'xdg-open: no method available for opening' >&2\nexit 3\n")
    opener.chmod(0o755)
    failing = cli(shared_server, key, *base, env={"DISPLAY": ":99", "PATH": str(empty_path)})
    assert failing.returncode == 1 and "no method available" not in failing.stderr + failing.stdout
    assert "Error: xdg-open could not open it (exit 3); the top hit is at http" in failing.stderr


@stack_free
def test_each_command_lists_only_the_options_it_uses():
    def options(*command: str) -> set[str]:
        out = subprocess.run([str(BIN / "reverie"), *command, "--help"], capture_output=True, text=True, check=True).stdout
        return {word.rstrip(",") for word in out.split() if word.startswith("--")}

    server_only = {"--port", "--host", "--max-batch-files", "--rate-limits", "--credits-per-image", "--public-url",
                   "--max-in-flight", "--signed-url-ttl", "--no-workers"}
    serve, worker = options("serve"), options("worker")
    assert server_only <= serve
    assert not server_only & worker
    assert {"--only", "--data", "--database-url", "--workers", "--model-threads", "--ocr", "--faces", "--speech"} <= worker
    for command in (("keys", "create"), ("import",), ("status",), ("search",)):
        assert not server_only & options(*command), command
    # a worker accepts serve's options all the same, so one command line starts both
    ran = subprocess.run([str(BIN / "reverie"), "worker", "--max-batch-files", "10", "--port", "1", "--help"],
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr


@client_side
def test_the_async_client_has_the_calls_the_command_line_uses(shared_server, zoo):
    import asyncio

    from reverie.client import AsyncReverie, Reverie

    key, photo, video = zoo

    async def ask() -> tuple:
        async with AsyncReverie(shared_server.base, key) as rv:
            return await rv.search_all("a leopard", unique_id="zoo"), await rv.namespaces(), await rv.indexing_status()

    found, namespaces, status = asyncio.run(ask())
    def ranked(answer: dict) -> list:  # signed links aside, which carry their expiry time
        return [(it.get("id", it.get("videoNo")), it["score"]) for it in answer["item"]]

    with Reverie(shared_server.base, key) as rv:
        assert (ranked(found), namespaces, status) == (ranked(rv.search_all("a leopard", unique_id="zoo")),
                                                       rv.namespaces(), rv.indexing_status())
    assert {it.get("id", it.get("videoNo")) for it in found["item"]} == {photo, video}
    assert namespaces == [{"unique_id": "zoo", "images": 1, "videos": 1}]
    assert status["namespaces"][0]["videos"]["PARSE"] == 1 and status["failures"] == []
