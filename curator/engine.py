"""Where per-file work runs: the local engine (a process pool) or Ray Data; always in shards.

The files of a stage are cut into shards of ``engine.shard_size``. Each shard is computed (on
local cores, or as a Ray Data pipeline whose workers read the files through pyarrow's
filesystems, so a path can be a local one or a URL such as s3://) and its rows saved under
``<work_dir>/<stage>/<key>/`` before the next starts. Only one shard of work is in flight, so
memory does not grow with the dataset beyond the rows kept; a run that is killed resumes at the
first shard it had not saved. The folder is removed when the stage finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curator.io.parallel import map_in_pool, worker_pool
from curator.io.tables import write_parquet
from curator.io.uris import read_uri
from curator.params import EngineParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardRun:
    """Facts about a sharded run, for the stage's summary."""

    n_shards: int
    n_resumed: int
    engine: str


def run_sharded(
    stage: str,
    uris: Sequence[str],
    work: Callable[[str], dict[str, Any]],
    engine: EngineParams,
    work_dir: Path,
    key: str,
    fingerprints: Callable[[int, int], Sequence[str]],
    workers: int = 0,
) -> tuple[pd.DataFrame, ShardRun]:
    """``pd.DataFrame([work(u) for u in uris])``, computed shard by shard and resumable.

    ``work`` must be picklable (a module-level function or a partial of one) and return a flat
    dict of scalars. ``key`` names everything that changes the rows besides the files (params,
    model), so a changed setting never resumes from stale shards; ``fingerprints(start, stop)``
    says what the files ``uris[start:stop]`` hold (their content ids, or size, mtime and inode),
    so a file changed since a shard was saved is never served from it.
    """
    folder = Path(work_dir) / stage / hashlib.sha256(key.encode()).hexdigest()[:16]
    cuts = range(0, len(uris), engine.shard_size)
    parts, resumed = [], 0
    local = engine.name == "local"
    with worker_pool(workers if local else 1, len(uris)) as pool:
        for n, start in enumerate(cuts):
            stop = min(start + engine.shard_size, len(uris))
            chunk = list(uris[start:stop])
            held = fingerprints(start, stop)
            listing = "\n".join(f"{u}\t{f}" for u, f in zip(chunk, held, strict=True))
            name = hashlib.sha256(listing.encode()).hexdigest()[:16]
            path = folder / f"{n:06d}-{name}.parquet"
            if path.exists():
                parts.append(pd.read_parquet(path))
                resumed += 1
                continue
            if local:
                rows = map_in_pool(pool, work, chunk, f"{stage} {n + 1}/{len(cuts)}")
            else:
                rows = ray_map(work, chunk, engine)
            frame = pd.DataFrame(rows)
            write_parquet(frame, path, now=True)  # saved at once: what a killed run resumes
            parts.append(frame)
    if resumed:
        log.warning(
            "%s: resumed %d of %d shards saved by an interrupted run", stage, resumed, len(cuts)
        )
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # the stage's and the work folder
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return table, ShardRun(len(cuts), resumed, engine.name)


def init_ray(engine: EngineParams):
    """``ray.init`` at engine.address, else RAY_ADDRESS, else a local Ray (engine.num_cpus)."""
    try:
        import ray
    except ImportError as exc:
        from curator.errors import ConfigError

        raise ConfigError(
            "params: engine.name is 'ray' but Ray is not installed; "
            "`pip install 'curator[ray]'` or set engine.name: local."
        ) from exc
    if not ray.is_initialized():
        address = engine.address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {} if address else {"num_cpus": engine.num_cpus}
        ray.init(
            address=address,
            ignore_reinit_error=True,
            log_to_driver=False,
            include_dashboard=False,
            **kwargs,
        )
    return ray


class _Rows:
    """A Ray Data batch function: apply ``work`` to each uri of the batch."""

    def __init__(self, work: Callable[[str], dict[str, Any]]) -> None:
        self.work = work

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows = [self.work(u) for u in batch["uri"]]
        out = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
        return out | {"_i": list(batch["_i"])}


def _ray_rows(uris: list[str], engine: EngineParams, fn, **map_batches) -> pd.DataFrame:
    """Run a Ray Data pipeline over the numbered ``uris`` through ``fn`` (a batch function or
    an actor class) and return its rows in input order."""
    ray = init_ray(engine)
    data = ray.data.from_items([{"_i": i, "uri": u} for i, u in enumerate(uris)])
    out = data.map_batches(fn, batch_format="numpy", **map_batches)
    return pd.DataFrame(out.to_pandas()).sort_values("_i").drop(columns="_i")


def ray_map(work: Callable[[str], dict[str, Any]], uris: list[str], engine: EngineParams):
    """Rows of ``work`` over ``uris`` computed by Ray Data CPU tasks, returned in input order."""
    return _ray_rows(uris, engine, _Rows(work), batch_size=engine.batch_size).to_dict("records")


class _ClipActor:
    """A Ray actor holding one open_clip model (on its GPU when it has one)."""

    def __init__(self, embedder, embed_params, max_image_pixels: int) -> None:
        from curator.features.embeddings import OpenClipEncoder

        self.encoder = OpenClipEncoder.load(embedder, embed_params)
        self.max_image_pixels = max_image_pixels

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import torch

        from curator.io.images import open_rgb

        images = [
            self.encoder.preprocess(open_rgb(read_uri(u), self.max_image_pixels)[0])
            for u in batch["uri"]
        ]
        vectors = self.encoder.embed_batch(torch.stack(images))
        return {"vector": list(vectors), "_i": list(batch["_i"])}


def embed_open_clip_ray(embedder, uris: list[str], params) -> np.ndarray:
    """open_clip embeddings on a pool of Ray actors (engine.embed_actors, each with
    engine.gpus_per_actor GPUs), fed by a streaming Ray Data pipeline; input order kept."""
    engine = params.engine
    ray = init_ray(engine)
    gpus = engine.gpus_per_actor if ray.cluster_resources().get("GPU", 0) else 0
    frame = _ray_rows(
        uris,
        engine,
        _ClipActor,
        fn_constructor_args=(embedder, params.embed, params.ingest.max_image_pixels),
        batch_size=params.embed.batch_size,
        compute=ray.data.ActorPoolStrategy(size=engine.embed_actors),
        num_gpus=gpus,
    )
    return np.stack(frame["vector"].to_list()).astype(np.float32)
