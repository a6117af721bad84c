"""Duplicates and split leakage.

Three kinds of twins, each pair with its evidence:
* exact bytes: files with the same sample_id (SHA-256 of the bytes);
* exact pixels: different bytes that decode to the same pixels;
* near: candidates among each image's ``hash_knn_k`` nearest images by pHash, dHash, wHash
  (Hamming, kept within each hash's radius) and its ``knn_k`` nearest by the embedding (cosine,
  kept above its minimum), so each image proposes a bounded number however alike the images
  are; every image's ``background_k`` nearest by the embedding are scored too, as the yardstick.
  Each pair is scored by its registered edge correlation (features/edges.py: hashes and global
  descriptors alone cannot tell two similar pictures from two copies of one) and accepted when
  its distance is at most ``max_distance_ratio`` of the distance to either image's nearest
  other image (checks/same_photo.py).
Edited copies of ``calibration_copies`` of the user's own images, scored the same way against
their source's neighbours, measure how many copies that decision finds (by edit); a power law
of the images' nearest/second-nearest ratios (checks/same_photo.py, NullModel) estimates how
many accepted pairs are different pictures.
Twins are grouped into clusters (connected components) with a suggested keeper. Clusters whose
members carry different labels or different values of a metadata column named in
``conflict_attributes``, and val/test images with a twin in train (or test images with a twin
in val), are flagged; twins within one split are found too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curator.checks.base import CheckInputs, CheckResult, make_flags, require_subgroups
from curator.checks.same_photo import (
    MIN_FIT,
    STRICT_RATIO,
    NullModel,
    choose_ratio,
    fit_null,
    nearest_ratios,
    pair_ratios,
    twin_groups,
)
from curator.errors import MissingArtifactError
from curator.features.edges import registered_correlation
from curator.features.edits import CALIBRATION_EDITS
from curator.features.hashes import HASH_KINDS, MIRROR_KIND, hamming
from curator.features.neighbors import cosine_pairs, hamming_pairs
from curator.io.sources import UNKNOWN, known_values
from curator.params import DuplicatesParams

NEAR_METHODS = (*HASH_KINDS, "mirror", "embedding", "background")
LOSSLESS = {"PNG", "BMP", "TIFF", "WEBP", "GIF"}
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
# each image's this many nearest candidates (by the coarse score) are scored at full size and
# decided on: its twin, its yardstick, and room for a cluster of copies
REFINED_PER_IMAGE = 4
# the planted copies' recall is also reported at these ratios, to show what a threshold buys
RATIO_STEPS = (0.1, 0.2, 0.3, 0.4, 0.5)
COSINE_BLOCK = 16_384  # candidate pairs whose vectors are gathered at once


@dataclass(frozen=True)
class Pictures:
    """The contents as the near-duplicate decision sees them. Row k of every array is content
    ``ids[k]``; exact copies (same pixels) share a ``picture``; ``involved`` lists the
    candidates' contents (sorted) whose edge ``maps`` were loaded, in that order; ``scored``
    holds one row per pair of pictures with a full-size score (a, b, corr, ratio)."""

    ids: list[str]
    picture: np.ndarray
    aspect: np.ndarray  # width / height
    involved: np.ndarray
    maps: np.ndarray
    scored: pd.DataFrame


@dataclass(frozen=True)
class Twins:
    """The accepted file pairs and what follows from them."""

    pairs: pd.DataFrame  # one row per file pair, surest first
    members: pd.DataFrame  # every file with a twin, with its cluster_id
    keepers: pd.Series  # cluster_id -> the path suggested to keep
    conflicts: dict[str, set]  # column (label or a conflict attribute) -> clusters that disagree
    leaks: pd.DataFrame  # held-out files with a twin in an earlier split


def candidate_pairs(hashes: pd.DataFrame, vectors: np.ndarray, p: DuplicatesParams) -> tuple:
    """Content-index pairs found by any method, with which methods fired and the index used."""
    found, indexes = [], {}
    for kind in HASH_KINDS:
        codes = hashes[kind].to_numpy(np.uint64)
        radius = getattr(p, f"max_{kind}_distance")
        pairs = hamming_pairs(codes, p.hash_knn_k, radius, p.ivf_min_size, p.nprobe, p.seed)
        found.append(pd.DataFrame({"i": pairs.i, "j": pairs.j, "method": kind}))
        indexes[kind] = pairs.index
    # mirrored copies: each image's mirrored dHash against the others' dHash
    dhash = hashes["dhash"].to_numpy(np.uint64)
    mirrored = hashes[MIRROR_KIND].to_numpy(np.uint64)
    pairs = hamming_pairs(
        dhash, p.hash_knn_k, p.max_dhash_distance, p.ivf_min_size, p.nprobe, p.seed, mirrored
    )
    found.append(pd.DataFrame({"i": pairs.i, "j": pairs.j, "method": "mirror"}))
    indexes["mirror"] = pairs.index
    pairs = cosine_pairs(
        vectors,
        p.knn_k,
        p.min_cosine_similarity,
        p.ivf_min_size,
        p.nprobe,
        p.seed,
        always=p.background_k,
    )
    similar = pairs.value >= p.min_cosine_similarity
    method = np.where(similar, "embedding", "background")
    found.append(pd.DataFrame({"i": pairs.i, "j": pairs.j, "method": method}))
    indexes["embedding"] = pairs.index
    allp = pd.concat(found, ignore_index=True)
    # one bit per method: a pair's methods are the OR (here the sum) of its rows' bits
    bit = allp["method"].map({m: 1 << k for k, m in enumerate(NEAR_METHODS)})
    mask = allp.assign(bit=bit).groupby(["i", "j"], sort=True)["bit"].sum()
    names = {
        b: ",".join(sorted(m for k, m in enumerate(NEAR_METHODS) if b >> k & 1))
        for b in np.unique(mask.to_numpy())
    }
    return mask.map(names).rename("methods").reset_index(), indexes


def pair_evidence(cand: pd.DataFrame, hashes: pd.DataFrame, vectors: np.ndarray) -> pd.DataFrame:
    """Every method's distance for every candidate, whichever method proposed it."""
    i, j = cand["i"].to_numpy(), cand["j"].to_numpy()
    for kind in HASH_KINDS:
        codes = hashes[kind].to_numpy(np.uint64)
        cand[f"{kind}_distance"] = hamming(codes[i], codes[j]) if len(i) else []
    dhash, mirrored = hashes["dhash"].to_numpy(np.uint64), hashes[MIRROR_KIND].to_numpy(np.uint64)
    cand["mirror_distance"] = (
        np.minimum(hamming(mirrored[i], dhash[j]), hamming(dhash[i], mirrored[j])) if len(i) else []
    )
    cand["cosine"] = _cosines(vectors, i, j)
    return cand


