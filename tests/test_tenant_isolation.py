"""Two accounts, two namespaces each, one image in each namespace: every endpoint, every viewer, every
image. Nothing crosses an account: not a read, a listing, a count, a search hit, a download, a signed
URL, a delete, and not by guessing ids."""

from __future__ import annotations

import itertools
import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from PIL import Image

from conftest import EVAL, Server, create_key
from reverie.synthetic_video import make_video

PICTURES = {  # (account, namespace) -> a distinct real image
    ("alice", "home"): EVAL / "caltech101" / "Leopards" / "image_0001.jpg",
    ("alice", "work"): EVAL / "caltech101" / "Motorbikes" / "image_0001.jpg",
    ("bob", "home"): EVAL / "caltech101" / "Leopards" / "image_0002.jpg",
    ("bob", "work"): EVAL / "caltech101" / "Motorbikes" / "image_0002.jpg",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("tenants") / "data").start()
    clients = {name: server.client(create_key(server.data, name)) for name in ("alice", "bob")}
    images = {}
    for (owner, ns), path in PICTURES.items():
        (images[(owner, ns)],) = clients[owner].upload_ok([(path.name, path.read_bytes(), "image/jpeg")], {"unique_id": ns, "tags": ["t"]})
    metas = {k: clients[k[0]].wait_indexed(i, timeout=120) for k, i in images.items()}
    yield server, clients, images, metas
    server.stop()


@pytest.fixture(scope="module")
def film_world(world, tmp_path_factory):
    """The same picture of each (account, namespace) as a short video in that namespace."""
    server, clients, _, _ = world
    folder = tmp_path_factory.mktemp("films")
    films = {}
    for (owner, ns), path in PICTURES.items():
        video = make_video(folder / f"{owner}-{ns}.mp4", [(Image.open(path), 2.0)], size=(320, 240))
        res = clients[owner].post("/upload", files={"file": (video.name, video.read_bytes(), "video/mp4")},
                                  data={"unique_id": ns}).json()
        films[(owner, ns)] = res["data"]["videoNo"]
    for (owner, ns), no in films.items():
        for _ in range(300):
            meta = clients[owner].get("/get_metadata", params={"video_no": no}).json()["data"]
            if meta["status"] != "UNPARSE":
                break
            time.sleep(0.2)
        assert meta["status"] == "PARSE", meta
    return films


CASES = list(itertools.product(("alice", "bob"), PICTURES))


@pytest.mark.parametrize("viewer,target", CASES)
def test_reads_downloads_and_signed_urls_stay_in_the_account(world, viewer, target):
    server, clients, images, metas = world
    client, image_id, meta, own = clients[viewer], images[target], metas[target], viewer == target[0]
    body = client.get("/get_img_metadata", params={"id": image_id}).json()
    assert (body["code"] == "0000") == own
    for bucket, blob in ((meta["bucket"], meta["blob"]), (meta["thumbnail"]["bucket"], meta["thumbnail"]["blob"]),
                         (meta["preview"]["bucket"], meta["preview"]["blob"])):
        res = client.get("/download", params={"bucket": bucket, "blob": blob})
        assert (res.headers["content-type"].startswith("image/")) == own
    # guessed neighbours of a real id resolve to nothing, whoever asks
    for guess in (image_id - 1, image_id + 1):
        if guess not in images.values():
            assert client.get("/get_img_metadata", params={"id": guess}).json()["code"] == "0001"
            assert client.get("/download", params={"bucket": meta["bucket"], "blob": f"{guess}.jpg"}).json()["code"] == "0001"
    # the owner's signed URL is a bearer link; re-pointing it at this viewer's account or another image fails
    url = meta["img_url"]
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    other_account = clients["bob" if target[0] == "alice" else "alice"]
    foreign = other_account.metadata(images[(("bob" if target[0] == "alice" else "alice"), target[1])])
    tampered_account = parts._replace(query=urlencode({**query, "account": foreign["img_url"].split("account=")[1].split("&")[0]})).geturl()
    tampered_blob = url.replace(meta["blob"], foreign["blob"])
    assert requests.get(url, timeout=10).status_code == 200
    for bad in (tampered_account, tampered_blob):
        res = requests.get(bad, timeout=10)
        assert res.status_code == 403 and res.json()["code"] == "9009"


