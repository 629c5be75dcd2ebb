"""The Python client against a live server, sync and async."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from conftest import EVAL, create_key
from reverie.client import AsyncReverie, Reverie, ReverieError

LEOPARD = EVAL / "caltech101" / "Leopards" / "image_0001.jpg"
MOTORBIKE = EVAL / "caltech101" / "Motorbikes" / "image_0001.jpg"


@pytest.fixture
def client(shared_server, request):
    key = create_key(shared_server.data, f"client-{request.node.name[:30]}")
    with Reverie(shared_server.base, key) as rv:
        yield rv


def wait_parsed(rv: Reverie, ids: list[int]) -> None:
    import time

    deadline = time.time() + 60
    while time.time() < deadline:
        if all(rv.get_image(i)["status"] != "UNPARSE" for i in ids):
            return
        time.sleep(0.1)
    raise AssertionError("not indexed in 60 s")


def test_sync_client_covers_the_image_endpoints(client, tmp_path):
    ids = client.upload_images([LEOPARD, MOTORBIKE], unique_id="zoo", tags=["cats", "bikes"], camera_model="Nikon D70")
    assert len(ids) == 2
    wait_parsed(client, ids)
    meta = client.get_image(ids[0])
    assert meta["name"] == "image_0001" and meta["tags"] == ["cats", "bikes", "api"] and meta["status"] == "PARSE"
    assert client.list_unique_ids() == ["zoo"]
    assert [it["id"] for it in client.iter_images(page_size=1, unique_id="zoo")] == sorted(ids, reverse=True)
    hits = client.search_images("a leopard", unique_id="zoo")["item"]
    assert hits[0]["id"] == ids[0]
    similar = client.similar_images(LEOPARD, unique_id="zoo", top_k=1)["item"]
    assert similar[0]["id"] == ids[0]
    saved = client.download(meta["bucket"], meta["blob"], tmp_path / "copy.jpg")
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(LEOPARD.read_bytes()).digest()
    client.delete_images([ids[1]], unique_id="zoo")
    assert [it["id"] for it in client.iter_images(unique_id="zoo")] == [ids[0]]


def test_sync_client_covers_the_video_endpoints(client, tmp_path):
    from PIL import Image

    from reverie.synthetic_video import make_video

    film = make_video(tmp_path / "zoo.mp4", [(Image.open(MOTORBIKE), 2.0), (Image.open(LEOPARD), 2.0)], size=(320, 240))
    up = client.upload_video(film, unique_id="films", tags=["zoo"], camera_model="GoPro", retain_original_video=True)
    assert up["videoStatus"] == "UNPARSE" and up["videoName"] == "zoo"
    meta = client.wait_for_video(up["videoNo"], timeout=120, poll=0.2)
    assert meta["status"] == "PARSE" and meta["tags"] == ["zoo", "api"] and meta["camera_model"] == "GoPro"
    assert client.get_video("VI1") is None
    assert client.list_videos(unique_id="films")["videos"][0]["video_no"] == up["videoNo"]
    hits = client.search_videos("a leopard", unique_id="films")
    assert hits[0]["videoNo"] == up["videoNo"] and int(hits[0]["startTime"]) >= 1
    assert client.search_transcripts("anything", unique_id="films")["total_count"] == 0
    assert client.get_transcript(up["videoNo"], unique_id="films") is None  # no audio track
    saved = client.download_video(up["videoNo"], tmp_path / "copy.mp4", unique_id="films")
    assert saved.read_bytes() == film.read_bytes()
    with pytest.raises(ReverieError) as err:
        client.download_video("VI1", tmp_path / "none.mp4", unique_id="films")
    assert err.value.code == "0001" and not (tmp_path / "none.mp4").exists()
    client.delete_videos([up["videoNo"]], unique_id="films")
    assert client.get_video(up["videoNo"]) is None


def test_errors_raise_with_the_server_code_and_message(client, tmp_path):
    with pytest.raises(ReverieError) as err:
        client.get_image(12345)
    assert err.value.code == "0001" and err.value.msg.startswith("id: no image 12345")
    with pytest.raises(ReverieError) as err:
        client.download("reverie-images", "1.jpg", tmp_path / "x.jpg")
    assert err.value.msg == "Resource does not exist" and not (tmp_path / "x.jpg").exists()
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ReverieError, match=r"files\[0\] \(notes.txt\): extension"):
        client.upload_images([bad])


def test_unknown_key_raises_0401(shared_server):
    with Reverie(shared_server.base, "sk-reverie-wrong") as rv, pytest.raises(ReverieError) as err:
        rv.list_unique_ids()
    assert err.value.code == "0401" and err.value.http_status == 401


def test_async_client_matches_the_sync_one(shared_server, tmp_path):
    key = create_key(shared_server.data, "async-client")

    async def scenario() -> None:
        async with AsyncReverie(shared_server.base, key) as rv:
            (image_id,) = await rv.upload_images([MOTORBIKE], unique_id="garage")
            for _ in range(600):
                if (await rv.get_image(image_id))["status"] != "UNPARSE":
                    break
                await asyncio.sleep(0.1)
            assert [it["id"] async for it in rv.iter_images(unique_id="garage")] == [image_id]
            found = await rv.search_images("a motorcycle", unique_id="garage")
            meta = await rv.get_image(image_id)
            assert found["item"] and found["item"][0]["id"] == image_id, (meta["status"], meta.get("cause"), meta["labels"])
            meta = await rv.get_image(image_id)
            path = await rv.download(meta["thumbnail"]["bucket"], meta["thumbnail"]["blob"], tmp_path / "t.jpg")
            assert path.read_bytes()[:2] == b"\xff\xd8"
            assert await rv.list_unique_ids() == ["garage"]
            from PIL import Image

            from reverie.synthetic_video import make_video

            film = make_video(tmp_path / "m.mp4", [(Image.open(MOTORBIKE), 2.0)], size=(320, 240))
            no = (await rv.upload_video(film, unique_id="garage"))["videoNo"]
            assert (await rv.wait_for_video(no, timeout=120, poll=0.2))["status"] == "PARSE"
            assert (await rv.search_videos("a motorcycle", unique_id="garage"))[0]["videoNo"] == no
            copy = await rv.download_video(no, tmp_path / "m-copy.mp4", unique_id="garage")
            assert copy.read_bytes() == film.read_bytes()
            await rv.delete_videos([no], unique_id="garage")
            assert await rv.get_video(no) is None

    asyncio.run(scenario())


def test_rate_limited_calls_are_retried_with_backoff():
    # The server has no rate limits yet (they come with the reliability work), so a stand-in peer answers
    # 0429 twice, the second time with Retry-After, then succeeds.
    answers = iter([
        httpx.Response(200, json={"code": "0429", "msg": "Request has exceeded the limit.", "data": None}),
        httpx.Response(200, headers={"Retry-After": "0.05"}, json={"code": "0429", "msg": "slow down", "data": None}),
        httpx.Response(200, json={"code": "0000", "msg": "success", "data": {"unique_ids": ["a"]}}),
    ])
    seen = []

    def peer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return next(answers)

    with Reverie("http://peer", "k", backoff=0.01, transport=httpx.MockTransport(peer)) as rv:
        assert rv.list_unique_ids() == ["a"]
    assert seen == ["/serve/api/v1/list_unique_ids"] * 3
    always_limited = httpx.MockTransport(lambda r: httpx.Response(200, json={"code": "0429", "msg": "no", "data": None}))
    with Reverie("http://peer", "k", backoff=0.001, retries=2, transport=always_limited) as rv:
        with pytest.raises(ReverieError) as err:
            rv.list_unique_ids()
    assert err.value.code == "0429"


def test_search_command_prints_a_table_and_json(shared_server, client):
    import json
    import subprocess

    from conftest import BIN

    (image_id,) = client.upload_images([LEOPARD], unique_id="cli", tags=["zoo"])
    wait_parsed(client, [image_id])
    key = client.http.headers["Authorization"]
    base = ["--url", shared_server.base, "--unique-id", "cli"]
    table = subprocess.run([str(BIN / "reverie"), "search", "a leopard", *base], capture_output=True, text=True,
                           env={"REVERIE_KEY": key, "PATH": ""}, check=True).stdout
    lines = table.splitlines()
    assert lines[0] == "1 of 1 hits for 'a leopard'" and "SCORE" in lines[1]
    assert str(image_id) in lines[2] and "image_0001" in lines[2]
    out = subprocess.run([str(BIN / "reverie"), "search", "a leopard", *base, "--key", key, "--json", "--tag", "zoo"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["item"][0]["id"] == image_id
    bad = subprocess.run([str(BIN / "reverie"), "search", "x", *base, "--key", key, "--near", "north"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "expected LAT,LON" in bad.stderr
    wrong = subprocess.run([str(BIN / "reverie"), "search", "x", *base, "--key", "nope"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "0401" in wrong.stderr