def _cosines(vectors: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Inner products of vectors[i[k]] and vectors[j[k]], a block of pairs at a time (both
    sides of all 276,430 CIFAR candidates at once took 566 MB, the stage's peak)."""
    out = np.empty(len(i), np.float32)
    for start in range(0, len(i), COSINE_BLOCK):
        block = slice(start, start + COSINE_BLOCK)
        out[block] = np.einsum("ij,ij->i", vectors[i[block]], vectors[j[block]])
    return out


def _contents(manifest: pd.DataFrame) -> pd.DataFrame:
    readable = manifest[manifest["readable"]]
    return readable.assign(
        split_rank=readable["split"].map(SPLIT_ORDER).fillna(len(SPLIT_ORDER)),
        pixels=readable["width"].astype(int) * readable["height"].astype(int),
        lossless=readable["format"].isin(LOSSLESS),
    )


def _keeper(group: pd.DataFrame) -> str:
    """The copy to keep: in train if any (twins leave the evaluation splits), then the largest
    image, then lossless, then the larger file, then the first path."""
    order = ["split_rank", "pixels", "lossless", "bytes", "path"]
    ranked = group.sort_values(order, ascending=[True, False, False, False, True])
    return ranked["path"].iloc[0]


def _path_pairs(content_pairs: pd.DataFrame, files: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Expand content pairs to path pairs; exact-byte copies pair with their group's first path."""
    by_sid = files.groupby("sample_id")["path"].apply(sorted)
    rows = []
    for sid, paths in by_sid.items():
        for other in paths[1:]:
            rows.append(
                {
                    "path_a": paths[0],
                    "path_b": other,
                    "kind": "exact_bytes",
                    "score": 1.0,
                    "sid_a": sid,
                    "sid_b": sid,
                }
            )
    for r in content_pairs.itertuples():
        sa, sb = ids[r.i], ids[r.j]
        for pa in by_sid[sa]:
            for pb in by_sid[sb]:
                rows.append(
                    {
                        "path_a": pa,
                        "path_b": pb,
                        "kind": r.kind,
                        "score": r.score,
                        "sid_a": sa,
                        "sid_b": sb,
                        "methods": r.methods,
                        **{f"{k}_distance": getattr(r, f"{k}_distance") for k in HASH_KINDS},
                        "mirror_distance": r.mirror_distance,
                        "cosine": r.cosine,
                        "edge_correlation": r.edge_correlation,
                        "mirrored": r.mirrored,
                        "distance_ratio": r.distance_ratio,
                    }
                )
    return pd.DataFrame(rows)


def _leaks(pairs: pd.DataFrame) -> pd.DataFrame:
    """Val/test paths with a train twin, and test paths with a val twin (one row per twin)."""
    rows = []
    for r in pairs.itertuples():
        if r.split_a == r.split_b:
            continue
        (held, hs), (twin, ts) = sorted(
            ((r.path_a, r.split_a), (r.path_b, r.split_b)), key=lambda x: -SPLIT_ORDER.get(x[1], 3)
        )
        rows.append(
            {
                "path": held,
                "split": hs,
                "twin_path": twin,
                "twin_split": ts,
                "kind": r.kind,
                "score": r.score,
                "sample_id": r.sid_a if held == r.path_a else r.sid_b,
            }
        )
    cols = ["path", "split", "twin_path", "twin_split", "kind", "score", "sample_id"]
    return pd.DataFrame(rows, columns=cols).drop_duplicates(["path", "twin_path"])


def _describe(r: Any, other: str) -> str:
    if r.kind == "exact_bytes":
        return f"same bytes as {other}"
    if r.kind == "exact_pixels":
        return f"same pixels as {other} (different file bytes)"
    return (
        f"{'mirrored ' if r.mirrored else ''}near-duplicate of {other} (pHash "
        f"{r.phash_distance}, dHash {r.dhash_distance}, mirrored dHash {r.mirror_distance}, "
        f"wHash {r.whash_distance}, cosine {r.cosine:.3f}, edge corr {r.edge_correlation:.3f}, "
        f"{r.distance_ratio:.2f} of the distance to the nearest other image)"
    )


def run(inputs: CheckInputs, params: DuplicatesParams) -> CheckResult:
    assert inputs.hashes is not None and inputs.embeddings is not None  # run_check saw to it
    assert inputs.load_edge_maps is not None and inputs.plant_copies is not None
    require_subgroups(inputs.manifest, params.conflict_attributes, "duplicates.conflict_attributes")
    files = _contents(inputs.manifest)
    ids, vectors = inputs.embeddings
    if MIRROR_KIND not in inputs.hashes.columns:
        raise MissingArtifactError(
            f"hashes.parquet has no {MIRROR_KIND} column (written before mirrored copies were "
            "searched for): run `curator hash` again (or `dvc repro`)"
        )
    hashes = inputs.hashes.set_index("sample_id").loc[ids].reset_index()
    cand, indexes = candidate_pairs(hashes, vectors, params)
    cand = pair_evidence(cand, hashes, vectors)
    content = files.drop_duplicates("sample_id").set_index("sample_id").loc[ids]
    # exact copies (same pixels, different bytes) are one picture to the decision
    _, picture = np.unique(content["pixel_sha256"].to_numpy(), return_inverse=True)
    aspect = (content["width"] / content["height"]).to_numpy(float)
    i, j = cand["i"].to_numpy(), cand["j"].to_numpy()
    same_pixels = picture[i] == picture[j]
    involved = np.unique(np.r_[i, j])
    maps = inputs.load_edge_maps([ids[k] for k in involved]) if len(involved) else None
    cand["edge_correlation"], cand["mirrored"] = (
        _edge_correlations(maps, involved, i, j, aspect, cand["methods"].str.contains("mirror"))
        if maps is not None
        else (np.zeros(0, np.float32), np.zeros(0, bool))
    )
    scored, ratio = _picture_pairs(cand, picture, same_pixels)
    cand["distance_ratio"] = ratio
    null = _null_model(scored, picture)
    used, why = choose_ratio(
        null, scored["ratio"].to_numpy(), params.max_distance_ratio, params.min_precision
    )
    accepted = same_pixels | (ratio <= used)
    cand["kind"] = np.where(same_pixels, "exact_pixels", "near")
    cand["score"] = np.where(same_pixels, 1.0, np.clip(1.0 - ratio, 0.0, 1.0))
    kept = cand[accepted].reset_index(drop=True)
    twins = _twins(_path_pairs(kept, files, ids), files, params.conflict_attributes)
    calibration = (
        _calibrate(
            inputs.plant_copies,
            Pictures(ids, picture, aspect, involved, maps, scored),
            params,
            null,
            used,
        )
        if maps is not None
        else {"n_copies": 0}
    )
    summary = _summary(files, kept, cand, indexes, twins) | {
        "knn_k": {
            "hashes": params.hash_knn_k,
            "embedding": params.knn_k,
            "background": params.background_k,
        },
        # the bound: every image proposes at most this many (it may be proposed by more)
        "max_proposals_per_image": 4 * params.hash_knn_k + max(params.knn_k, params.background_k),
        # the ratio in use, chosen on the images' own null model (checks/same_photo.py)
        "max_distance_ratio": used,
        "distance_ratio_choice": {
            "max_allowed": params.max_distance_ratio,
            "min_precision": params.min_precision,
            "stopped": why,
        },
        "calibration": calibration,
    }
    return CheckResult(
        "duplicates",
        _flags(twins),
        summary,
        _metrics(summary),
        vars(params),
        tables={
            "pairs": twins.pairs.rename(columns={"sid_a": "sample_id_a", "sid_b": "sample_id_b"}),
            "leakage": twins.leaks,
        },
    )


def _edge_correlations(
    maps: np.ndarray,
    involved: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    aspect: np.ndarray,
    mirror: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(each candidate's registered edge correlation, whether it is of j mirrored): pairs the
    mirrored dHash proposed are scored with j's map mirrored too (an edge map of a mirrored
    image is the mirrored edge map), and keep the better of the two."""
    a, b = np.searchsorted(involved, i), np.searchsorted(involved, j)
    corr = registered_correlation(maps, a, b, REFINED_PER_IMAGE, aspect[involved])
    flipped = np.zeros(len(i), bool)
    if mirror.any():
        rows = np.flatnonzero(mirror)
        # only the maps these pairs need (a copy of all of them cost 200 MB on CIFAR-10)
        left, at_left = np.unique(a[rows], return_inverse=True)
        right, at_right = np.unique(b[rows], return_inverse=True)
        stack = np.concatenate([maps[left], maps[right][:, :, ::-1]])
        aspects = aspect[involved][np.r_[left, right]]
        mirrored = registered_correlation(
            stack, at_left, len(left) + at_right, REFINED_PER_IMAGE, aspects
        )
        better = mirrored > np.nan_to_num(corr[rows], nan=-np.inf)
        corr[rows[better]] = mirrored[better]
        flipped[rows[better]] = True
    return corr, flipped


def _picture_pairs(
    cand: pd.DataFrame, picture: np.ndarray, same_pixels: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per pair of pictures (exact copies merged) with a full-size score: its best
    correlation and ratio (checks/same_photo.py); and each candidate's ratio (0 for exact
    copies, inf for pairs without a full-size score)."""
    a, b = picture[cand["i"].to_numpy()], picture[cand["j"].to_numpy()]
    frame = pd.DataFrame(
        {"a": np.minimum(a, b), "b": np.maximum(a, b), "corr": cand["edge_correlation"]}
    )
    scored = frame["corr"].notna().to_numpy() & ~same_pixels
    best = frame[scored].groupby(["a", "b"], sort=True)["corr"].max().reset_index()
    best["ratio"] = pair_ratios(best["a"].to_numpy(), best["b"].to_numpy(), best["corr"])
    ratio = frame[["a", "b"]].merge(best, on=["a", "b"], how="left")["ratio"].to_numpy()
    return best, np.where(same_pixels, 0.0, np.where(scored, ratio, np.inf))


def _null_model(scored: pd.DataFrame, picture: np.ndarray) -> NullModel | None:
    """The null model of how close different pictures come, fitted to the scored pairs, with
    the pictures grouped by their twins at STRICT_RATIO (a photo and its copies are one
    neighbour)."""
    if scored.empty:
        return None
    a, b = scored["a"].to_numpy(), scored["b"].to_numpy()
    strict = scored["ratio"].to_numpy() <= STRICT_RATIO
    twins = twin_groups(picture.max() + 1, a[strict], b[strict])
    return fit_null(nearest_ratios(a, b, scored["corr"].to_numpy(), twins))


def _calibrate(
    plant, pics: Pictures, params: DuplicatesParams, null: NullModel | None, used: float
) -> dict:
    """How many edited copies of the user's own images the decision (at the ratio ``used``)
    finds, per edit, and at other ratios (with how many real pairs each would accept, and how
    many of those are different pictures by the null model fitted to the same images)."""
    if params.calibration_copies == 0:
        return {"n_copies": 0}
    scored = pics.scored
    ratio, edits = _planted_copy_ratios(plant, pics, params)
    found = ratio <= used
    names = pd.Series(edits)
    by_edit = {}
    for edit in CALIBRATION_EDITS:
        has = names.str.split("+").apply(lambda e, x=edit: x in e).to_numpy()
        if has.any():
            by_edit[edit] = {"n": int(has.sum()), "recall": float(found[has].mean())}
    steps = [
        {
            "max_distance_ratio": r,
            "recall": float((ratio <= r).mean()),
            **_precision(null, r, int((scored["ratio"] <= r).sum())),
        }
        for r in sorted({*RATIO_STEPS, used})
    ]
    here = next(x for x in steps if x["max_distance_ratio"] == used)
    no_model = f"fewer than {MIN_FIT} images to fit the model of how close different pictures come"
    return {
        "n_copies": len(ratio),
        "edits": list(CALIBRATION_EDITS),
        "recall": float(found.mean()),
        "recall_by_edit": by_edit,
        "precision": here["precision"],
        # why there is no precision estimate (None when there is one)
        "precision_not_estimated": None
        if here["precision"] is not None
        else (no_model if null is None else "no near pair was accepted, so none can be wrong"),
        "null_model": (
            {"dimension": null.dimension, "n_images": null.n_images, "n_fit": null.n_fit}
            if null
            else {"not_estimated": no_model}
        ),
        "at_ratio": steps,
    }


def _precision(null: NullModel | None, max_ratio: float, n_pairs: int) -> dict:
    """Near pairs accepted at ``max_ratio``, how many the null model expects to be different
    pictures, and the share correct that leaves (None without a model or a pair)."""
    if null is None:
        return {"n_pairs": n_pairs, "expected_false_pairs": None, "precision": None}
    false = min(null.false_pairs(max_ratio), n_pairs)
    return {
        "n_pairs": n_pairs,
        "expected_false_pairs": false,
        "precision": 1.0 - false / n_pairs if n_pairs else None,
    }


def _planted_copy_ratios(plant, pics: Pictures, params: DuplicatesParams) -> tuple:
    """(ratio of each copy with its source, its edits): an edited copy of each of a seeded
    sample of pictures, scored against its source and the source's scored neighbours, then
    decided as a new image among all the real pairs."""
    picture, involved, scored = pics.picture, pics.involved, pics.scored
    # one loaded content per picture (exact copies are one picture)
    content_of = pd.Series(involved, index=picture[involved]).groupby(level=0).first()
    n_copies = min(params.calibration_copies, len(content_of))
    rng = np.random.default_rng(params.seed)
    sources = np.sort(rng.choice(content_of.to_numpy(), size=n_copies, replace=False))
    copy_maps, copy_aspects, edits = plant([pics.ids[k] for k in sources], params.seed)
    both = pd.concat(
        [scored[["a", "b"]], scored[["b", "a"]].set_axis(["a", "b"], axis=1)], ignore_index=True
    )
    mine = both[both["a"].isin(picture[sources])]
    copy_of = pd.Series(np.arange(n_copies), index=picture[sources])
    copy_i = np.r_[np.arange(n_copies), mine["a"].map(copy_of).to_numpy()]
    other = np.r_[sources, content_of.loc[mine["b"]].to_numpy()]
    needed, where = np.unique(other, return_inverse=True)
    stack = np.concatenate([copy_maps, pics.maps[np.searchsorted(involved, needed)]])
    aspects = np.r_[copy_aspects, pics.aspect[needed]]
    corr = registered_correlation(stack, copy_i, n_copies + where, REFINED_PER_IMAGE, aspects)
    # each copy against its source mirrored too, as a pair the mirrored dHash proposed is
    source = n_copies + where[:n_copies]
    flipped = registered_correlation(
        np.concatenate([stack, stack[source][:, :, ::-1]]),
        np.arange(n_copies),
        len(stack) + np.arange(n_copies),
        REFINED_PER_IMAGE,
        np.r_[aspects, aspects[source]],
    )
    corr[:n_copies] = np.fmax(corr[:n_copies], flipped)
    # the copies join the real pictures as new images, numbered after them
    i = np.r_[scored["a"].to_numpy(), picture.max() + 1 + copy_i]
    j = np.r_[scored["b"].to_numpy(), picture[other]]
    c = np.r_[scored["corr"].to_numpy(), corr]
    keep = ~np.isnan(c)
    ratio = np.full(len(c), np.inf)
    ratio[keep] = pair_ratios(i[keep], j[keep], c[keep])
    return ratio[len(scored) : len(scored) + n_copies], edits


def _clusters(pairs: pd.DataFrame) -> pd.Series:
    """path -> cluster id (0..k-1, ordered by first path), for paths that have a twin."""
    paths = sorted(set(pairs["path_a"]) | set(pairs["path_b"]))
    pos = {p: k for k, p in enumerate(paths)}
    a = pairs["path_a"].map(pos).to_numpy()
    b = pairs["path_b"].map(pos).to_numpy()
    return pd.Series(twin_groups(len(paths), a, b), index=paths, name="cluster_id")


def _values(members: pd.DataFrame, column: str) -> pd.Series:
    """A column as compared between copies: text, a missing value <NA> (unknown, so it agrees
    and disagrees with nothing)."""
    return known_values(members[column])


def _conflicts(members: pd.DataFrame, attributes: tuple[str, ...]) -> dict[str, set]:
    """column -> ids of the clusters whose members carry two or more known values of it (the
    label first); a copy whose value is unknown is no conflict."""
    out = {}
    for column in ("label", *attributes):
        values = _values(members, column)
        n = values.groupby(members["cluster_id"]).nunique()  # <NA> is not counted
        out[column] = set(n[n > 1].index)
    return out


def _twins(pairs: pd.DataFrame, files: pd.DataFrame, attributes: tuple[str, ...]) -> Twins:
    """Clusters, keepers, conflicts on the label and ``attributes``, and leaks, of file pairs."""
    info = files.set_index("path")
    if pairs.empty:
        pairs = pd.DataFrame(columns=["path_a", "path_b", "kind", "score", "sid_a", "sid_b"])
    for side in ("a", "b"):
        pairs[f"split_{side}"] = pairs[f"path_{side}"].map(info["split"])
        pairs[f"label_{side}"] = pairs[f"path_{side}"].map(info["label"])
    cluster = _clusters(pairs) if len(pairs) else pd.Series(dtype=int)
    pairs["cluster_id"] = pairs["path_a"].map(cluster)
    pairs["cross_split"] = pairs["split_a"] != pairs["split_b"]
    members = info.loc[cluster.index].assign(cluster_id=cluster.values).reset_index()
    keepers = members.groupby("cluster_id").apply(_keeper, include_groups=False)
    conflicts = _conflicts(members, attributes)
    pairs["label_conflict"] = pairs["cluster_id"].isin(conflicts["label"])
    pairs = pairs.sort_values(
        ["score", "path_a", "path_b"], ascending=[False, True, True], ignore_index=True
    )
    return Twins(pairs, members, keepers, conflicts, _leaks(pairs))


def _flags(twins: Twins) -> pd.DataFrame:
    pairs, members, keepers = twins.pairs, twins.members, twins.keepers
    rows = []
    best: dict[str, tuple] = {}  # path -> (score, ...) of its surest twin
    for r in pairs.itertuples():
        for me, other in ((r.path_a, r.path_b), (r.path_b, r.path_a)):
            if me != keepers[r.cluster_id] and r.score >= best.get(me, (-1, ""))[0]:
                best[me] = (
                    r.score,
                    f"{_describe(r, other)}; suggested keeper {keepers[r.cluster_id]}",
                )
    sid = members.set_index("path")["sample_id"]
    rows += [
        {"sample_id": sid[p], "path": p, "issue": "duplicate", "score": s, "detail": d}
        for p, (s, d) in best.items()
    ]
    surest = twins.leaks.sort_values("score", ascending=False).drop_duplicates("path")
    for r in surest.itertuples():
        rows.append(
            {
                "sample_id": r.sample_id,
                "path": r.path,
                "issue": "leak",
                "score": r.score,
                "detail": f"{r.split} image has a {r.twin_split} twin {r.twin_path} "
                f"({r.kind.replace('_', ' ')})",
            }
        )
    rows += _conflict_flags(members, twins.conflicts)
    return make_flags(rows)


_CLUSTER_LISTING = re.compile(r"\(cluster [^:]+: (.*)\)$")


def cluster_members(detail: str) -> set[str]:
    """The paths a conflict finding's detail lists (as _conflict_flags writes it): what the
    review queue records as the twins a reviewer saw."""
    listing = _CLUSTER_LISTING.search(detail)
    if listing is None:
        return set()
    return {item.rsplit(": ", 1)[0] for item in listing[1].split("; ")}


def _conflict_flags(members: pd.DataFrame, conflicts: dict[str, set]) -> list[dict]:
    """One row per member of a cluster that disagrees on the label (one copy is mislabelled:
    the share of copies that disagree with this one is, from the copies alone, the chance that
    this label is the wrong one) or on a metadata column (every member's value shown)."""
    rows = []
    for column, clusters in conflicts.items():
        issue = "duplicate_label_conflict" if column == "label" else "duplicate_attribute_conflict"
        for cid in sorted(clusters):
            group = members[members["cluster_id"] == cid]
            values = _values(group, column)
            shown = "; ".join(
                f"{p}: {UNKNOWN if pd.isna(v) else v}"
                for p, v in zip(group["path"], values, strict=True)
            )
            for m, value in zip(group.itertuples(), values, strict=True):
                if pd.isna(value):
                    continue  # nothing to be wrong about
                rows.append(
                    {
                        "sample_id": m.sample_id,
                        "path": m.path,
                        "issue": issue,
                        "score": float((values.dropna() != value).mean()),
                        "detail": f"{column} {value!r}, but copies of this image disagree on "
                        f"{column} (cluster {cid}: {shown})",
                    }
                )
    return rows


def _summary(
    files: pd.DataFrame, kept: pd.DataFrame, cand: pd.DataFrame, indexes: dict, twins: Twins
) -> dict:
    pairs, leaks, members, conflicts = twins.pairs, twins.leaks, twins.members, twins.conflicts
    per_split = {}
    for split, n in files.groupby("split").size().items():
        mine = leaks[leaks["split"] == split]
        leaked = mine["path"].nunique()
        from_train = mine.loc[mine["twin_split"] == "train", "path"].nunique()
        per_split[str(split)] = {
            "n": int(n),
            "leaked": int(leaked),
            "leaked_pct": 100.0 * leaked / n if n else 0.0,
            # a model sees train only: these leak into its scores; the rest twin only val
            "leaked_from_train": int(from_train),
            "leaked_only_from_other_splits": int(leaked - from_train),
        }
    by_method = {m: int(cand["methods"].str.contains(m).sum()) for m in NEAR_METHODS}
    return {
        "n_images": len(files),
        "n_pairs": len(pairs),
        "n_pairs_by_kind": pairs["kind"].value_counts().to_dict() if len(pairs) else {},
        "n_candidate_pairs": len(cand),
        "n_candidate_pairs_by_method": by_method,
        "n_near_pairs_accepted": int((kept["kind"] == "near").sum()),
        "n_clusters": int(members["cluster_id"].nunique()) if len(members) else 0,
        "n_images_in_clusters": len(members),
        "n_removable": len(members) - (int(members["cluster_id"].nunique()) if len(members) else 0),
        "n_label_conflict_clusters": len(conflicts["label"]),
        "n_conflict_clusters_by_column": {c: len(ids) for c, ids in conflicts.items()},
        "leakage": per_split,
        "n_leaked": int(leaks["path"].nunique()),
        "indexes": indexes,
    }


def _metrics(summary: dict) -> dict:
    """Headline numbers for `dvc metrics` (duplicates.json has the rest)."""
    return {"leaked": summary["n_leaked"]}
