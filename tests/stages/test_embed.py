import json

import numpy as np
import pandas as pd

from curator import artifacts
from curator.params import EmbedParams, IngestParams, Params
from curator.stages import embed, ingest
from tests.conftest import tiny_clip_embed, write_image


def params_for(tmp_path, config=None) -> Params:
    if config is None:
        emb = EmbedParams(cache_dir=str(tmp_path / "cache"), workers=1)
    else:
        emb = tiny_clip_embed(config, tmp_path / "cache")
    return Params(ingest=IngestParams(workers=1), embed=emb)


def test_growing_dataset_embeds_only_new_images(image_folder, tmp_path, tiny_clip_config):
    params, audits = params_for(tmp_path, tiny_clip_config), tmp_path / "audits"
    ingest.run(params, image_folder, audits)
    first = embed.run(params, image_folder, audits)
    assert (first["n_embedded_now"], first["n_from_cache"]) == (12, 0)
    old = dict(
        zip(
            pd.read_parquet(audits / artifacts.EMBED_IDS)["sample_id"],
            np.load(audits / artifacts.EMBED_VECTORS),
            strict=True,
        )
    )
    for i in range(3):
        write_image(image_folder / "images" / "train" / "cat" / f"new{i}.png", seed=500 + i)
    ingest.run(params, image_folder, audits)
    second = embed.run(params, image_folder, audits)
    assert (second["n_embedded_now"], second["n_from_cache"]) == (3, 12)
    ids = pd.read_parquet(audits / artifacts.EMBED_IDS)["sample_id"].tolist()
    vectors = np.load(audits / artifacts.EMBED_VECTORS)
    assert len(ids) == 15 and vectors.shape == (15, 32)
    for sid, vec in zip(ids, vectors, strict=True):
        if sid in old:
            np.testing.assert_array_equal(vec, old[sid])
    record = json.loads((audits / artifacts.EMBED_SUMMARY).read_text())
    assert record["backend"] == "open_clip" and record["model"] == "curator-tiny"
    assert record["weights"] == "random-init" and record["n_vectors"] == 15


def test_fallback_is_recorded(image_folder, tmp_path, caplog):
    params, audits = params_for(tmp_path), tmp_path / "audits"
    ingest.run(params, image_folder, audits)
    summary = embed.run(params, image_folder, audits)
    record = json.loads((audits / artifacts.EMBED_SUMMARY).read_text())
    assert record["backend"] == "fallback:thumbnail" and record["dim"] == 256
    assert (
        "ViT-B-32/laion2b_s34b_b79k weights are not in the local caches"
        in record["fallback_reason"]
    )
    assert summary["n_embedded_now"] == 12
    said = [r.getMessage() for r in caplog.records if r.name == "curator.stages.embed"]
    assert len(said) == 1 and "using the 'thumbnail' fallback" in said[0]
