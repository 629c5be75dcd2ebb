"""The video library against a live server: upload, indexing (keyframes, image models, speech), every read
and search endpoint, delete, download, callbacks, broken files, and a restart in the middle of indexing.
The fixture videos are made here with PyAV from Caltech photos and the LibriVox sonnet in ../shared/eval."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw, ImageFont

from conftest import EVAL, Server, blob_files, blob_store, create_key, db_rows, open_store, reverie
from reverie.synthetic_video import make_video

CALTECH = EVAL / "caltech101"
SONNET = EVAL / "speech" / "sonnet1"
SHOTS = [("leopard", CALTECH / "Leopards" / "image_0001.jpg"), ("motorbike", CALTECH / "Motorbikes" / "image_0001.jpg"),
         ("accordion", CALTECH / "accordion" / "image_0001.jpg")]
SHOT_S = 18.0
GERMAN = ("Der Zug nach Berlin hat heute zwanzig Minuten Verspätung. "
          "Wir treffen uns morgen früh am Bahnhof und fahren dann gemeinsam zum Flughafen.")


def lines() -> list[tuple[float, float, str]]:
    fragments = json.loads((SONNET / "sonnet.json").read_text())["fragments"]
    return [(float(f["begin"]), float(f["end"]), " ".join(f["lines"])) for f in fragments]


def shop_sign() -> Image.Image:
    """A shop's sign as a film shows one: a name OCR reads as one word ("ABCHOTRADING" for ABC HO TRADING, as
    on the receipts of ../shared/eval/sroie) and dotted initials."""
    sign = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(sign)
    font = ImageFont.load_default(size=56)
    draw.text((40, 80), "MR D.I.Y.", fill="black", font=font)
    draw.text((40, 200), "ABCHOTRADING", fill="black", font=font)
    return sign


class Callbacks(BaseHTTPRequestHandler):
    received: list[dict] = []
    refused = 0

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/flaky" and Callbacks.refused < 2:  # a receiver that is down for a moment
            Callbacks.refused += 1
            self.send_response(503)
            self.end_headers()
            return
        Callbacks.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    shots = [(Image.open(p), SHOT_S) for _, p in SHOTS]
    out = {
        "sonnet": make_video(d / "sonnet.mp4", shots, audio=SONNET / "audio.mp3"),
        "h265": make_video(d / "pizza.mp4", [(Image.open(CALTECH / "pizza" / "image_0001.jpg"), 4.0)], codec="h265"),
        "vp9": make_video(d / "piano.mkv", [(Image.open(CALTECH / "grand_piano" / "image_0001.jpg"), 4.0)], codec="vp9"),
        "shop": make_video(d / "high_street.mp4", [(shop_sign(), 4.0)]),
    }
    if shutil.which("espeak-ng"):  # .ci/run installs it; German speech is made with it
        subprocess.run(["espeak-ng", "-v", "de", "-w", str(d / "bahnhof.wav"), GERMAN], check=True)
        out["german"] = make_video(d / "bahnhof.mp4", [(Image.open(CALTECH / "pizza" / "image_0002.jpg"), 11.0)],
                                   audio=d / "bahnhof.wav")
    whole = out["h265"].read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    out["truncated"] = d / "truncated.mp4"
    return out


@pytest.fixture(scope="module")
def library(tmp_path_factory, media):
    hook = HTTPServer(("127.0.0.1", 0), Callbacks)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    server = Server(tmp_path_factory.mktemp("videos") / "data", "--workers", "2", "--allow-private-urls", "true").start()
    client = server.client(create_key(server.data, "filmmaker"))
    callback = f"http://127.0.0.1:{hook.server_port}/done"
    nos = {}
    for name, extra in (("sonnet", {"tags": ["poetry", "cats"], "camera_model": "Sony A7", "callback": callback,
                                    "datetime_taken": "2024-03-01 12:00:00"}),
                        ("h265", {"callback": callback.replace("/done", "/flaky")}), ("vp9", {}),
                        ("truncated", {"callback": callback}), ("german", {}), ("shop", {})):
        path = media.get(name)
        if path is None:
            continue
        with open(path, "rb") as f:
            res = client.post("/upload", files={"file": (path.name, f, "video/mp4" if path.suffix == ".mp4" else "video/x-matroska")},
                              data=extra).json()
        assert res["code"] == "0000", res
        nos[name] = res["data"]["videoNo"]
    for no in nos.values():
        client.wait_video(no)
    yield server, client, nos
    server.stop()
    hook.shutdown()


def search(client, query: str, kind: str, **extra) -> list[dict]:  # noqa: ANN001
    res = client.post("/search", json={"search_param": query, "search_type": kind, **extra}).json()
    assert res["code"] == "0000", res
    return res["data"]


def test_upload_answers_as_the_reference_and_indexing_reaches_parse(library):
    server, client, nos = library
    assert nos["sonnet"].startswith("VI") and nos["sonnet"][2:].isdigit() and 18 <= len(nos["sonnet"]) - 2 <= 19
    meta = client.wait_video(nos["sonnet"])
    assert meta["status"] == "PARSE" and meta["duration"] == 54 and meta["width"] == 640 and meta["height"] == 360
    assert meta["fps"] == 10.0 and meta["tags"] == ["poetry", "cats", "api"] and meta["camera_model"] == "Sony A7"
    assert meta["bucket"] == "reverie-videos" and meta["blob"] == f"{nos['sonnet']}.mp4"
    streamed = requests.get(meta["video_url"], headers={"Range": "bytes=0-7"}, timeout=10)  # signed: no key needed
    assert streamed.status_code == 206 and streamed.content[4:8] == b"ftyp"
    assert client.get("/get_metadata", params={"video_no": "VI123"}).json() == {
        "code": "0000", "msg": "success", "data": None, "success": True, "failed": False}
    deadline = time.time() + 60  # a retried callback waits its backoff; the machine may be loaded
    while time.time() < deadline and len(Callbacks.received) < 3:
        time.sleep(0.1)
    assert {"videoNo": nos["sonnet"], "status": "PARSE"} in Callbacks.received
    assert {"videoNo": nos["truncated"], "status": "FAILED"} in Callbacks.received
    assert {"videoNo": nos["h265"], "status": "PARSE"} in Callbacks.received and Callbacks.refused == 2  # retried


def test_phrase_search_finds_each_line_within_one_and_a_half_seconds(library):
    _, client, nos = library
    for begin, _end, text in lines():
        if text in ("That thereby beauty's rose might never die,", "Making a famine where abundance lies,",
                    "Thou that art now the world's fresh ornament,"):
            phrase = text.rstrip(",").split(" ", 1)[1][:24].upper()  # case-insensitive, from the second word
            data = client.get("/search_audio_transcripts", params={"query": phrase}).json()["data"]
            hits = [v for v in data["videos"] if v["videoNo"] == nos["sonnet"]]
            assert hits, (phrase, data)
            assert abs(int(hits[0]["startTime"]) - begin) <= 1.5, (phrase, hits[0], begin)
            assert phrase.lower() in hits[0]["audio_ts"].lower()
    none = client.get("/search_audio_transcripts", params={"query": "quantum chromodynamics"}).json()["data"]
    assert none["total_count"] == 0 and none["videos"] == []
    for literal in ("%", "_", "100%", "%_%"):  # LIKE wildcards are punctuation, which phrase search looks past
        assert client.get("/search_audio_transcripts", params={"query": literal}).json()["data"]["total_count"] == 0
    bad = client.get("/search_audio_transcripts", params={"query": "x", "page_size": 501}).json()
    assert bad["code"] == "0001"


def test_a_phrase_is_found_whatever_its_spelling_and_across_segments(library):
    _, client, nos = library
    transcript = client.get("/get_audio_transcription", params={"video_no": nos["sonnet"]}).json()["data"]
    said = transcript["transcriptions"]
    assert transcript["language"] == "en" and {t["language"] for t in said} == {"en"}

    def hits(phrase: str) -> list[dict]:
        data = client.get("/search_audio_transcripts", params={"query": phrase}).json()["data"]
        return [v for v in data["videos"] if v["videoNo"] == nos["sonnet"]]

    for a, b in zip(said, said[1:]):  # the last two words of a segment and the first two of the next
        left, right = a["content"].split()[-2:], b["content"].split()[:2]
        if len(a["content"].split()) < 2 or len(b["content"].split()) < 2:
            continue
        found = hits(" ".join(left + right))
        assert found and found[0]["match"] == "exact", (left, right)
        assert int(a["startTime"]) <= found[0]["start"] <= int(b["startTime"]) + 1
        assert found[0]["end"] >= float(b["startTime"])  # it ends in the next segment's words
    begins = {text: begin for begin, _end, text in lines()}
    for typed, line in (("FROM FAIREST-CREATURES we desire", "From fairest creatures we desire increase,"),
                        ("thy self thy foe to thy sweet", "Thy self thy foe, to thy sweet self too cruel:"),
                        ("pity the planet, or else this glutton", "Pity the world, or else this glutton be,")):
        found = hits(typed)
        assert found, typed
        top = found[0]
        assert abs(top["start"] - begins[line]) <= 1.5 and int(top["startTime"]) == int(top["start"]), (typed, top)
        assert float(top["endTime"]) >= top["end"] > top["start"] and top["match"] in ("exact", "near")
    near = hits("pity the planet, or else this glutton")[0]
    assert near["match"] == "near" and "planet" not in near["heard"] and "glutton" in near["heard"]


def test_a_german_sentence_said_is_found_typed(library):
    _, client, nos = library
    if "german" not in nos:
        pytest.skip("espeak-ng is not installed here (.ci/run installs it)")
    transcript = client.get("/get_audio_transcription", params={"video_no": nos["german"]}).json()["data"]
    assert transcript["language"] == "de" and all(t["language"] == "de" for t in transcript["transcriptions"])
    first, second = GERMAN.split(". ")
    for query in (first, second, "Wir fahren gemeinsam zum Flughafen"):
        top = search(client, query, "BY_AUDIO")[0]
        assert top["videoNo"] == nos["german"], (query, top)
    assert int(search(client, second, "BY_AUDIO")[0]["startTime"]) >= 3  # the second sentence, not the first
    found = client.get("/search_audio_transcripts", params={"query": "morgen fruh am Bahnhof"}).json()["data"]["videos"]
    assert [v["videoNo"] for v in found] == [nos["german"]] and found[0]["start"] >= 3


def test_a_clip_whose_speech_holds_the_words_ranks_first(library):
    _, client, nos = library
    [photo] = client.upload_ok([("eyes.jpg", (CALTECH / "Leopards" / "image_0002.jpg").read_bytes(), "image/jpeg")])
    client.wait_indexed(photo)
    for kind in ("BY_CLIP", "ALL"):
        hits = search(client, "contracted to thine own bright eyes", kind)
        hits = hits["item"] if kind == "ALL" else hits
        top = hits[0]
        assert top.get("kind", "clip") == "clip" and top["videoNo"] == nos["sonnet"] and "said" in top["matched"], (kind, hits[:3])
        assert int(top["startTime"]) <= 18 and int(top["endTime"]) >= 15, top
        unheld = [h for h in hits if "said" not in h.get("matched", [])]
        assert unheld and hits.index(unheld[0]) > max(i for i, h in enumerate(hits) if "said" in h.get("matched", []))
    assert any(h["kind"] == "image" for h in search(client, "a leopard", "ALL")["item"])
    for query in ("a leopard", "contracted to thine own bright eyes", "a motorbike"):
        spans = [(int(h["startTime"]), int(h["endTime"])) for h in search(client, query, "BY_CLIP") if h["videoNo"] == nos["sonnet"]]
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), (query, spans)  # no two overlap


def test_by_audio_finds_the_moment_by_meaning(library):
    _, client, nos = library
    hits = search(client, "a rose whose beauty never dies", "BY_AUDIO")
    assert hits[0]["videoNo"] == nos["sonnet"]
    begin = next(b for b, _, t in lines() if t.startswith("That thereby"))
    assert int(hits[0]["startTime"]) <= begin + 1.5 and int(hits[0]["endTime"]) >= begin
    assert "rose" in hits[0]["audio_ts"] and isinstance(hits[0]["startTime"], str)
    assert int(hits[0]["endTime"]) - int(hits[0]["startTime"]) < 20  # a moment, not the whole reading


def test_a_visual_query_finds_the_right_shot(library):
    _, client, nos = library
    for i, (name, _) in enumerate(SHOTS):
        hits = search(client, f"a {name}", "BY_CLIP")
        top = hits[0]
        assert top["videoNo"] == nos["sonnet"], (name, hits[:3])
        assert i * SHOT_S - 1 <= int(top["startTime"]) < (i + 1) * SHOT_S, (name, top)
        assert top["keyframe_bucket"] == "reverie-keyframes" and top["audio_ts"] == ""
        frame = client.get("/download", params={"bucket": top["keyframe_bucket"], "blob": top["keyframe_blob"]})
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert search(client, "a leopard", "BY_VIDEO", video_nos=[nos["vp9"]]) == [] or all(
        h["videoNo"] == nos["vp9"] for h in search(client, "a leopard", "BY_VIDEO", video_nos=[nos["vp9"]]))
    assert search(client, "a leopard", "BY_CLIP", tag="nope") == []
    assert search(client, "a leopard", "BY_CLIP", camera_tag="Sony A7")[0]["videoNo"] == nos["sonnet"]


def test_a_shop_word_on_screen_finds_its_moment_though_ocr_glued_or_dotted_it(library):
    _, client, nos = library
    captions = client.get("/get_video_caption", params={"video_no": nos["shop"]}).json()["data"]["transcriptions"]
    assert any("ABCHOTRADING" in c["content"] for c in captions), captions  # what the test is about: one word read
    for query in ("trading", "ABC", "D.I.Y.", "mrdiy"):  # the last as one word, where the sign spaces it
        hits = search(client, query, "BY_CLIP")
        assert hits and hits[0]["videoNo"] == nos["shop"] and "words" in hits[0]["matched"], (query, hits[:3])


def test_clips_whose_text_was_read_by_an_older_reverie_get_their_words_from_the_stored_text(library):
    from sqlalchemy import text

    from reverie.store.schema import video_clips
    from reverie.store.search_index import fold

    server, client, nos = library
    store = open_store(server.data)  # what an older Reverie indexed: the caption alone
    with store.db.write() as conn:
        for clip in conn.execute(video_clips.select().where(video_clips.c.ocr_text.is_not(None))).all():
            conn.execute(text("UPDATE clip_fts SET caption = :c WHERE rowid = :id"), {"c": fold(clip.caption), "id": clip.id})
    store.db.dispose()
    shop = lambda hits: [h for h in hits if h["videoNo"] == nos["shop"] and "words" in h["matched"]]  # noqa: E731
    for query in ("trading", "mrdiy"):
        assert shop(search(client, query, "BY_CLIP")) == [], query
    for _ in range(2):  # and once more: nothing changes
        out = reverie("models", "reindex-text", "--data", str(server.data)).stdout
        written = re.search(r"(\d+) of (\d+) video clips with text is indexed again", out)
        assert written and int(written[1]) == int(written[2]) >= 1, out
    for query in ("trading", "ABC", "mrdiy"):
        assert search(client, query, "BY_CLIP")[0]["videoNo"] == nos["shop"], query


def test_h265_and_vp9_index_and_a_silent_video_has_no_transcript(library):
    _, client, nos = library
    for name in ("h265", "vp9"):
        meta = client.wait_video(nos[name])
        assert meta["status"] == "PARSE" and meta["duration"] == 4, meta
        res = client.get("/get_audio_transcription", params={"video_no": nos[name]}).json()
        assert res["code"] == "0000" and res["data"] is None
    transcript = client.get("/get_audio_transcription", params={"video_no": nos["sonnet"]}).json()["data"]
    assert transcript["videoNo"] == nos["sonnet"] and len(transcript["transcriptions"]) >= 8
    assert all(isinstance(t["startTime"], str) for t in transcript["transcriptions"])
    captions = client.get("/get_video_caption", params={"video_no": nos["sonnet"]}).json()["data"]["transcriptions"]
    assert any("Speech:" in c["content"] for c in captions)
    by_caption = search(client, "an accordion", "BY_CAPTION")[0]
    assert by_caption["video_no"] == nos["sonnet"] and isinstance(by_caption["start_time"], float)
    assert len(by_caption["vector"]) == 385 and len(by_caption["user_id"]) == 32 and "Shows" in by_caption["text"]
    # Two videos show a pizza (the German one another photo of one): they come first, in either order
    pizzas = {nos[n] for n in ("h265", "german") if n in nos}
    found = [h["videoNo"] for h in search(client, "pizza", "BY_CLIP")]
    assert set(found[:len(pizzas)]) == pizzas, found


def test_a_truncated_file_fails_with_a_cause_and_a_non_video_is_refused_at_upload(library):
    server, client, nos = library
    meta = client.wait_video(nos["truncated"])
    assert meta["status"] == "FAILED" and meta["cause"], meta
    before = db_rows(server.data, "SELECT count(*) FROM videos")[0][0]
    res = client.post("/upload", files={"file": ("clip.mp4", b"\x00" * 64 + b"not a video at all", "video/mp4")}).json()
    assert res["code"] == "0001" and res["msg"].startswith("file: content is not an MP4")
    res = client.post("/upload", files={"file": ("clip.exe", b"MZ" + b"\x00" * 64, "video/mp4")}).json()
    assert res["code"] == "0001" and "extension" in res["msg"]
    res = client.post("/upload", files={"file": ("clip.mp4", Path(__file__).read_bytes(), "text/plain")}).json()
    assert res["code"] == "0001" and "Content-Type" in res["msg"]
    res = client.post("/upload", files={"file": ("a.mp4", b"....ftypisom", "video/mp4")}, data={"tags": [str(i) for i in range(21)]}).json()
    assert res["code"] == "0001" and res["msg"] == "tags: at most 20 tags, got 21"
    assert db_rows(server.data, "SELECT count(*) FROM videos")[0][0] == before
    assert not any((server.data / "staging").iterdir())


def test_similar_keyframes_and_clips_by_image(library):
    _, client, nos = library
    with open(SHOTS[1][1], "rb") as f:
        res = client.post("/search_similar_images", files={"file": ("q.jpg", f, "image/jpeg")}, data={"similarity": "0.5"}).json()
    assert res["code"] == "0000" and res["data"], res
    top = res["data"][0]
    assert top["videoNo"] == nos["sonnet"] and SHOT_S - 1 <= int(top["startTime"]) < 2 * SHOT_S
    with open(SHOTS[2][1], "rb") as f:
        res = client.post("/search_clips_by_image", files={"file": ("q.jpg", f, "image/jpeg")},
                          data={"video_no": nos["sonnet"], "prompt": "an accordion"}).json()
    assert res["code"] == "0000" and res["data"], res
    assert 2 * SHOT_S - 1 <= res["data"][0]["start_time"] < 3 * SHOT_S and isinstance(res["data"][0]["start_time"], float)
    with open(SHOTS[2][1], "rb") as f:
        missing = client.post("/search_clips_by_image", files={"file": ("q.jpg", f, "image/jpeg")},
                              data={"video_no": nos["sonnet"]}).json()
    assert missing["code"] == "0001" and missing["msg"].startswith("prompt:")


def test_list_videos_filters_and_pages(library):
    _, client, nos = library
    data = client.post("/list_videos", json={"page": 1, "size": 2}).json()["data"]
    assert data["total_count"] == len(nos) and len(data["videos"]) == 2 and data["current_page"] == 1
    assert client.post("/list_videos", json={"status": "FAILED"}).json()["data"]["videos"][0]["video_no"] == nos["truncated"]
    tagged = client.post("/list_videos", json={"tag": "poetry"}).json()["data"]["videos"]
    assert [v["video_no"] for v in tagged] == [nos["sonnet"]]
    assert client.post("/list_videos", json={"video_nos": [nos["vp9"], nos["h265"]]}).json()["data"]["total_count"] == 2
    for body in ({"camera_model": "Sony A7"}, {"video_name": "sonnet"}, {"video_name": "sonnet.mp4"}, {"video_no": nos["sonnet"]},
                 {"datetime_taken": 1709294400000}):  # 2024-03-01 12:00:00, at or after
        found = client.post("/list_videos", json=body).json()["data"]["videos"]
        assert [v["video_no"] for v in found] == [nos["sonnet"]], body
    assert client.post("/list_videos", json={"datetime_taken": 1709294400001}).json()["data"]["total_count"] == 0
    assert client.post("/list_videos", json={"video_name": "sonn"}).json()["data"]["total_count"] == 0
    assert client.post("/list_videos", json={"status": "DONE"}).json()["code"] == "0003"
    assert "default" in client.get("/list_unique_ids").json()["data"]["unique_ids"]


def test_the_official_example_client_sequence_works_unchanged(library, media):
    """As memories.ai's example client does it: upload, poll get_metadata until PARSE, search BY_CLIP and
    BY_AUDIO, search_audio_transcripts, stream POST /download."""
    server, client, _ = library
    base = server.url("")
    headers = {"Authorization": client.session.headers["Authorization"]}
    with open(media["sonnet"], "rb") as f:
        up = requests.post(f"{base}/upload", files={"file": ("sonnet.mp4", f, "video/mp4")},
                           data={"unique_id": "demo", "retain_original_video": "true"}, headers=headers).json()
    assert up["code"] == "0000" and up["data"]["videoStatus"] == "UNPARSE"
    video_no = up["data"]["videoNo"]
    for _ in range(600):
        meta = requests.get(f"{base}/get_metadata", params={"video_no": video_no, "unique_id": "demo"}, headers=headers).json()
        if meta["data"] and meta["data"]["status"] == "PARSE":
            break
        time.sleep(0.3)
    assert meta["data"]["status"] == "PARSE"
    for kind, query in (("BY_CLIP", "a motorbike"), ("BY_AUDIO", "beauty's rose")):
        res = requests.post(f"{base}/search", json={"search_param": query, "search_type": kind, "unique_id": "demo",
                                                    "top_k": 5}, headers=headers).json()
        assert res["code"] == "0000" and res["data"][0]["videoNo"] == video_no, res
    found = requests.get(f"{base}/search_audio_transcripts", params={"query": "fresh ornament", "unique_id": "demo"},
                         headers=headers).json()["data"]
    assert found["videos"][0]["videoNo"] == video_no
    with requests.post(f"{base}/download", json={"video_no": video_no, "unique_id": "demo"}, headers=headers, stream=True) as r:
        assert r.headers["Content-Type"] == "application/octet-stream"
        got = b"".join(r.iter_content(1 << 16))
    assert got == media["sonnet"].read_bytes()
    err = requests.post(f"{base}/download", json={"video_no": "VI1", "unique_id": "demo"}, headers=headers)
    assert err.headers["Content-Type"].startswith("application/json") and err.json()["code"] == "0001"


def test_search_all_ranks_images_and_clips_together(library):
    server, client, _ = library
    with open(SHOTS[0][1], "rb") as f:
        assert client.post("/upload_img", files=[("files", ("leopard.jpg", f, "image/jpeg"))]).json()["code"] == "0000"
    deadline = time.time() + 60
    while time.time() < deadline:
        items = client.post("/search", json={"search_param": "a leopard", "search_type": "ALL"}).json()["data"]["item"]
        if {"image", "clip"} <= {i["kind"] for i in items}:
            break
        time.sleep(0.5)
    kinds = [i["kind"] for i in items]
    assert "image" in kinds and "clip" in kinds
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)


def test_delete_removes_every_artefact_and_is_idempotent(library, media):
    server, client, _ = library
    with open(media["vp9"], "rb") as f:
        no = client.post("/upload", files={"file": ("gone.mkv", f, "video/x-matroska")}).json()["data"]["videoNo"]
    client.wait_video(no)
    vid = int(no[2:])
    assert blob_files(server.data, f"keyframes/{vid}")
    for _ in range(2):
        assert client.post("/delete_videos", json=[no, "VI999", "junk"]).json()["code"] == "0000"
    assert client.get("/get_metadata", params={"video_no": no}).json()["data"] is None
    assert not blob_store(server.data).exists(f"videos/{vid}.mkv")
    assert not blob_files(server.data, f"keyframes/{vid}")
    for table in ("video_clips", "transcript_segments", "video_vectors", "video_tags", "jobs"):
        column = "subject_id" if table == "jobs" else "video_id"
        assert db_rows(server.data, f"SELECT count(*) FROM {table} WHERE {column} = ?", vid)[0][0] == 0, table


def test_a_restart_in_the_middle_of_indexing_finishes_without_duplicates(tmp_path, media):
    data = tmp_path / "data"
    key = create_key(data, "restarter")
    server = Server(data, "--workers", "1", "--job-lease-seconds", "2").start()
    with open(media["sonnet"], "rb") as f:
        no = server.client(key).post("/upload", files={"file": ("s.mp4", f, "video/mp4")}).json()["data"]["videoNo"]
    time.sleep(1.0)  # indexing under way
    server.stop(signal.SIGKILL)
    server = Server(data, "--workers", "1", "--job-lease-seconds", "2").start()
    try:
        meta = server.client(key).wait_video(no)
        assert meta["status"] == "PARSE"
        vid = int(no[2:])
        clips = db_rows(data, "SELECT count(*), count(DISTINCT idx) FROM video_clips WHERE video_id = ?", vid)[0]
        assert clips[0] == clips[1] == 27
        assert db_rows(data, "SELECT count(*) FROM video_vectors WHERE video_id = ? AND space = 'clip_visual'", vid)[0][0] == 27
        assert len(blob_files(data, f"keyframes/{vid}")) == 27
    finally:
        server.stop()


def test_upload_url_fetches_and_indexes_and_refuses_private_addresses_by_default(library, media, tmp_path):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "piano.mkv").write_bytes(media["vp9"].read_bytes())
    (tmp_path / "served" / "watch").write_bytes(media["vp9"].read_bytes())  # a link without an extension
    files = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path / "served")))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{files.server_port}/piano.mkv"
    try:
        _, client, _ = library
        res = client.post("/upload_url", data={"url": url, "tags": ["fetched"]}).json()
        assert res["code"] == "0000" and res["data"]["videoName"] == "piano", res
        assert client.wait_video(res["data"]["videoNo"])["status"] == "PARSE"
        res = client.post("/upload_url", data={"url": url.replace("piano.mkv", "watch")}).json()
        assert res["code"] == "0000" and res["data"]["videoName"] == "watch", res
        for bad, words in (("ftp://example.com/a.mp4", "http:// or https://"), (url.replace("piano", "nothing"), "HTTP 404")):
            res = client.post("/upload_url", data={"url": bad}).json()
            assert res["code"] == "0001" and words in res["msg"], res
        strict = Server(tmp_path / "strict", "--no-workers").start()
        try:
            strict_client = strict.client(create_key(strict.data, "s"))
            res = strict_client.post("/upload_url", data={"url": url}).json()
            assert res["code"] == "0001" and "non-public address 127.0.0.1" in res["msg"], res
            # A callback into a private network is refused at upload, not accepted and then never sent.
            for hook in ("http://127.0.0.1:9/done", "http://localhost/done", "http://10.1.2.3/done"):
                res = strict_client.post("/upload", files={"file": ("piano.mkv", media["vp9"].read_bytes(), "video/x-matroska")},
                                         data={"callback": hook}).json()
                assert res["code"] == "0001" and res["msg"].startswith("callback: "), res
                assert "non-public address" in res["msg"] and "REVERIE_ALLOW_PRIVATE_URLS=true" in res["msg"], res
            res = strict_client.post("/upload_url", data={"url": url, "callback": "http://192.168.0.9/done"}).json()
            assert res["code"] == "0001" and res["msg"].startswith("callback: "), res
            assert db_rows(strict.data, "SELECT count(*) FROM videos")[0][0] == 0
            assert not any((strict.data / "staging").iterdir())
        finally:
            strict.stop()
    finally:
        files.shutdown()


def test_a_large_video_is_streamed_to_disk_not_held_in_memory(tmp_path):
    """400 MB sent chunked: the server's peak memory must not grow by anything like that."""
    data = tmp_path / "data"
    key = create_key(data, "big")
    server = Server(data, "--no-workers").start()
    try:
        client = server.client(key)
        assert client.get("/list_unique_ids").json()["code"] == "0000"  # warm
        before = _peak_rss_mb(server.proc.pid)
        head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
        block = b"\0" * (1 << 20)

        def body():  # noqa: ANN202
            yield head + b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
            for _ in range(400):
                yield block
            yield b"\r\n--B--\r\n"

        res = client.post("/upload", data=body(), headers={"Content-Type": "multipart/form-data; boundary=B"}).json()
        assert res["code"] == "0000", res
        grown = _peak_rss_mb(server.proc.pid) - before
        assert grown < 60, f"peak RSS grew by {grown:.0f} MB for a 400 MB upload"
        video_id = int(res["data"]["videoNo"][2:])
        assert blob_store(data).size(f"videos/{video_id}.mp4") == 400 * (1 << 20) + 24
    finally:
        server.stop()


