"""Where pretrained CLIP weights come from: the local caches, else the Hugging Face Hub.

Weights are looked up in the Hugging Face cache and open_clip's own cache first. When they are
not there, ``embed.download: auto`` fetches them from the Hub (``HF_ENDPOINT`` or
huggingface.co; proxies from ``HTTPS_PROXY``/``HTTP_PROXY``, as every httpx client reads them),
with a short connect timeout so a machine without network falls back at once rather than
hanging. ``HF_HUB_OFFLINE=1`` or ``embed.download: never`` forbid the network. Every file is
checked against the SHA-256 the Hub publishes for it (the ETag of an LFS file) and its digest is
recorded, so a report can say exactly which weights made the embeddings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from curator.errors import ConfigError, DataError
from curator.torch_compat import import_open_clip

log = logging.getLogger(__name__)

SAFETENSORS, PICKLE = "open_clip_model.safetensors", "open_clip_pytorch_model.bin"
HUB_PREFIX = "hf-hub:"  # embed.pretrained: "hf-hub:org/repo" takes open_clip's files from a repo
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class WeightsSource:
    """A file of weights on the Hub: one repository, candidate file names in order of choice."""

    repo: str
    filenames: tuple[str, ...]
    url: str = ""  # open_clip's direct download address, looked for in ~/.cache/clip

    @property
    def name(self) -> str:
        return f"{self.repo} ({' or '.join(self.filenames)})"


@dataclass(frozen=True)
class Weights:
    """Weights on disk (path and SHA-256), or why there are none."""

    path: Path | None
    sha256: str | None
    how: str  # "local cache", "downloaded from <endpoint>", or why not found

    @property
    def found(self) -> bool:
        return self.path is not None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_source(model: str, tag: str) -> WeightsSource:
    """The Hub file(s) holding ``tag`` weights of ``model`` (open_clip's pretrained table)."""
    if tag.startswith(HUB_PREFIX):
        return WeightsSource(tag.removeprefix(HUB_PREFIX).strip("/"), (SAFETENSORS, PICKLE))
    open_clip = import_open_clip()
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise ConfigError(
            f"params: embed.pretrained {tag!r} is not a pretrained tag of {model} (known: "
            f"{known}; or 'hf-hub:<org>/<repo>', or embed.checkpoint for a local file)."
        )
    hub_path = cfg.get("hf_hub", "")  # "org/repo/" means open_clip's default file names
    repo, filename = os.path.split(hub_path) if hub_path else ("", "")
    if filename:
        names: tuple[str, ...] = (filename,)
        if filename.endswith((".bin", ".pth")):
            names = (filename[:-4] + ".safetensors", filename)
    else:
        names = (SAFETENSORS, PICKLE)
    return WeightsSource(repo, names, cfg.get("url", ""))


def find_local(source: WeightsSource) -> Path | None:
    """The weights if a cache already holds them (nothing is fetched)."""
    from huggingface_hub import try_to_load_from_cache

    if source.repo:
        for name in source.filenames:
            found = try_to_load_from_cache(source.repo, name)
            if isinstance(found, str):
                return Path(found)
    if source.url:
        candidate = Path("~/.cache/clip").expanduser() / os.path.basename(source.url)
        if candidate.is_file():
            return candidate
    return None


def offline_reason() -> str | None:
    """Why the network must not be used, or None. Read at call time, not at import."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    return None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def download(source: WeightsSource, connect_timeout: float) -> Weights:
    """Fetch the first file of ``source`` the Hub has, verify its SHA-256, cache it.

    Raises nothing for a network failure (the caller falls back and says why); a file whose
    bytes do not match the Hub's published digest is removed and refused (DataError).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError

    if not source.repo:
        return Weights(None, None, "these weights are not on the Hugging Face Hub")
    hub = endpoint()
    last_error = ""
    for name in source.filenames:
        url = hf_hub_url(source.repo, name, endpoint=hub)
        try:
            meta = get_hf_file_metadata(url, timeout=connect_timeout, endpoint=hub)
        except EntryNotFoundError:
            last_error = f"{name} is not in {source.repo}"
            continue
        except Exception as exc:  # network, DNS, proxy, TLS, HTTP: all mean "not now"
            return Weights(None, None, f"the Hub at {hub} could not be reached ({_short(exc)})")
        log.warning("embed: downloading %s/%s from %s", source.repo, name, hub)
        try:
            path = Path(
                hf_hub_download(source.repo, name, endpoint=hub, etag_timeout=connect_timeout)
            )
        except Exception as exc:
            return Weights(None, None, f"downloading {name} from {hub} failed ({_short(exc)})")
        digest = file_sha256(path)
        published = (meta.etag or "").strip('"').lower()
        if SHA256.match(published) and published != digest:
            _remove_cached(path)
            raise DataError(
                f"embed: {source.repo}/{name} downloaded from {hub} has SHA-256 {digest}, but "
                f"the Hub publishes {published}; the copy was removed. Run it again, or check "
                "the proxy or mirror in between."
            )
        return Weights(path, digest, f"downloaded from {hub}")
    return Weights(None, None, last_error or f"no weights file in {source.repo}")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _remove_cached(path: Path) -> None:
    """Delete a cached file and the blob its snapshot link points to."""
    blob = path.resolve()
    for p in {path, blob}:
        p.unlink(missing_ok=True)


def resolve_weights(model: str, tag: str, download_mode: str, connect_timeout: float) -> Weights:
    """Weights for (model, tag): from a cache, else downloaded when allowed, else why not."""
    source = weights_source(model, tag)
    local = find_local(source)
    if local is not None:
        return Weights(local, file_sha256(local), "local cache")
    where = f"{model}/{tag} weights are not in the local caches"
    if download_mode == "never":
        return Weights(None, None, f"{where} and embed.download is 'never'")
    offline = offline_reason()
    if offline:
        return Weights(None, None, f"{where} and {offline}")
    fetched = download(source, connect_timeout)
    if not fetched.found:
        return Weights(None, None, f"{where}; {fetched.how}")
    return fetched
