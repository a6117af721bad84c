"""Weights come from the cache, else a (stand-in) Hub, verified; offline, the fallback, loudly."""

import hashlib
import socket
import time

import numpy as np
import pytest
from click.testing import CliRunner

from curator.cli import cli
from curator.errors import DataError
from curator.features.embeddings import embed_open_clip, resolve_embedder
from curator.features.weights import PICKLE, SAFETENSORS, resolve_weights, weights_source
from curator.params import EmbedParams
from tests.conftest import write_image
from tests.hub import forward_proxy, stand_in_hub

REPO_ID = "curator-test/tiny-clip"


@pytest.fixture(scope="module")
def tiny_weights(tiny_clip_config, tmp_path_factory) -> bytes:
    """A randomly initialised tiny open_clip model as safetensors bytes (seeded)."""
    import torch
    from safetensors.torch import save_file

    from curator.torch_compat import import_open_clip

    open_clip = import_open_clip()
    open_clip.add_model_config(tiny_clip_config)
    torch.manual_seed(7)
    model = open_clip.create_model("curator-tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path.read_bytes()


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Network allowed, an empty private HF cache, no proxy from the environment."""
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read at its import
    for var in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    huggingface_hub.close_session()  # the shared client reads proxies when it is created
    yield tmp_path / "hf"
    huggingface_hub.close_session()


def tiny_params(config, tmp_path, **kw) -> EmbedParams:
    return EmbedParams(
        model="curator-tiny",
        model_config=str(config),
        pretrained=f"hf-hub:{REPO_ID}",
        num_workers=0,
        batch_size=4,
        device="cpu",
        cache_dir=str(tmp_path / "vectors"),
        **kw,
    )


def test_weights_download_from_the_hub_are_verified_recorded_and_cached(
    online, tiny_clip_config, tiny_weights, tmp_path, monkeypatch
):
    files = {(REPO_ID, SAFETENSORS): tiny_weights}
    with stand_in_hub(files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        params = tiny_params(tiny_clip_config, tmp_path)
        first = resolve_embedder(params)
        assert first.backend == "open_clip" and first.reason is None
        assert first.weights_sha256 == hashlib.sha256(tiny_weights).hexdigest()
        assert first.weights_source == f"downloaded from {hub.url}"
        assert any(r.startswith("GET /curator-test/tiny-clip/resolve/") for r in hub.requests)
        n_requests = len(hub.requests)
        again = resolve_embedder(params)
    assert again.weights_source == "local cache" and again.key == first.key
    assert len(hub.requests) == n_requests  # served from the cache, no new request
    # the downloaded weights are the ones used: same vectors as loading the file directly
    ckpt = tmp_path / "direct.safetensors"
    ckpt.write_bytes(tiny_weights)
    images = [write_image(tmp_path / f"{i}.png", seed=i) for i in range(3)]
    got, _ = embed_open_clip(first, images, params, 10**8, progress=False)
    direct = resolve_embedder(tiny_params(tiny_clip_config, tmp_path, checkpoint=str(ckpt)))
    want, _ = embed_open_clip(direct, images, params, 10**8, progress=False)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_an_open_clip_tag_resolves_to_its_hub_repository(online, monkeypatch):
    source = weights_source("ViT-B-32", "laion2b_s34b_b79k")
    assert source.repo == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert source.filenames == (SAFETENSORS, PICKLE)
    payload = b"not really ViT-B-32 weights"
    with stand_in_hub({(source.repo, PICKLE): payload}) as hub:  # no safetensors: falls to .bin
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        got = resolve_weights("ViT-B-32", "laion2b_s34b_b79k", "auto", 5.0)
    assert got.found and got.path.read_bytes() == payload
    assert got.sha256 == hashlib.sha256(payload).hexdigest()


def test_a_download_that_does_not_match_the_published_digest_is_refused(
    online, tiny_clip_config, tiny_weights, tmp_path, monkeypatch
):
    from huggingface_hub import try_to_load_from_cache

    with stand_in_hub({(REPO_ID, SAFETENSORS): tiny_weights}, tamper=True) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(DataError, match=r"SHA-256 .* but the Hub publishes"):
            resolve_embedder(tiny_params(tiny_clip_config, tmp_path))
    assert not isinstance(try_to_load_from_cache(REPO_ID, SAFETENSORS), str)


def test_an_unreachable_hub_falls_back_at_once_saying_why(
    online, tiny_clip_config, tmp_path, monkeypatch
):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    embedder = resolve_embedder(tiny_params(tiny_clip_config, tmp_path, connect_timeout=2.0))
    assert time.perf_counter() - start < 10
    assert embedder.backend == "fallback:thumbnail"
    assert "could not be reached" in embedder.reason and "curator weights pull" in embedder.reason


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "download: never"])
def test_offline_means_no_request_and_the_fallback(
    how, online, tiny_clip_config, tiny_weights, tmp_path, monkeypatch
):
    with stand_in_hub({(REPO_ID, SAFETENSORS): tiny_weights}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        if how == "HF_HUB_OFFLINE":
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")
            monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
            params = tiny_params(tiny_clip_config, tmp_path)
        else:
            params = tiny_params(tiny_clip_config, tmp_path, download="never")
        embedder = resolve_embedder(params)
    assert hub.requests == []
    assert embedder.backend == "fallback:thumbnail"
    expected = "HF_HUB_OFFLINE is set" if how == "HF_HUB_OFFLINE" else "embed.download is 'never'"
    assert expected in embedder.reason


def test_a_proxy_from_the_environment_carries_the_download(
    online, tiny_clip_config, tiny_weights, tmp_path, monkeypatch
):
    import huggingface_hub

    with stand_in_hub({(REPO_ID, SAFETENSORS): tiny_weights}) as hub, forward_proxy() as proxy:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        huggingface_hub.close_session()
        embedder = resolve_embedder(tiny_params(tiny_clip_config, tmp_path))
    assert embedder.weights_sha256 == hashlib.sha256(tiny_weights).hexdigest()
    assert any(r.startswith(f"GET {hub.url}/{REPO_ID}/resolve/") for r in proxy.requests)


def test_weights_pull_fetches_ahead_of_time_then_embed_runs_offline(
    online, tiny_clip_config, tiny_weights, tmp_path, monkeypatch
):
    import yaml

    params_file = tmp_path / "params.yaml"
    params_file.write_text(
        yaml.safe_dump(
            {
                "embed": {
                    "model": "curator-tiny",
                    "model_config": str(tiny_clip_config),
                    "pretrained": f"hf-hub:{REPO_ID}",
                }
            }
        )
    )
    with stand_in_hub({(REPO_ID, SAFETENSORS): tiny_weights}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        result = CliRunner().invoke(cli, ["weights", "pull", "--params", str(params_file)])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(tiny_weights).hexdigest()
    assert f"sha256 {digest}; downloaded from {hub.url}" in result.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is gone and the network forbidden
    embedder = resolve_embedder(tiny_params(tiny_clip_config, tmp_path))
    assert embedder.weights_source == "local cache" and embedder.weights_sha256 == digest
    failed = CliRunner().invoke(
        cli, ["weights", "pull", "--pretrained", "hf-hub:x/absent", "--params", str(params_file)]
    )
    assert failed.exit_code == 3
    assert "Error: weights pull: " in failed.output and "HF_HUB_OFFLINE is set" in failed.output
