"""Blobs in an S3 bucket (AWS, or a self-hosted server such as SeaweedFS, MinIO, Ceph), for servers and
workers on several machines sharing one store.

Objects are written whole by S3 itself (a PUT or a completed multipart upload), so the all-or-nothing
promise of the file backend holds here too. Keys are those of the file backend, under an optional prefix.

A store that is down, slow or answering 5xx costs a request a bounded time (CONNECT_TIMEOUT, READ_TIMEOUT,
or BULK_TIMEOUT for large objects; RETRIES) and then raises BlobStoreUnavailable (HTTP 503, 0503,
Retry-After), never a botocore error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError, HTTPClientError,
                                 ReadTimeoutError)
from botocore.exceptions import ConnectionError as CannotConnect  # not the builtin of the same name

from ..errors import BlobStoreUnavailable
from .blobs import BlobReader, check_key
from .patience import until_available

MB = 1024 * 1024
PART_SIZE = 64 * MB  # at most 10,000 parts per upload: up to 640 GB per object
URL_PARAMS = ("endpoint", "region", "key", "secret")
MISSING = ("404", "NoSuchKey", "NotFound")
# A store that does not answer costs a call at most (1 + RETRIES) x (CONNECT_TIMEOUT or READ_TIMEOUT) plus
# botocore's backoff (under 1 s before the one retry): ~4-5 s for a store that hangs (a PUT ~6 s: it first
# waits up to 1 s for `100 Continue`), ~1 s for one that refuses, resets or answers 503. The retry covers a
# pooled connection that the server closed as it was reused. READ_TIMEOUT bounds each socket read and
# CONNECT_TIMEOUT each send of a request's body (urllib3 sends it before it switches to the read timeout), not
# a transfer: a large body that keeps flowing is never cut.
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 2
# A large object goes through a client that waits longer, to connect and send as well as to read: on a busy
# machine a store may stop reading a 64-MB part, or take seconds to copy or assemble a large object (seen in
# CI: a 400-MB video upload refused as "connection closed by the store"). A hang costs such a transfer up to
# twice this; small objects (photos) keep the short bounds.
BULK_TIMEOUT = 60
BULK_BYTES = 16 * MB  # objects at least this large travel through the patient client
RETRIES = 1  # botocore's max_attempts counts the retries after the first attempt
# After an outage the store is not asked again for this long (the Retry-After given to clients): while it
# hangs, every request would otherwise wait out its own timeouts before answering (measured: 2 uploads at
# once, 8 s). The price: a request in the seconds after the store's return may still be refused.
QUIET_SECONDS = BlobStoreUnavailable.retry_after_s
THROTTLED = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling")


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in MISSING


def _outage(err: BaseException | None) -> str | None:
    """Short words for an error that means the store is not answering (down, slow, overloaded); None for
    any other error, which stays as it is."""
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = err.response.get("Error", {}).get("Code", "")
        if status >= 500 or code in THROTTLED:
            return f"HTTP {status} {code}" if code and code != str(status) else f"HTTP {status}"
        return None
    if isinstance(err, (ConnectTimeoutError, ReadTimeoutError)):
        return "timed out connecting or sending" if isinstance(err, ConnectTimeoutError) else "timed out reading"
    if isinstance(err, CannotConnect):
        cause = str(err.kwargs.get("error", "")).lower()
        if "refused" in cause:
            return "connection refused"
        return "connection reset" if "reset" in cause or "broken pipe" in cause else "cannot connect"
    if isinstance(err, ConnectionClosedError):
        return "connection closed by the store"
    if isinstance(err, HTTPClientError):
        return f"connection failed: {err.kwargs.get('error', err)}"
    if isinstance(err, RetriesExceededError):  # the managed download gave up on a stream that kept failing
        return _outage(err.last_exception)
    if isinstance(err, S3UploadFailedError):  # the managed upload's wrapper of a ClientError
        return _outage(err.__context__)
    return None


def parse_blob_url(url: str) -> dict[str, str]:
    """`s3://bucket[/prefix]?endpoint=http://host:port&region=…&key=…&secret=…`, every parameter optional, as
    the arguments of S3BlobStore. Values are percent-decoded, but a `+` stays a `+` (AWS secrets hold some)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError("blob_url must look like s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&key=KEY&secret=SECRET")
    params: dict[str, list[str]] = {}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), []).append(unquote(value))
    unknown = sorted(set(params) - set(URL_PARAMS))
    if unknown:
        raise ValueError(f"blob_url: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(URL_PARAMS)}")
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"blob_url: parameter(s) {', '.join(repeated)} given more than once")
    given = {name: values[0] for name, values in params.items() if values[0]}
    if ("key" in given) != ("secret" in given):
        raise ValueError("blob_url: key and secret go together (or leave both out for the AWS credential chain)")
    return {"bucket": unquote(parts.netloc), "prefix": unquote(parts.path).strip("/"), **given}


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None, region: str | None = None,
                 key: str | None = None, secret: str | None = None, part_size: int = PART_SIZE):
        self.bucket = bucket
        self.prefix = prefix.strip("/")

        def client(connect_timeout: float, read_timeout: float):  # noqa: ANN202
            config = Config(
                # Self-hosted servers seldom have a wildcard DNS name per bucket: address buckets by path there.
                s3={"addressing_style": "path"} if endpoint else {},
                connect_timeout=connect_timeout, read_timeout=read_timeout,
                retries={"max_attempts": RETRIES, "mode": "standard"},
            )
            # Without key and secret (None), boto3 looks for credentials itself: environment, profile, role.
            return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                                aws_secret_access_key=secret, config=config)

        self._s3 = client(CONNECT_TIMEOUT, READ_TIMEOUT)
        self._bulk = client(BULK_TIMEOUT, BULK_TIMEOUT)
        # S3 takes no part under 5 MB but the last: boto3 raises a smaller part_size to 5 MB.
        self._transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
        self._quiet: tuple[float, str] = (0.0, "")  # (monotonic time until which calls fail at once, why)
        until_available("object store", self._ensure_bucket)

    @classmethod
    def from_url(cls, url: str, part_size: int = PART_SIZE) -> "S3BlobStore":
        return cls(**parse_blob_url(url), part_size=part_size)

    def _ensure_bucket(self) -> None:
        self._quiet = (0.0, "")  # tried again at start: the quiet period after the last try must not refuse it
        try:
            with self._s3_call(self.bucket):
                self._s3.head_bucket(Bucket=self.bucket)
            return
        except FileNotFoundError:
            pass
        region = self._s3.meta.region_name
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region not in (None, "us-east-1") else {}
        try:
            with self._s3_call():
                self._s3.create_bucket(Bucket=self.bucket, **where)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":  # another process was first
                raise

    @contextmanager
    def _s3_call(self, key: str | None = None) -> Iterator[None]:
        """Around every S3 call: a missing `key` becomes FileNotFoundError, an outage BlobStoreUnavailable."""
        until, why = self._quiet
        if time.monotonic() < until:
            raise BlobStoreUnavailable(why)
        try:
            yield
        except (ClientError, HTTPClientError, CannotConnect, RetriesExceededError, S3UploadFailedError) as err:
            if key is not None and isinstance(err, ClientError) and _missing(err):
                raise FileNotFoundError(key) from None
            why = _outage(err)
            if why is None:
                raise
            self._quiet = (time.monotonic() + QUIET_SECONDS, why)
            raise BlobStoreUnavailable(why) from err

    def _client_for(self, size: int):  # noqa: ANN202
        return self._bulk if size >= BULK_BYTES else self._s3

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _head(self, key: str) -> dict:
        with self._s3_call(key):
            return self._s3.head_object(Bucket=self.bucket, Key=self._name(key))

    def adopt(self, key: str, staged: Path) -> bool:
        # Check, then upload: keys are content addresses or fresh ids, and callers adopt inside the database's
        # write transaction, so two different files never race for one key.
        if self.exists(key):
            return False
        # A multipart upload that fails is aborted by boto3, unless the store is down by then: abort_uploads
        # (run by sweep) removes those left behind.
        s3 = self._client_for(staged.stat().st_size)
        with self._s3_call():
            s3.upload_file(str(staged), self.bucket, self._name(key), Config=self._transfer)
        staged.unlink()
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._s3_call():
            self._s3.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return self._head(key)["ContentLength"]

    def modified(self, key: str) -> float:
        return self._head(key)["LastModified"].timestamp()

    def _get(self, key: str, **extra: str) -> BlobReader:
        # Only the request and the response's head are guarded: an outage while the body streams breaks the
        # stream (the HTTP answer has started; its client sees a short body), it cannot become an envelope.
        with self._s3_call(key):
            body = self._s3.get_object(Bucket=self.bucket, Key=self._name(key), **extra)["Body"]
        return BlobReader(body)

    def open(self, key: str) -> BlobReader:
        return self._get(key)

    def open_range(self, key: str, start: int, end: int) -> BlobReader:
        return self._get(key, Range=f"bytes={start}-{end}")

    def local_path(self, key: str) -> Path | None:
        return None

    def fetch_to(self, key: str, dest: Path) -> None:
        s3 = self._client_for(self.size(key))
        with self._s3_call(key):
            s3.download_file(self.bucket, self._name(key), str(dest), Config=self._transfer)

    def delete(self, key: str) -> None:
        with self._s3_call():
            self._s3.delete_object(Bucket=self.bucket, Key=self._name(key))  # S3 answers 204 for a missing key too

    def move(self, key: str, new_key: str) -> bool:
        # S3 has no rename. The managed copy goes part by part past 5 GB, where a single CopyObject stops.
        source = {"Bucket": self.bucket, "Key": self._name(key)}
        try:
            s3 = self._client_for(self.size(key))
            with self._s3_call(key):
                s3.copy(source, self.bucket, self._name(new_key), Config=self._transfer)
        except FileNotFoundError:
            return False
        self.delete(key)
        return True

    def keys(self, prefix: str) -> list[str]:
        folder = self._name(prefix.rstrip("/")) + "/"
        skip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        with self._s3_call():
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                found.extend(obj["Key"][skip:] for obj in page.get("Contents", ()))
        return found

    def abort_uploads(self, grace_seconds: float) -> int:
        """Abort the multipart uploads under this store's prefix begun more than `grace_seconds` ago and never
        completed (their parts cost storage, unseen by any listing of objects); how many were aborted."""
        folder = f"{self.prefix}/" if self.prefix else ""
        cutoff = time.time() - grace_seconds
        aborted = 0
        with self._s3_call():
            for page in self._s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=folder):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"].timestamp() <= cutoff:
                        self._s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                        UploadId=upload["UploadId"])
                        aborted += 1
        return aborted
