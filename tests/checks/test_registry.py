"""Contract: every registered check returns the one result shape."""

import json

import pandas as pd
import pytest

from curator import artifacts
from curator.artifacts import ISSUE_COLUMNS
from curator.checks import REGISTRY, CheckInputs, run_check
from curator.errors import ConfigError
from curator.params import BalanceParams, EmbedParams, Params
from curator.stages import duplicates, embed, hash, ingest, load_embeddings, properties

# the demo plants no image conditions; tests/checks/test_properties.py plants each one
NOT_PLANTED_IN_DEMO = {"properties"}


@pytest.fixture(scope="module")
def inputs(demo_data, tmp_path_factory):
    root, _ = demo_data
    audits = tmp_path_factory.mktemp("audits")
    params = Params(embed=EmbedParams(cache_dir=str(audits / "cache")))
    for stage in (ingest, hash, properties, embed):
        stage.run(params, root, audits)
    manifest = pd.read_parquet(audits / artifacts.MANIFEST)
    load, plant = duplicates.edge_map_loaders(manifest, root, params)
    return CheckInputs(
        manifest=manifest,
        annotations=pd.read_parquet(audits / artifacts.ANNOTATIONS),
        hashes=pd.read_parquet(audits / artifacts.HASHES),
        properties=pd.read_parquet(audits / artifacts.PROPERTIES),
        embeddings=load_embeddings(audits),
        load_edge_maps=load,
        plant_copies=plant,
    )


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_check_contract(name, inputs):
    params = Params(balance=BalanceParams(subgroups=("site", "device")))
    result = run_check(name, inputs, params)
    assert result.name == name
    assert tuple(result.flags.columns) == ISSUE_COLUMNS
    if name not in NOT_PLANTED_IN_DEMO:
        assert not result.flags.empty, f"{name} finds the demo's planted problems"
    assert result.flags["score"].between(0, 1).all()
    assert result.flags["sample_id"].str.len().eq(64).all()
    assert result.flags["detail"].str.len().gt(0).all()
    assert result.flags["path"].isin(inputs.manifest["path"]).all()
    json.dumps(result.summary, allow_nan=True, default=str)
    assert result.metrics and all(not isinstance(v, list) for v in result.metrics.values())


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        REGISTRY["x"] = REGISTRY["balance"]  # type: ignore[index]


def test_unknown_check():
    with pytest.raises(ConfigError, match="unknown check 'nope'"):
        run_check("nope", CheckInputs(manifest=pd.DataFrame()), Params())
