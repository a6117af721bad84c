import numpy as np
import pytest

from curator.errors import ConfigError
from curator.features.embeddings import embed_open_clip, resolve_embedder, thumbnail_descriptor
from curator.params import EmbedParams
from curator.torch_compat import import_open_clip
from tests.conftest import write_image


def tiny(config, **kw) -> EmbedParams:
    return EmbedParams(
        model="curator-tiny",
        model_config=str(config),
        pretrained="random-init",
        num_workers=0,
        batch_size=4,
        device="cpu",
        **kw,
    )


@pytest.fixture
def images(tmp_path):
    return [write_image(tmp_path / f"{i}.png", seed=i, size=(40, 30)) for i in range(6)]


def test_random_init_open_clip_is_normalised_and_deterministic(tiny_clip_config, images):
    params = tiny(tiny_clip_config)
    embedder = resolve_embedder(params)
    assert embedder.backend == "open_clip" and embedder.weights == "random-init"
    a, facts = embed_open_clip(embedder, images, params, 10**8, progress=False)
    b, _ = embed_open_clip(embedder, images, params, 10**8, progress=False)
    assert a.shape == (6, 32) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert (facts["device"], facts["precision"]) == ("cpu", "fp32")
    assert facts["images_per_second"] > 0


def test_checkpoint_file_is_loaded_exactly(tiny_clip_config, images, tmp_path):
    import torch
    from safetensors.torch import save_file

    open_clip = import_open_clip()
    open_clip.add_model_config(tiny_clip_config)
    torch.manual_seed(123)
    model, _, preprocess = open_clip.create_model_and_transforms("curator-tiny")
    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    params = tiny(tiny_clip_config, checkpoint=str(ckpt))
    embedder = resolve_embedder(params)
    assert embedder.weights == str(ckpt) and len(embedder.weights_sha256) == 64
    got, _ = embed_open_clip(embedder, images, params, 10**8, progress=False)
    from PIL import Image

    with torch.no_grad():
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in images])
        want = torch.nn.functional.normalize(model.eval().encode_image(batch), dim=-1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    other = resolve_embedder(tiny(tiny_clip_config))
    assert other.key != embedder.key  # different weights, different cache


def test_missing_pretrained_weights_fall_back_with_a_reason():
    embedder = resolve_embedder(EmbedParams(model="ViT-B-32", pretrained="laion2b_s34b_b79k"))
    assert embedder.backend == "fallback:thumbnail"
    assert (
        "ViT-B-32/laion2b_s34b_b79k weights are not in the local caches and HF_HUB_OFFLINE is set"
        in embedder.reason
    )
    assert "curator weights pull" in embedder.reason and "embed.checkpoint" in embedder.reason
    assert embedder.record()["fallback_reason"] == embedder.reason


def test_bad_tag_and_missing_checkpoint_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="'nonsense' is not a pretrained tag of ViT-B-32"):
        resolve_embedder(EmbedParams(pretrained="nonsense"))
    with pytest.raises(ConfigError, match=r"embed.checkpoint .* does not exist"):
        resolve_embedder(EmbedParams(checkpoint=str(tmp_path / "nope.pt")))


def test_thumbnail_ignores_brightness_but_not_content():
    from PIL import ImageEnhance

    from tests.conftest import smooth_image

    img = smooth_image(0, 64)
    brighter = ImageEnhance.Brightness(img).enhance(1.1)
    a, b = thumbnail_descriptor(img, 16), thumbnail_descriptor(brighter, 16)
    c = thumbnail_descriptor(smooth_image(5, 64), 16)
    assert a @ b > 0.99 and a @ c < 0.8


def bad_checkpoint(kind: str, folder, config) -> str:
    """A file that is not a curator-tiny state dict, of each kind users hand in by mistake."""
    import os

    import torch
    from safetensors.torch import save_file

    path = folder / {"random": "w.pt", "half": "w.safetensors", "other": "w.pt"}.get(kind, "w")
    if kind == "random":
        path.write_bytes(os.urandom(5000))
    elif kind == "half":
        open_clip = import_open_clip()
        open_clip.add_model_config(config)
        state = open_clip.create_model("curator-tiny").state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "other":
        torch.save({"encoder.weight": torch.zeros(3)}, path)
    else:
        path.mkdir()
    return str(path)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("random", "torch cannot read it as a state dict (a truncated, corrupt or non-torch file)"),
        ("half", "it is not a complete safetensors file (Error while deserializing header"),
        ("other", "its tensors are not curator-tiny's (keys it needs are missing, e.g. \""),
        ("folder", "is a folder; point it at the weights file inside"),
    ],
)
def test_a_bad_checkpoint_is_one_line_with_the_file_and_the_fix(
    kind, why, tiny_clip_config, images, tmp_path
):
    from click.testing import CliRunner

    from curator.cli import cli

    path = bad_checkpoint(kind, tmp_path, tiny_clip_config)
    params = tmp_path / "params.yaml"
    params.write_text(
        f"embed:\n  model: curator-tiny\n  model_config: {tiny_clip_config}\n"
        f"  checkpoint: {path}\n  num_workers: 0\n  device: cpu\n"
    )
    data = images[0].parent
    (data / "images" / "train" / "a").mkdir(parents=True)
    for image in images:
        image.rename(data / "images" / "train" / "a" / image.name)
    audits = tmp_path / "audits"
    args = ["--data", str(data), "--audits", str(audits), "--params", str(params)]
    assert CliRunner().invoke(cli, ["ingest", *args]).exit_code == 0
    result = CliRunner().invoke(cli, ["embed", *args])
    assert result.exit_code == 4, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and path in line and why in line
    if kind != "folder":
        assert line.endswith(
            "point embed.checkpoint at a state dict saved from open_clip model 'curator-tiny' "
            "(or set embed.model to the architecture it was saved from)."
        )