def _peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def test_phone_footage_is_turned_upright_by_its_display_matrix(library, tmp_path):
    _, client, _ = library
    upright = Image.new("RGB", (240, 320), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 240, 160))  # red on top
    for rotation in (90, -90):
        film = make_video(tmp_path / f"phone{rotation}.mp4", [(upright, 2.0)], size=(240, 320), rotation=rotation)
        no = client.post("/upload", files={"file": (film.name, film.read_bytes(), "video/mp4")},
                         data={"unique_id": "phone"}).json()["data"]["videoNo"]
        meta = client.wait_video(no)
        assert (meta["width"], meta["height"]) == (240, 320), meta
        hit = search(client, "anything", "BY_CLIP", unique_id="phone", video_nos=[no])[0]
        frame = client.get("/download", params={"bucket": hit["keyframe_bucket"], "blob": hit["keyframe_blob"]})
        im = Image.open(io.BytesIO(frame.content)).convert("RGB")
        assert im.width < im.height and im.getpixel((im.width // 2, 10))[0] > 200, (rotation, im.size, im.getpixel((im.width // 2, 10)))


def test_clips_of_a_deleted_video_never_lend_their_ids_to_a_new_one(library, media):
    """Clip and segment ids label vectors held in memory: a new video must not inherit a deleted one's."""
    _, client, _ = library
    for name, ns in (("gone", "reuse-a"), ("kept", "reuse-b")):
        with open(media["h265"], "rb") as f:
            no = client.post("/upload", files={"file": (f"{name}.mp4", f, "video/mp4")}, data={"unique_id": ns}).json()["data"]["videoNo"]
        client.wait_video(no)
        assert search(client, "pizza", "BY_CLIP", unique_id=ns)[0]["videoNo"] == no  # loads its vectors
        if name == "gone":
            assert client.post(f"/delete_videos?unique_id={ns}", json=[no]).json()["code"] == "0000"
    assert search(client, "pizza", "BY_CLIP", unique_id="reuse-a") == []


def test_avi_and_mov_containers_index_too(library, tmp_path):
    _, client, _ = library
    picture = Image.open(CALTECH / "pizza" / "image_0001.jpg")
    for name, codec, ctype in (("clip.avi", "mpeg4", "video/x-msvideo"), ("clip.mov", "h264", "video/quicktime")):
        film = make_video(tmp_path / name, [(picture, 2.0)], codec=codec, size=(320, 240))
        res = client.post("/upload", files={"file": (name, film.read_bytes(), ctype)}, data={"unique_id": "containers"}).json()
        assert res["code"] == "0000", (name, res)
        meta = client.wait_video(res["data"]["videoNo"])
        assert meta["status"] == "PARSE" and meta["blob"].endswith(".avi" if name.endswith(".avi") else ".mp4"), meta


def test_a_video_sent_as_octet_stream_is_judged_by_its_bytes(library, media):
    """`curl -F file=@talk.mp4` labels the part application/octet-stream: the container decides."""
    _, client, _ = library
    res = client.post("/upload", files={"file": ("piano.mkv", media["vp9"].read_bytes(), "application/octet-stream")},
                      data={"unique_id": "octets"}).json()
    assert res["code"] == "0000", res
    assert client.wait_video(res["data"]["videoNo"])["status"] == "PARSE"
    res = client.post("/upload", files={"file": ("notes.mp4", b"just some text, not a film" * 10, "application/octet-stream")},
                      data={"unique_id": "octets"}).json()
    assert res["code"] == "0001" and res["msg"].startswith("file: content is not an MP4"), res
    listed = client.post("/list_videos", json={"unique_id": "octets"}).json()["data"]
    assert listed["total_count"] == 1, listed
