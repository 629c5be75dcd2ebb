"""Python client for a Reverie server (or memories.ai's own API: the same calls).

    from reverie.client import Reverie

    rv = Reverie("http://127.0.0.1:8080", "sk-reverie-...")
    ids = rv.upload_images(["beach.jpg", "dog.png"], unique_id="holiday", tags=["sea"])
    for hit in rv.search_images("a dog on the beach", unique_id="holiday", filtering_level="low")["item"]:
        print(hit["score"], hit["name"], hit["matched"])
    video = rv.upload_video("talk.mp4", unique_id="holiday")["videoNo"]
    rv.wait_for_video(video)
    for hit in rv.search_videos("the budget", search_type="BY_AUDIO", unique_id="holiday"):
        print(hit["videoNo"], hit["startTime"], hit["audio_ts"])

`AsyncReverie` has the same methods as coroutines. Both retry a `0429` (rate limited) or `0503` (database
or object store out of reach: nothing was stored) answer with exponential backoff, honouring `Retry-After`; every other non-`0000` answer raises `ReverieError`.
Uploads stream the files from disk; downloads stream to disk.

Each method only describes its request (a `_Call`); the two classes differ only in how they send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx

API = "/serve/api/v1"
MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
        ".bmp": "image/bmp", ".webp": "image/webp", ".mp4": "video/mp4", ".mov": "video/quicktime",
        ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}


class ReverieError(Exception):
    """A non-0000 envelope: `code` and `msg` as the server sent them."""

    def __init__(self, code: str, msg: str, http_status: int):
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.http_status = code, msg, http_status


@dataclass
class _Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, str | Path]] = field(default_factory=list)  # (field, path) opened when sent

    def request_kwargs(self, stack: contextlib.ExitStack) -> dict[str, Any]:
        kw: dict[str, Any] = {"params": {k: v for k, v in self.params.items() if v is not None}}
        if self.json is not None:
            kw["json"] = self.json
        if self.data is not None:
            kw["data"] = {k: v for k, v in self.data.items() if v is not None}
        if self.files:
            kw["files"] = [
                (name, (Path(p).name, stack.enter_context(open(p, "rb")), MIME.get(Path(p).suffix.lower(), "application/octet-stream")))
                for name, p in self.files
            ]
        return kw


RETRIED = ("0429", "0503")  # answers that stored nothing and ask to come back later


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _result(res: httpx.Response) -> Any:
    try:
        body = res.json()
    except ValueError:
        raise ReverieError("5000", f"HTTP {res.status_code}: not a JSON envelope", res.status_code) from None
    if body.get("code") != "0000":
        raise ReverieError(str(body.get("code")), str(body.get("msg")), res.status_code)
    return body.get("data")


def _retry_after(res: httpx.Response | None, attempt: int, backoff: float) -> float | None:
    """Seconds to wait before the next try of a rate-limited or refused call, or None to give up."""
    if res is None:
        return None
    try:
        if res.json().get("code") not in RETRIED:
            return None
    except ValueError:
        return None
    header = res.headers.get("retry-after")
    return float(header) if header and header.replace(".", "", 1).isdigit() else backoff * 2**attempt


class _Calls:
    """The API, as request descriptions. Names follow the endpoints; every filter is a keyword."""

    @staticmethod
    def upload_images(paths: list[str | Path], unique_id: str | None = None, datetime_taken: str | None = None,
                      camera_model: str | None = None, latitude: float | None = None, longitude: float | None = None,
                      tags: list[str] | None = None) -> _Call:
        data = _clean(dict(unique_id=unique_id, datetime_taken=datetime_taken, camera_model=camera_model,
                           latitude=latitude, longitude=longitude))
        if tags:
            data["tags"] = list(tags)
        return _Call("POST", "/upload_img", data=data, files=[("files", p) for p in paths])

    @staticmethod
    def get_image(image_id: int, unique_id: str | None = None) -> _Call:
        return _Call("GET", "/get_img_metadata", params={"id": image_id, "unique_id": unique_id})

    @staticmethod
    def list_images(page: int = 1, page_size: int = 20, **filters: Any) -> _Call:
        return _Call("POST", "/img_list_page", json=_clean({"page": page, "page_size": page_size, **filters}))

    @staticmethod
    def delete_images(image_ids: list[int], unique_id: str | None = None) -> _Call:
        return _Call("POST", "/delete_imgs", params={"unique_id": unique_id}, json=list(image_ids))

    @staticmethod
    def search_images(query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> _Call:
        body = {"search_param": query, "search_type": "BY_IMAGE", "page": page, "page_size": page_size, "top_k": top_k, **filters}
        return _Call("POST", "/search", json=_clean(body))

    @staticmethod
    def search_all(query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> _Call:
        body = {"search_param": query, "search_type": "ALL", "page": page, "page_size": page_size, "top_k": top_k, **filters}
        return _Call("POST", "/search", json=_clean(body))

    @staticmethod
    def similar_images(path: str | Path, unique_id: str | None = None, top_k: int = 20, similarity: float | None = None) -> _Call:
        data = _clean({"unique_id": unique_id, "top_k": str(top_k), "similarity": None if similarity is None else str(similarity)})
        return _Call("POST", "/search_similar_imgs", data=data, files=[("file", path)])

    @staticmethod
    def list_unique_ids() -> _Call:
        return _Call("GET", "/list_unique_ids")

    @staticmethod
    def indexing_status() -> _Call:
        return _Call("GET", "/indexing_status")

    @staticmethod
    def upload_video(path: str | Path, unique_id: str | None = None, tags: list[str] | None = None, **fields: Any) -> _Call:
        """`fields`: datetime_taken, camera_model, latitude, longitude, callback, retain_original_video,
        video_transcription_prompt, as the endpoint names them."""
        data = _clean({"unique_id": unique_id, **{k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool)
                                                  else str(v) for k, v in fields.items() if v is not None}})
        if tags:
            data["tags"] = list(tags)
        return _Call("POST", "/upload", data=data, files=[("file", path)])

    @staticmethod
    def get_video(video_no: str, unique_id: str | None = None) -> _Call:
        return _Call("GET", "/get_metadata", params={"video_no": video_no, "unique_id": unique_id})

    @staticmethod
    def list_videos(page: int = 1, size: int = 20, **filters: Any) -> _Call:
        return _Call("POST", "/list_videos", json=_clean({"page": page, "size": size, **filters}))

    @staticmethod
    def delete_videos(video_nos: list[str], unique_id: str | None = None) -> _Call:
        return _Call("POST", "/delete_videos", params={"unique_id": unique_id}, json=list(video_nos))

    @staticmethod
    def search_videos(query: str, search_type: str = "BY_CLIP", top_k: int = 100, **filters: Any) -> _Call:
        return _Call("POST", "/search", json=_clean({"search_param": query, "search_type": search_type, "top_k": top_k, **filters}))

    @staticmethod
    def search_transcripts(query: str, page: int = 1, page_size: int = 100, unique_id: str | None = None) -> _Call:
        return _Call("GET", "/search_audio_transcripts", params={"query": query, "page": page, "page_size": page_size,
                                                                  "unique_id": unique_id})

    @staticmethod
    def get_transcript(video_no: str, unique_id: str | None = None) -> _Call:
        return _Call("GET", "/get_audio_transcription", params={"video_no": video_no, "unique_id": unique_id})


class Reverie:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120, retries: int = 5, backoff: float = 0.4,
                 transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(base_url=base_url.rstrip("/") + API, headers={"Authorization": api_key},
                                 timeout=timeout, transport=transport)
        self.retries, self.backoff = retries, backoff

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Reverie":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: _Call) -> Any:
        for attempt in range(self.retries + 1):
            with contextlib.ExitStack() as stack:
                res = self.http.request(call.method, call.path, **call.request_kwargs(stack))
            wait = _retry_after(res, attempt, self.backoff) if attempt < self.retries else None
            if wait is None:
                return _result(res)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def upload_images(self, paths: list[str | Path], **meta: Any) -> list[int]:
        return [d["id"] for d in self._send(_Calls.upload_images(paths, **meta))]

    def get_image(self, image_id: int, unique_id: str | None = None) -> dict:
        return self._send(_Calls.get_image(image_id, unique_id))

    def list_images(self, page: int = 1, page_size: int = 20, **filters: Any) -> dict:
        return self._send(_Calls.list_images(page, page_size, **filters))

    def iter_images(self, page_size: int = 100, **filters: Any) -> Iterator[dict]:
        """Every image that passes the filters, page after page."""
        page = 1
        while True:
            data = self.list_images(page, page_size, **filters)
            yield from data["item"]
            if page * page_size >= data["total_count"] or not data["item"]:
                return
            page += 1

    def delete_images(self, image_ids: list[int], unique_id: str | None = None) -> None:
        self._send(_Calls.delete_images(image_ids, unique_id))

    def search_images(self, query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> dict:
        return self._send(_Calls.search_images(query, page, page_size, top_k, **filters))

    def similar_images(self, path: str | Path, unique_id: str | None = None, top_k: int = 20, similarity: float | None = None) -> dict:
        return self._send(_Calls.similar_images(path, unique_id, top_k, similarity))

    def list_unique_ids(self) -> list[str]:
        return self._send(_Calls.list_unique_ids())["unique_ids"]

    def namespaces(self) -> list[dict]:
        """[{unique_id, images, videos}] where the server counts them (Reverie does), else [{unique_id}]."""
        data = self._send(_Calls.list_unique_ids())
        return data.get("namespaces") or [{"unique_id": n} for n in data["unique_ids"]]

    def search_all(self, query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> dict:
        """Photos and video clips in one ranked list (Reverie's ALL), each item with its `kind`."""
        return self._send(_Calls.search_all(query, page, page_size, top_k, **filters))

    def indexing_status(self) -> dict:
        """Reverie's extension: photos and videos by status per namespace, the job queue, recent failures."""
        return self._send(_Calls.indexing_status())

    def upload_video(self, path: str | Path, **meta: Any) -> dict:
        return self._send(_Calls.upload_video(path, **meta))

    def get_video(self, video_no: str, unique_id: str | None = None) -> dict | None:
        """The video's metadata; None for a number the account does not have."""
        return self._send(_Calls.get_video(video_no, unique_id))

    def wait_for_video(self, video_no: str, unique_id: str | None = None, timeout: float = 3600, poll: float = 2) -> dict:
        """Poll until indexing ends (PARSE or FAILED); raises TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            meta = self.get_video(video_no, unique_id)
            if meta is not None and meta["status"] != "UNPARSE":
                return meta
            if time.monotonic() > deadline:
                raise TimeoutError(f"{video_no} still indexing after {timeout} s")
            time.sleep(poll)

    def list_videos(self, page: int = 1, size: int = 20, **filters: Any) -> dict:
        return self._send(_Calls.list_videos(page, size, **filters))

    def delete_videos(self, video_nos: list[str], unique_id: str | None = None) -> None:
        self._send(_Calls.delete_videos(video_nos, unique_id))

    def search_videos(self, query: str, search_type: str = "BY_CLIP", top_k: int = 100, **filters: Any) -> list[dict]:
        return self._send(_Calls.search_videos(query, search_type, top_k, **filters))

    def search_transcripts(self, query: str, page: int = 1, page_size: int = 100, unique_id: str | None = None) -> dict:
        return self._send(_Calls.search_transcripts(query, page, page_size, unique_id))

    def get_transcript(self, video_no: str, unique_id: str | None = None) -> dict | None:
        return self._send(_Calls.get_transcript(video_no, unique_id))

    def download_video(self, video_no: str, dest: str | Path, unique_id: str | None = None) -> Path:
        """Stream a video's original to `dest`, atomically."""
        return self._stream_to(dest, "POST", "/download", json=_clean({"video_no": video_no, "unique_id": unique_id}))

    def download(self, bucket: str, blob: str, dest: str | Path) -> Path:
        """Stream a stored file (`bucket`/`blob` from any image or video item) to `dest`, atomically."""
        return self._stream_to(dest, "GET", "/download", params={"bucket": bucket, "blob": blob})

    def _stream_to(self, dest: str | Path, method: str, path: str, **kw: Any) -> Path:
        dest = Path(dest)
        tmp = dest.with_name(dest.name + ".part")
        with self.http.stream(method, path, **kw) as res:
            if res.headers.get("content-type", "").startswith("application/json"):
                res.read()
                _result(res)
            res.raise_for_status()
            with open(tmp, "wb") as out:
                for chunk in res.iter_bytes():
                    out.write(chunk)
        os.replace(tmp, dest)
        return dest


class AsyncReverie:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120, retries: int = 5, backoff: float = 0.4,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/") + API, headers={"Authorization": api_key},
                                      timeout=timeout, transport=transport)
        self.retries, self.backoff = retries, backoff

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "AsyncReverie":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call) -> Any:
        for attempt in range(self.retries + 1):
            with contextlib.ExitStack() as stack:
                res = await self.http.request(call.method, call.path, **call.request_kwargs(stack))
            wait = _retry_after(res, attempt, self.backoff) if attempt < self.retries else None
            if wait is None:
                return _result(res)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def upload_images(self, paths: list[str | Path], **meta: Any) -> list[int]:
        return [d["id"] for d in await self._send(_Calls.upload_images(paths, **meta))]

    async def get_image(self, image_id: int, unique_id: str | None = None) -> dict:
        return await self._send(_Calls.get_image(image_id, unique_id))

    async def list_images(self, page: int = 1, page_size: int = 20, **filters: Any) -> dict:
        return await self._send(_Calls.list_images(page, page_size, **filters))

    async def iter_images(self, page_size: int = 100, **filters: Any) -> AsyncIterator[dict]:
        page = 1
        while True:
            data = await self.list_images(page, page_size, **filters)
            for item in data["item"]:
                yield item
            if page * page_size >= data["total_count"] or not data["item"]:
                return
            page += 1

    async def delete_images(self, image_ids: list[int], unique_id: str | None = None) -> None:
        await self._send(_Calls.delete_images(image_ids, unique_id))

    async def search_images(self, query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> dict:
        return await self._send(_Calls.search_images(query, page, page_size, top_k, **filters))

    async def similar_images(self, path: str | Path, unique_id: str | None = None, top_k: int = 20, similarity: float | None = None) -> dict:
        return await self._send(_Calls.similar_images(path, unique_id, top_k, similarity))

    async def list_unique_ids(self) -> list[str]:
        return (await self._send(_Calls.list_unique_ids()))["unique_ids"]

    async def namespaces(self) -> list[dict]:
        data = await self._send(_Calls.list_unique_ids())
        return data.get("namespaces") or [{"unique_id": n} for n in data["unique_ids"]]

    async def search_all(self, query: str, page: int = 1, page_size: int = 20, top_k: int = 100, **filters: Any) -> dict:
        return await self._send(_Calls.search_all(query, page, page_size, top_k, **filters))

    async def indexing_status(self) -> dict:
        return await self._send(_Calls.indexing_status())

    async def upload_video(self, path: str | Path, **meta: Any) -> dict:
        return await self._send(_Calls.upload_video(path, **meta))

    async def get_video(self, video_no: str, unique_id: str | None = None) -> dict | None:
        return await self._send(_Calls.get_video(video_no, unique_id))

    async def wait_for_video(self, video_no: str, unique_id: str | None = None, timeout: float = 3600, poll: float = 2) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            meta = await self.get_video(video_no, unique_id)
            if meta is not None and meta["status"] != "UNPARSE":
                return meta
            if time.monotonic() > deadline:
                raise TimeoutError(f"{video_no} still indexing after {timeout} s")
            await asyncio.sleep(poll)

    async def list_videos(self, page: int = 1, size: int = 20, **filters: Any) -> dict:
        return await self._send(_Calls.list_videos(page, size, **filters))

    async def delete_videos(self, video_nos: list[str], unique_id: str | None = None) -> None:
        await self._send(_Calls.delete_videos(video_nos, unique_id))

    async def search_videos(self, query: str, search_type: str = "BY_CLIP", top_k: int = 100, **filters: Any) -> list[dict]:
        return await self._send(_Calls.search_videos(query, search_type, top_k, **filters))

    async def search_transcripts(self, query: str, page: int = 1, page_size: int = 100, unique_id: str | None = None) -> dict:
        return await self._send(_Calls.search_transcripts(query, page, page_size, unique_id))

    async def get_transcript(self, video_no: str, unique_id: str | None = None) -> dict | None:
        return await self._send(_Calls.get_transcript(video_no, unique_id))

    async def download_video(self, video_no: str, dest: str | Path, unique_id: str | None = None) -> Path:
        return await self._stream_to(dest, "POST", "/download", json=_clean({"video_no": video_no, "unique_id": unique_id}))

    async def download(self, bucket: str, blob: str, dest: str | Path) -> Path:
        return await self._stream_to(dest, "GET", "/download", params={"bucket": bucket, "blob": blob})

    async def _stream_to(self, dest: str | Path, method: str, path: str, **kw: Any) -> Path:
        dest = Path(dest)
        tmp = dest.with_name(dest.name + ".part")
        async with self.http.stream(method, path, **kw) as res:
            if res.headers.get("content-type", "").startswith("application/json"):
                await res.aread()
                _result(res)
            res.raise_for_status()
            with open(tmp, "wb") as out:
                async for chunk in res.aiter_bytes():
                    out.write(chunk)
        os.replace(tmp, dest)
        return dest
