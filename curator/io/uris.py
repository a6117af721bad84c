"""File locations that may be local paths or URLs (s3://, gs://, hdfs://, ...)."""

from __future__ import annotations

from pathlib import Path


def read_uri(uri: str) -> bytes:
    """The bytes of a local path or of a URL pyarrow can open (s3://, gs://, hdfs://, ...)."""
    if "://" not in uri:
        return Path(uri).read_bytes()
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def join_uri(root: str | Path, rel: str) -> str:
    root = str(root)
    return f"{root.rstrip('/')}/{rel}" if "://" in root else str(Path(root) / rel)
