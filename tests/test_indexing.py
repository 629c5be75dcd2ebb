"""The indexer on real photos (../shared/eval/exif): EXIF dates, cameras, GPS, orientations 1-8, broken files."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from conftest import EVAL, blob_store, jpeg

EXIF = EVAL / "exif" / "jpg"


def upload_file(client, path, data=None):  # noqa: ANN001
    (image_id,) = client.upload_ok([(path.name, path.read_bytes(), "image/jpeg")], data)
    return image_id


def download(client, bucket: str, blob: str) -> bytes:  # noqa: ANN001
    res = client.get("/download", params={"bucket": bucket, "blob": blob})
    assert res.status_code == 200 and res.headers["content-type"].startswith("image/"), res.text[:200]
    return res.content


@pytest.mark.parametrize(
    "name,taken,camera,lat,lon",
    [
        ("gps/DSCN0010.jpg", 1224692919000, "NIKON COOLPIX P6000", 43.467448, 11.885127),  # 2008-10-22 16:28:39
        ("gps/DSCN0021.jpg", 1224693500000, "NIKON COOLPIX P6000", 43.467082, 11.884538),
        ("tests/67-0_length_string.jpg", 1473674731000, "samsung SM-G930F", 51.025, 7.591944),
        ("Canon_40D.jpg", 1212162961000, "Canon EOS 40D", None, None),  # 2008-05-30 15:56:01
        ("Nikon_D70.jpg", 1205574721000, "NIKON D70", None, None),
        ("tests/35-empty.jpg", 1121797529000, "CASIO EX-Z750", None, None),
    ],
)
def test_exif_capture_facts_from_real_photos(account, name, taken, camera, lat, lon):
    meta = account.wait_indexed(upload_file(account, EXIF / name))
    assert meta["status"] == "PARSE"
    assert meta["datetime_taken"] == taken
    assert meta["camera_model"] == camera
    if lat is None:
        assert "latitude" not in meta and "longitude" not in meta
    else:
        assert meta["latitude"] == pytest.approx(lat, abs=1e-5) and meta["longitude"] == pytest.approx(lon, abs=1e-5)
    with Image.open(EXIF / name) as im:
        assert {meta["width"], meta["height"]} == set(im.size)


def test_values_given_at_upload_win_over_exif(account):
    given = {"datetime_taken": "2020-01-02 03:04:05", "camera_model": "My Phone", "latitude": "1.5", "longitude": "2.5"}
    meta = account.wait_indexed(upload_file(account, EXIF / "gps" / "DSCN0010.jpg", given))
    assert meta["datetime_taken"] == 1577934245000
    assert meta["camera_model"] == "My Phone"
    assert (meta["latitude"], meta["longitude"]) == (1.5, 2.5)
    assert meta["exif"]["camera_model"] == "NIKON COOLPIX P6000"  # EXIF still recorded as seen


def _thumbnail(client, image_id) -> Image.Image:  # noqa: ANN001
    meta = client.wait_indexed(image_id)
    assert meta["status"] == "PARSE", meta
    return Image.open(io.BytesIO(download(client, **{k: meta["thumbnail"][k] for k in ("bucket", "blob")}))).convert("L")


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
def test_orientations_1_to_8_all_come_out_upright(account, shape):
    ids = {n: upload_file(account, EXIF / "orientation" / f"{shape}_{n}.jpg") for n in range(1, 9)}
    reference = _thumbnail(account, ids[1])
    for n in range(1, 9):
        meta = account.wait_indexed(ids[n])
        assert meta["orientation"] == n
        wide = meta["width"] > meta["height"]
        assert wide == (shape == "landscape"), (n, meta["width"], meta["height"])
        thumb = _thumbnail(account, ids[n])
        assert thumb.size == reference.size, n
        diff = ImageStat.Stat(ImageChops.difference(thumb, reference)).mean[0]
        # Upright copies differ by ~14 (the samples differ in small print); a wrong turn or flip, by ~49.
        assert diff < 25, f"{shape}_{n}: thumbnail differs from the upright one by {diff:.1f} grey levels"


BROKEN = sorted((EXIF / "invalid").glob("*.jpg")) + sorted((EXIF / "tests").glob("*.jp*g")) + [EXIF / "corrupted.jpg"]


def test_malformed_files_never_stall_or_crash_the_worker(account):
    ids = [upload_file(account, p) for p in BROKEN]
    for image_id, path in zip(ids, BROKEN):
        meta = account.wait_indexed(image_id, timeout=60)
        assert meta["status"] in ("PARSE", "FAILED"), path
        if meta["status"] == "FAILED":
            assert meta["cause"], path
    # and the worker is still alive for the next upload
    (after,) = account.upload_ok([("fine.jpg", jpeg(), "image/jpeg")])
    assert account.wait_indexed(after)["status"] == "PARSE"


def test_truncated_image_is_accepted_then_fails_with_a_cause(account):
    data = (EXIF / "tests" / "28-hex_value.jpg").read_bytes()  # header intact, pixel data cut short
    (image_id,) = account.upload_ok([("cut.jpg", data[: len(data) * 3 // 5], "image/jpeg")])
    meta = account.wait_indexed(image_id)
    assert meta["status"] == "FAILED"
    assert "truncated" in meta["cause"]
    assert meta["thumbnail"] is None


def test_thumbnail_and_preview_sizes(account):
    (image_id,) = account.upload_ok([("wide.png", _png(2000, 1000), "image/png")])
    meta = account.wait_indexed(image_id)
    thumb = Image.open(io.BytesIO(download(account, meta["thumbnail"]["bucket"], meta["thumbnail"]["blob"])))
    preview = Image.open(io.BytesIO(download(account, meta["preview"]["bucket"], meta["preview"]["blob"])))
    assert thumb.format == preview.format == "JPEG"
    assert thumb.size == (320, 160) and preview.size == (1280, 640)
    assert (meta["width"], meta["height"]) == (2000, 1000)


def test_preview_is_rendered_on_its_first_request_and_again_when_lost(account, shared_server):
    from reverie.store.blobs import derived_key

    (image_id,) = account.upload_ok([("wide.png", _png(2000, 1000), "image/png")])
    meta = account.wait_indexed(image_id)
    blobs, key = blob_store(shared_server.data), derived_key("previews", image_id)
    assert not blobs.exists(key)  # indexing leaves it to the first request
    first = download(account, meta["preview"]["bucket"], meta["preview"]["blob"])
    assert blobs.exists(key) and Image.open(io.BytesIO(first)).size == (1280, 640)
    blobs.delete(key)
    assert download(account, meta["preview"]["bucket"], meta["preview"]["blob"]) == first
    assert account.post("/delete_imgs", json=[image_id]).json()["code"] == "0000"
    gone = account.get("/download", params={"bucket": meta["preview"]["bucket"], "blob": meta["preview"]["blob"]})
    assert gone.json()["code"] == "0001" and not blobs.exists(key)


def test_transparent_png_thumbnail_is_on_white(account):
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, "PNG")
    (image_id,) = account.upload_ok([("clear.png", out.getvalue(), "image/png")])
    meta = account.wait_indexed(image_id)
    thumb = Image.open(io.BytesIO(download(account, meta["thumbnail"]["bucket"], meta["thumbnail"]["blob"])))
    assert thumb.convert("L").getextrema()[0] > 240


def _png(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((w, h)).convert("RGB").save(out, "PNG")
    return out.getvalue()