@pytest.mark.parametrize("viewer", ["alice", "bob"])
@pytest.mark.parametrize("ns", ["home", "work"])
def test_listings_counts_and_searches_stay_in_the_account_and_namespace(world, viewer, ns):
    server, clients, images, metas = world
    client = clients[viewer]
    mine = images[(viewer, ns)]
    page = client.list_page(unique_id=ns)
    assert page["total_count"] == 1 and [it["id"] for it in page["item"]] == [mine]
    assert client.get("/list_unique_ids").json()["data"]["unique_ids"] == ["home", "work"]
    for query in ("a leopard", "a motorcycle", "t"):
        hits = client.post("/search", json={"search_param": query, "search_type": "BY_IMAGE", "unique_id": ns}).json()["data"]
        assert [h["id"] for h in hits["item"]] == [mine] and hits["total_count"] == 1
    for path in PICTURES.values():
        res = client.post("/search_similar_imgs", files=[("file", (path.name, path.read_bytes(), "image/jpeg"))],
                          data={"unique_id": ns, "top_k": "10"}).json()
        assert [h["id"] for h in res["data"]["item"]] == [mine]


def test_deletes_never_cross_an_account(world):
    server, clients, images, metas = world
    for (owner, ns), image_id in images.items():
        intruder = clients["bob" if owner == "alice" else "alice"]
        assert intruder.post(f"/delete_imgs?unique_id={ns}", json=[image_id, image_id + 1]).json()["code"] == "0000"
    for (owner, _), image_id in images.items():
        assert clients[owner].metadata(image_id)["status"] == "PARSE"


@pytest.mark.parametrize("viewer,target", CASES)
def test_videos_reads_downloads_and_searches_stay_in_the_account(world, film_world, viewer, target):
    server, clients, _, _ = world
    client, no, own = clients[viewer], film_world[target], viewer == target[0]
    ns = target[1]
    meta = client.get("/get_metadata", params={"video_no": no}).json()
    assert meta["code"] == "0000" and (meta["data"] is not None) == own
    assert (client.get("/get_video_caption", params={"video_no": no}).json()["data"] is not None) == own
    res = client.post("/download", json={"video_no": no, "unique_id": ns})
    assert (res.headers["content-type"] == "application/octet-stream") == own
    owner_client = clients[target[0]]
    owner_meta = owner_client.get("/get_metadata", params={"video_no": no}).json()["data"]
    res = client.get("/download", params={"bucket": owner_meta["bucket"], "blob": owner_meta["blob"]})
    assert (res.headers["content-type"].startswith("video/")) == own
    hit = owner_client.post("/search", json={"search_param": "anything", "search_type": "BY_CLIP", "unique_id": ns}).json()["data"][0]
    res = client.get("/download", params={"bucket": hit["keyframe_bucket"], "blob": hit["keyframe_blob"]})
    assert (res.headers["content-type"] == "image/jpeg") == own
    number = int(no[2:])
    for guess in (number - 1, number + 1):  # sequential numbers resolve to nothing
        if f"VI{guess}" not in film_world.values():
            assert client.get("/get_metadata", params={"video_no": f"VI{guess}"}).json()["data"] is None
    mine = film_world[(viewer, ns)]
    listing = client.post("/list_videos", json={"unique_id": ns}).json()["data"]
    assert [v["video_no"] for v in listing["videos"]] == [mine] and listing["total_count"] == 1
    for kind in ("BY_CLIP", "BY_CAPTION", "ALL"):
        hits = client.post("/search", json={"search_param": "a leopard", "search_type": kind, "unique_id": ns,
                                            "video_nos": [no, mine]}).json()["data"]
        items = hits["item"] if kind == "ALL" else hits
        found = {h.get("videoNo") or h.get("video_no") for h in items if h.get("kind", "clip") == "clip"}
        assert found <= {mine}, (kind, found)
    picture = PICTURES[target]
    similar = client.post("/search_similar_images", files={"file": (picture.name, picture.read_bytes(), "image/jpeg")},
                          data={"unique_id": ns, "similarity": "0"}).json()["data"]
    assert {h["videoNo"] for h in similar} <= {mine}
    clips = client.post("/search_clips_by_image", files={"file": (picture.name, picture.read_bytes(), "image/jpeg")},
                        data={"unique_id": ns, "video_no": no, "prompt": "a leopard"}).json()["data"]
    assert (len(clips) > 0) == (no == mine)


