"""The engines: results never depend on the shard size or the engine, and a killed run resumes."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from curator import artifacts
from curator.errors import DataError
from curator.params import EmbedParams, EngineParams, HashParams, IngestParams, Params
from curator.stages import duplicates, embed, hash, ingest
from tests.conftest import smooth_image, tiny_clip_embed

BIN = Path(sys.executable).parent
OUTPUTS = (artifacts.MANIFEST, artifacts.HASHES, artifacts.EMBED_VECTORS, artifacts.EMBED_IDS)


def run_stages(params: Params, root: Path, audits: Path) -> dict[str, bytes]:
    for stage in (ingest, hash, embed):
        stage.run(params, root, audits)
    return {name: (audits / name).read_bytes() for name in OUTPUTS}


def demo_params(tmp_path: Path, **engine) -> Params:
    return Params(
        engine=EngineParams(work_dir=str(tmp_path / "work"), **engine),
        ingest=IngestParams(workers=1),
        embed=EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1),
    )


def test_outputs_do_not_depend_on_the_shard_size(demo_data, tmp_path):
    root = demo_data[0]
    whole = run_stages(demo_params(tmp_path / "a"), root, tmp_path / "a" / "audits")
    sharded = run_stages(
        demo_params(tmp_path / "b", shard_size=37), root, tmp_path / "b" / "audits"
    )
    assert sharded == whole
    assert not any((tmp_path / "b" / "work").rglob("*.parquet"))  # cleaned up when done


def _big_image_project(tmp_path: Path) -> tuple[list[str], list[str], Path]:
    """160 large PNGs (a couple of seconds of work on one core, in 16 shards of 10)."""
    folder = tmp_path / "data" / "images" / "train" / "a"
    folder.mkdir(parents=True)
    for i in range(160):
        smooth_image(seed=i, size=512).save(folder / f"{i}.png", compress_level=1)
    params = {
        "engine": {"shard_size": 10, "work_dir": str(tmp_path / "work")},
        "ingest": {"workers": 1, "metadata": None, "annotations": None},
        "hash": {"workers": 1, "decode_size": 0},
    }
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    common = ["--data", str(tmp_path / "data"), "--audits", str(tmp_path / "audits")]
    return [str(BIN / "curator")], [*common, "--params", str(params_file)], folder


def _kill_after_three_shards(command: list[str], work: Path) -> int:
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.time() + 120
    while len(list(work.rglob("*.parquet"))) < 3 and time.time() < deadline:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = len(list(work.rglob("*.parquet")))
    assert 3 <= saved < 16
    return saved


def test_a_killed_hash_run_resumes_from_its_saved_shards(tmp_path):
    cli, common, _ = _big_image_project(tmp_path)
    audits = tmp_path / "audits"
    subprocess.run([*cli, "ingest", *common], check=True, capture_output=True)
    saved = _kill_after_three_shards([*cli, "hash", *common], tmp_path / "work")
    assert not (audits / artifacts.HASHES).exists()

    resumed = subprocess.run([*cli, "hash", *common], check=True, capture_output=True, text=True)
    assert f"resumed {saved} of 16 shards" in resumed.stdout
    interrupted = (audits / artifacts.HASHES).read_bytes()
    subprocess.run([*cli, "hash", *common], check=True, capture_output=True)
    assert (audits / artifacts.HASHES).read_bytes() == interrupted  # same as an unbroken run


def test_a_file_changed_while_ingest_was_killed_is_read_again(tmp_path):
    cli, common, folder = _big_image_project(tmp_path)
    saved = _kill_after_three_shards([*cli, "ingest", *common], tmp_path / "work")
    first = folder / "0.png"  # in the first shard, which was saved
    first.write_bytes(first.read_bytes()[:5000])  # truncated, as by a crashed copy

    resumed = subprocess.run([*cli, "ingest", *common], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {saved - 1} of 16 shards" in resumed.stderr
    manifest = pd.read_parquet(tmp_path / "audits" / artifacts.MANIFEST).set_index("path")
    row = manifest.loc["images/train/a/0.png"]
    assert row["sample_id"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert not row["readable"]
    fresh = ingest.run(
        Params(ingest=IngestParams(workers=1, metadata=None, annotations=None)),
        tmp_path / "data",
        tmp_path / "fresh",
    )
    assert fresh["n_readable"] == 159
    pd.testing.assert_frame_equal(
        manifest.reset_index(), pd.read_parquet(tmp_path / "fresh" / artifacts.MANIFEST)
    )


def test_a_file_changed_while_hash_was_killed_is_hashed_again_or_refused(tmp_path):
    cli, common, folder = _big_image_project(tmp_path)
    audits = tmp_path / "audits"
    subprocess.run([*cli, "ingest", *common], check=True, capture_output=True)
    saved = _kill_after_three_shards([*cli, "hash", *common], tmp_path / "work")
    smooth_image(seed=998, size=512).save(folder / "0.png")  # in the first, saved shard

    # as `dvc repro` does: ingest sees the new content, hash resumes all but that shard
    subprocess.run([*cli, "ingest", *common], check=True, capture_output=True)
    again = subprocess.run([*cli, "hash", *common], capture_output=True, text=True, check=True)
    assert f"resumed {saved - 1} of 16 shards" in again.stdout
    resumed = pd.read_parquet(audits / artifacts.HASHES)
    clean = Params(
        engine=EngineParams(work_dir=str(tmp_path / "w2")),
        ingest=IngestParams(workers=1),
        hash=HashParams(workers=1),
    )
    hash.run(clean, tmp_path / "data", tmp_path / "audits")
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(audits / artifacts.HASHES))

    # a file changed after ingest is refused, not hashed under the content ingest saw
    smooth_image(seed=999, size=512).save(folder / "99.png")
    stale = subprocess.run([*cli, "hash", *common], capture_output=True, text=True)
    assert stale.returncode == 5
    assert "changed since ingest read them" in stale.stderr and "99.png" in stale.stderr


@pytest.mark.slow
def test_ray_engine_gives_the_local_engines_results(demo_data, tmp_path, tiny_clip_config):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'curator[ray]'")
    import ray

    root = demo_data[0]
    local = run_stages(demo_params(tmp_path / "local"), root, tmp_path / "local" / "audits")
    on_ray = demo_params(tmp_path / "ray", name="ray", num_cpus=2, shard_size=150)
    try:
        assert run_stages(on_ray, root, tmp_path / "ray" / "audits") == local
        # open_clip on Ray actors (CPU here; engine.gpus_per_actor on a GPU cluster)
        clip = tiny_clip_embed(tiny_clip_config, tmp_path / "clip", batch_size=16)
        vectors = {}
        for name, engine in (("local", "local"), ("ray", "ray")):
            p = replace(
                on_ray,
                engine=replace(on_ray.engine, name=engine),
                embed=replace(clip, cache_dir=str(tmp_path / f"clip-{name}")),
            )
            embed.run(p, root, tmp_path / "ray" / "audits")
            vectors[name] = np.load(tmp_path / "ray" / "audits" / artifacts.EMBED_VECTORS)
        np.testing.assert_allclose(vectors["ray"], vectors["local"], atol=1e-5)
        assert vectors["ray"].shape[1] == 32
    finally:
        ray.shutdown()


def test_a_url_data_root_gives_the_same_audit(demo_data, tmp_path):
    """Workers and tables are read through pyarrow filesystems: a file:// root (as s3:// would
    be) with a manifest gives byte-identical ingest, hash and embed outputs."""
    root = tmp_path / "data"
    shutil.copytree(demo_data[0], root)
    files = sorted(p for p in (root / "images").rglob("*") if p.is_file())
    rows = [
        {"path": p.relative_to(root).as_posix(), "split": p.parts[-3], "label": p.parts[-2]}
        for p in files
    ]
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    params = replace(
        demo_params(tmp_path, shard_size=100),
        ingest=IngestParams(workers=1, layout="manifest", manifest="manifest.csv"),
    )
    by_path = run_stages(params, root, tmp_path / "by-path")
    url = root.resolve().as_uri()
    assert url.startswith("file:///")
    by_url = run_stages(params, url, tmp_path / "by-url")
    assert by_url == by_path
    assert (tmp_path / "by-url" / artifacts.ANNOTATIONS).read_bytes() == (
        tmp_path / "by-path" / artifacts.ANNOTATIONS
    ).read_bytes()  # metadata and annotation tables were read from the URL too
    for where, audits in ((root, tmp_path / "by-path"), (url, tmp_path / "by-url")):
        duplicates.run(params, where, audits)  # edge maps read through the URL as well
    assert (tmp_path / "by-url" / artifacts.DUPLICATES).read_bytes() == (
        tmp_path / "by-path" / artifacts.DUPLICATES
    ).read_bytes()

    out = subprocess.run(  # the CLI keeps a URL a URL
        [str(BIN / "curator"), "hash", "--data", url, "--audits", str(tmp_path / "by-url")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "distinct images hashed" in out.stdout
    with pytest.raises(DataError, match="list its images in a manifest"):
        ingest.run(demo_params(tmp_path), url, tmp_path / "nope")
