"""File locations that may be local paths or URLs (s3://, gs://, hdfs://, ...)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

Location = Path | str  # a local path, or a URL (s3://, gs://, ...) kept as a string


def read_uri(uri: str) -> bytes:
    """The bytes of a local path or of a URL pyarrow can open (s3://, gs://, hdfs://, ...).

    A local path that is not a regular file (a FIFO would block forever) is an OSError."""
    if "://" not in uri:
        fd = os.open(uri, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(f"{uri} is not a regular file (a FIFO, socket or device)")
            return fh.read()
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def join_uri(root: str | Path, rel: str) -> str:
    root = str(root)
    return f"{root.rstrip('/')}/{rel}" if "://" in root else str(Path(root) / rel)


class UriList(Sequence):
    """The URIs of ``rel`` paths under ``root``, made on demand: a stage at millions of files
    keeps the compact column of relative paths, not a second list of full strings."""

    def __init__(self, root: str | Path, rel: pd.Series) -> None:
        self.root, self.rel = root, rel.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.rel)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [join_uri(self.root, r) for r in self.rel.iloc[i].tolist()]
        return join_uri(self.root, self.rel.iloc[i])


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def data_root(location: str | Path) -> str | Path:
    """A URL stays a string (Path would fold 's3://b' into 's3:/b'); anything else is a Path."""
    return location if is_url(str(location)) else Path(location)


def uri_exists(uri: str | Path) -> bool:
    if not is_url(str(uri)):
        return Path(uri).exists()
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(str(uri))
    return filesystem.get_file_info(path).type != fs.FileType.NotFound


def missing_files(root: str | Path, rels: list[str]) -> list[str]:
    """The ``rels`` that are not files under ``root``; one batched listing call for URLs."""
    if not is_url(str(root)):
        return [r for r in rels if not (Path(root) / r).is_file()]
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(str(root))
    infos = filesystem.get_file_info([f"{base.rstrip('/')}/{r}" for r in rels])
    return [r for r, info in zip(rels, infos, strict=True) if info.type != fs.FileType.File]


def stat_fingerprints(uris: Sequence[str]) -> list[str]:
    """Size, modification time and inode of each file (what a rewrite or a replacement
    changes), from one stat per file or one batched listing for URLs; 'missing' if gone."""
    if not any(is_url(u) for u in uris):
        out = []
        for uri in uris:
            try:
                st = os.stat(uri)
            except OSError:
                out.append("missing")
                continue
            out.append(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
        return out
    from pyarrow import fs

    filesystem, first = fs.FileSystem.from_uri(uris[0])
    scheme = uris[0][: len(uris[0]) - len(first)]  # what from_uri strips ("s3://", ...): once
    infos = filesystem.get_file_info([u.removeprefix(scheme) for u in uris])
    return [f"{i.size}:{i.mtime_ns}" if i.type == fs.FileType.File else "missing" for i in infos]


def root_key(root: str | Path) -> str:
    """A stable name for a data root (for resumable shard folders)."""
    return str(root) if is_url(str(root)) else str(Path(root).resolve())