def test_video_deletes_never_cross_an_account(world, film_world):
    server, clients, _, _ = world
    for (owner, ns), no in film_world.items():
        intruder = clients["bob" if owner == "alice" else "alice"]
        assert intruder.post(f"/delete_videos?unique_id={ns}", json=[no]).json()["code"] == "0000"
    for (owner, _), no in film_world.items():
        assert clients[owner].get("/get_metadata", params={"video_no": no}).json()["data"]["status"] == "PARSE"


FACE_PHOTOS = {  # (account, namespace) -> a photo of a face; the same person everywhere, so only scoping separates them
    key: sorted((EVAL / "faces" / "Goldie_Hawn").glob("*.jpg"))[i] for i, key in enumerate(PICTURES)
}


@pytest.fixture(scope="module")
def face_world(tmp_path_factory):
    """One face photo in each (account, namespace), on a server of its own (the world above counts its photos)."""
    server = Server(tmp_path_factory.mktemp("tenant-faces") / "data").start()
    clients = {name: server.client(create_key(server.data, name)) for name in ("alice", "bob")}
    people = {}
    for (owner, ns), path in FACE_PHOTOS.items():
        (image_id,) = clients[owner].upload_ok([(path.name, path.read_bytes(), "image/jpeg")], {"unique_id": ns})
        (face,) = clients[owner].wait_indexed(image_id, timeout=120)["faces"]
        people[(owner, ns)] = (image_id, face)
    yield server, clients, people
    server.stop()


@pytest.mark.parametrize("viewer,target", CASES)
def test_faces_and_people_stay_in_the_account_and_namespace(face_world, viewer, target):
    server, clients, people = face_world
    client, (image_id, face) = clients[viewer], people[target]
    ns, own = target[1], viewer == target[0]
    listed = client.post("/list_people", json={"unique_id": ns}).json()["data"]["people"]
    assert [p["person_id"] for p in listed] == [people[(viewer, ns)][1]["person_id"]]
    cover = clients[target[0]].post("/list_people", json={"unique_id": ns}).json()["data"]["people"][0]["cover"]
    res = client.get("/download", params={"bucket": cover["bucket"], "blob": cover["blob"]})
    assert (res.headers["content-type"] == "image/jpeg") == own
    hits = client.post("/search", json={"search_param": "a woman", "search_type": "BY_IMAGE", "unique_id": ns,
                                        "person_ids": [face["person_id"]]}).json()["data"]["item"]
    assert [h["id"] for h in hits] == ([image_id] if own else [])
    for other_ns in ("home", "work"):
        if own and other_ns == ns:
            continue  # the owner's own changes: test_people.py
        for path, body in (("/name_person", {"person_id": face["person_id"], "name": "Mallory"}),
                           ("/merge_people", {"person_ids": [face["person_id"]], "into": face["person_id"]}),
                           ("/remove_face", {"face_id": face["face_id"]})):
            res = client.post(path, json={**body, "unique_id": other_ns}).json()
            assert res["code"] == "0001" and res["data"] is None, (path, res)
    assert clients[target[0]].metadata(image_id)["faces"] == [face]
