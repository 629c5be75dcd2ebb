"""reverie import: folders and URLs into a namespace, resumable, with a summary."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BIN, EVAL, create_key, image_bytes, jpeg


def run_import(server, key, *args):  # noqa: ANN001, ANN002
    return subprocess.run([str(BIN / "reverie"), "import", *map(str, args), "--url", server.base, "--key", key],
                          capture_output=True, text=True)


@pytest.fixture
def photo_tree(tmp_path):
    root = tmp_path / "photos"
    (root / "2024" / "summer").mkdir(parents=True)
    shutil.copy(EVAL / "caltech101" / "Leopards" / "image_0001.jpg", root / "2024" / "leopard.jpg")
    shutil.copy(EVAL / "caltech101" / "Motorbikes" / "image_0001.jpg", root / "2024" / "summer" / "bike.JPG")
    (root / "2024" / "summer" / "copy-of-bike.jpg").write_bytes((root / "2024" / "summer" / "bike.JPG").read_bytes())
    (root / "chart.png").write_bytes(image_bytes("PNG"))
    (root / "broken.jpg").write_bytes(b"not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def test_import_a_folder_then_again_skips_everything(shared_server, photo_tree):
    key = create_key(shared_server.data, "importer")
    first = run_import(shared_server, key, photo_tree, "--unique-id", "trip", "--tag", "imported")
    assert first.returncode == 0, first.stderr
    summary = first.stdout.splitlines()
    assert summary[0] == "imported 3 (3 photos, 0 videos), skipped 1 (already there), rejected 1, not photos or videos 1"
    assert summary[1].startswith(f"  rejected {photo_tree / 'broken.jpg'}: content is not a JPEG")
    assert "importing" in first.stderr and "file/s" in first.stderr  # the progress bar with its rate
    from reverie.client import Reverie

    with Reverie(shared_server.base, key) as rv:
        items = list(rv.iter_images(unique_id="trip"))
        assert sorted(it["name"] for it in items) == ["bike", "chart", "leopard"]
        assert all(rv.get_image(it["id"])["tags"] == ["imported", "api"] for it in items)
    again = run_import(shared_server, key, photo_tree, "--unique-id", "trip")
    assert again.stdout.splitlines()[0] == "imported 0 (0 photos, 0 videos), skipped 4 (already there), rejected 1, not photos or videos 1"
    dry = run_import(shared_server, key, photo_tree, "--unique-id", "elsewhere", "--dry-run")
    assert dry.stdout.splitlines()[0] == "dry run: would import 4 (4 photos, 0 videos), skip 1 (already there), not photos or videos 1"
    with Reverie(shared_server.base, key) as rv:
        assert "elsewhere" not in rv.list_unique_ids()


def test_import_image_urls(shared_server, tmp_path):
    served = tmp_path / "site"
    served.mkdir()
    (served / "a.jpg").write_bytes(jpeg(color=(1, 200, 3)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        key = create_key(shared_server.data, "url-importer")
        out = run_import(shared_server, key, f"{base}/a.jpg", f"{base}/missing.jpg", "--unique-id", "web")
        lines = out.stdout.splitlines()
        assert lines[0] == "imported 1 (1 photo, 0 videos), skipped 0 (already there), rejected 1, not photos or videos 0", out.stdout
        assert lines[1].startswith(f"  rejected {base}/missing.jpg: download failed")
    finally:
        httpd.shutdown()


def test_import_with_a_wrong_key_says_so(shared_server, photo_tree):
    out = run_import(shared_server, "sk-reverie-nope", photo_tree)
    assert out.returncode != 0 and "0401" in out.stderr


def test_import_straight_into_a_data_folder_then_serve_it(tmp_path, photo_tree, fresh_server):
    from reverie.client import Reverie

    data = tmp_path / "library"
    key = create_key(data, "me", account="family")
    args = [str(BIN / "reverie"), "import", str(photo_tree), "--data", str(data), "--account", "family", "--unique-id", "home"]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "imported 3 (3 photos, 0 videos), skipped 1 (already there), rejected 1, not photos or videos 1"
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.stdout.splitlines()[0] == "imported 0 (0 photos, 0 videos), skipped 4 (already there), rejected 1, not photos or videos 1"
    nobody = subprocess.run([*args[:-4], "--account", "nobody"], capture_output=True, text=True)
    assert nobody.returncode != 0 and "no account 'nobody'" in nobody.stderr
    server = fresh_server(data=data)  # a server on that folder indexes what was imported
    with Reverie(server.base, key) as rv:
        items = list(rv.iter_images(unique_id="home"))
        assert sorted(it["name"] for it in items) == ["bike", "chart", "leopard"]
        for it in items:
            for _ in range(300):
                if rv.get_image(it["id"])["status"] != "UNPARSE":
                    break
                time.sleep(0.1)
            assert rv.get_image(it["id"])["status"] == "PARSE"
