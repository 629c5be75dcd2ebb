"""Blobs in an S3 bucket (AWS, or a self-hosted server such as SeaweedFS, MinIO, Ceph), for servers and
workers on several machines sharing one store.

Objects are written whole by S3 itself (a PUT or a completed multipart upload), so the all-or-nothing
promise of the file backend holds here too. Keys are those of the file backend, under an optional prefix.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from .blobs import BlobReader, check_key

MB = 1024 * 1024
PART_SIZE = 64 * MB  # at most 10,000 parts per upload: up to 640 GB per object
URL_PARAMS = ("endpoint", "region", "key", "secret")
MISSING = ("404", "NoSuchKey", "NotFound")


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in MISSING


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
        # Self-hosted servers seldom have a wildcard DNS name per bucket: address buckets by path there.
        config = Config(s3={"addressing_style": "path"} if endpoint else {})
        # Without key and secret (None), boto3 looks for credentials itself: environment, profile, instance role.
        self._s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                                aws_secret_access_key=secret, config=config)
        self._transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
        self._ensure_bucket()

    @classmethod
    def from_url(cls, url: str, part_size: int = PART_SIZE) -> "S3BlobStore":
        return cls(**parse_blob_url(url), part_size=part_size)

    def _ensure_bucket(self) -> None:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as err:
            if not _missing(err):
                raise
        region = self._s3.meta.region_name
        where = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region not in (None, "us-east-1") else {}
        try:
            self._s3.create_bucket(Bucket=self.bucket, **where)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":  # another process was first
                raise

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _head(self, key: str) -> dict:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(key) from None
            raise

    def adopt(self, key: str, staged: Path) -> bool:
        # Check, then upload: keys are content addresses or fresh ids, and callers adopt inside the database's
        # write transaction, so two different files never race for one key.
        if self.exists(key):
            return False
        self._s3.upload_file(str(staged), self.bucket, self._name(key), Config=self._transfer)
        staged.unlink()
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
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
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self._name(key), **extra)["Body"]
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(key) from None
            raise
        return BlobReader(body)

    def open(self, key: str) -> BlobReader:
        return self._get(key)

    def open_range(self, key: str, start: int, end: int) -> BlobReader:
        return self._get(key, Range=f"bytes={start}-{end}")

    def local_path(self, key: str) -> Path | None:
        return None

    def fetch_to(self, key: str, dest: Path) -> None:
        try:
            self._s3.download_file(self.bucket, self._name(key), str(dest), Config=self._transfer)
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(key) from None
            raise

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._name(key))  # S3 answers 204 for a missing key too

    def move(self, key: str, new_key: str) -> bool:
        # S3 has no rename. The managed copy goes part by part past 5 GB, where a single CopyObject stops.
        source = {"Bucket": self.bucket, "Key": self._name(key)}
        try:
            self._s3.copy(source, self.bucket, self._name(new_key), Config=self._transfer)
        except ClientError as err:
            if _missing(err):
                return False
            raise
        self.delete(key)
        return True

    def keys(self, prefix: str) -> list[str]:
        folder = self._name(prefix.rstrip("/")) + "/"
        skip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            found.extend(obj["Key"][skip:] for obj in page.get("Contents", ()))
        return found
