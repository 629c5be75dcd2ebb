"""Which blob store a `blob_url` names. Kept apart from both backends so that neither imports the other."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from .blobs import BlobStore, FileBlobStore


def open_blob_store(url: str, default_dir: Path) -> BlobStore:
    """Files under `default_dir` for an empty URL, an S3 bucket for `s3://bucket[/prefix]?endpoint=…`."""
    if not url:
        return FileBlobStore(default_dir)
    if urlsplit(url).scheme != "s3":  # the URL itself is not echoed: it may carry a secret
        raise ValueError("blob_url must be empty (files under DATA/blobs) or "
                         "s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&key=KEY&secret=SECRET")
    from .s3_blobs import S3BlobStore  # boto3 takes a while to import: only where S3 is used

    return S3BlobStore.from_url(url)
