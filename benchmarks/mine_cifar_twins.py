"""CIFAR-10 train's own near-duplicates, mined independently of curator, to measure its recall
on twins as people judge them (not only on copies it planted itself).

Usage:
  d=$(mktemp -d) && tar -xzf ../shared/devdata/cifar10n-train/cifar10_train_jpg.tar.gz -C "$d"
  .venv/bin/python benchmarks/mine_cifar_twins.py --data "$d" --keep /tmp/twins mine
  .venv/bin/python benchmarks/mine_cifar_twins.py --data "$d" --keep /tmp/twins sheets
  (look at /tmp/twins/sheets/*.png; write the pairs judged by eye into a verdicts CSV)
  .venv/bin/python benchmarks/mine_cifar_twins.py --data "$d" --keep /tmp/twins \\
      --verdicts benchmarks/cifar_twins_verdicts.csv score [--skip-features]

``mine``: curator's stages run on the 50,000 training photos (ingest, hash, the thumbnail
embedding, duplicates with every scored pair kept, whatever its ratio), and an independent
search proposes pairs of its own: each photo's nearest neighbours by a standardised 16 x 16
grey thumbnail, as it is and mirrored (faiss, exact). Every pair from either side gets an
independent score, the best normalised cross-correlation of the two 32 x 32 grey photos over
shifts of up to 4 pixels, as they are and with one mirrored (``ncc``), and a description of
how the two differ (mirror, shift, mean brightness, colour, a local change such as a caption or
overlay: the share of the difference held by the worst-differing eighth of the image).
``sheets``: contact sheets of every pair the independent score puts above a floor, ordered, in
pages of 48, plus a random sample of those below, to be judged by eye as the same photo
("same"), the same scene a moment apart or re-shot ("scene"), or different ("different").
``score``: curator's recall on the pairs judged the same photo, per kind of difference, and
the pairs it accepts that were judged different.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from curator import artifacts
from curator.params import params_from_dict
from curator.pipeline import render_params_yaml
from curator.stages import duplicates, embed, hash, ingest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared/devdata/cifar10n-train/labels.csv.gz"
MANIFEST = "curator_twins_manifest.csv"
SIDE = 32
MAX_SHIFT = 4
KNN = 6  # independent neighbours per photo, per orientation


def curator_params(work: Path, ratio: float | None, calibrate: bool):
    """The params curator ships (no metadata column), reading the benchmark's manifest;
    ``ratio`` fixes the decision's distance ratio (None: the shipped choice on the null model),
    ``calibrate`` keeps the planted-copy calibration (and its precision estimate)."""
    params = params_from_dict(yaml.safe_load(render_params_yaml()))
    dup = params.duplicates
    if ratio is not None:  # the ratio as given: no precision target stops it
        dup = replace(dup, max_distance_ratio=ratio, min_precision=1e-9)
    if not calibrate:
        dup = replace(dup, calibration_copies=0)
    return replace(
        params,
        ingest=replace(
            params.ingest, layout="manifest", manifest=MANIFEST, metadata=None, annotations=None
        ),
        embed=replace(params.embed, cache_dir=str(work / "cache"), download="never"),
        duplicates=dup,
    )


def grey_stack(data: Path, paths: list[str]) -> np.ndarray:
    out = np.empty((len(paths), SIDE, SIDE), np.float32)
    for k, p in enumerate(paths):
        img = Image.open(data / p).convert("L")
        if img.size != (SIDE, SIDE):
            img = img.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        out[k] = np.asarray(img, np.float32)
    return out


def standardise(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1)
    x = x - x.mean(axis=1, keepdims=True)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def independent_pairs(grey: np.ndarray) -> pd.DataFrame:
    """Each photo's KNN nearest by a standardised 16 x 16 thumbnail, as it is and mirrored."""
    import faiss

    small = grey.reshape(len(grey), SIDE // 2, 2, SIDE // 2, 2).mean(axis=(2, 4))
    base = standardise(small)
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    rows = []
    for query in (base, standardise(small[:, :, ::-1].copy())):
        _, nn = index.search(query, KNN + 1)
        i = np.repeat(np.arange(len(grey)), KNN + 1)
        j = nn.ravel()
        keep = (i != j) & (j >= 0)
        rows.append(pd.DataFrame({"i": np.minimum(i, j)[keep], "j": np.maximum(i, j)[keep]}))
    return pd.concat(rows).drop_duplicates(ignore_index=True)


def shifted_ncc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best correlation of standardised a and b over shifts of up to MAX_SHIFT (zero-padded, so
    linear), and the shift's size, for stacks of pairs."""
    pad = SIDE + MAX_SHIFT
    fa = np.fft.rfft2(standardise(a).reshape(-1, SIDE, SIDE), s=(pad, pad))
    fb = np.fft.rfft2(standardise(b).reshape(-1, SIDE, SIDE), s=(pad, pad))
    corr = np.fft.irfft2(fa * np.conj(fb), s=(pad, pad))
    shifts = np.r_[np.arange(MAX_SHIFT + 1), np.arange(-MAX_SHIFT, 0)]
    window = corr[:, shifts][:, :, shifts].reshape(len(a), -1)
    best = window.argmax(axis=1)
    dy, dx = shifts[best // len(shifts)], shifts[best % len(shifts)]
    return window.max(axis=1), np.hypot(dy, dx)


def describe(data: Path, paths: list[str], pairs: pd.DataFrame, grey: np.ndarray) -> pd.DataFrame:
    """The independent score and what differs, per pair."""
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    out = {k: np.empty(len(i), np.float32) for k in ("ncc", "ncc_mirror", "shift")}
    block = 20_000
    for s in range(0, len(i), block):
        a, b = grey[i[s : s + block]], grey[j[s : s + block]]
        out["ncc"][s : s + block], out["shift"][s : s + block] = shifted_ncc(a, b)
        out["ncc_mirror"][s : s + block], _ = shifted_ncc(a, b[:, :, ::-1])
    frame = pairs.assign(**out)
    frame["mirrored"] = frame["ncc_mirror"] > frame["ncc"] + 0.02
    frame["best_ncc"] = frame[["ncc", "ncc_mirror"]].max(axis=1)
    frame["brightness_change"] = np.abs(grey[i].mean(axis=(1, 2)) - grey[j].mean(axis=(1, 2)))
    return frame


def colour_and_local(data: Path, paths: list[str], frame: pd.DataFrame) -> pd.DataFrame:
    """For the pairs worth looking at: colour change (mean chroma difference after matching
    grey) and how local the difference is (share of the squared difference in the worst
    eighth of 4 x 4 px cells, after the best shift; 1/8 when the difference is spread evenly)."""
    chroma, local = [], []
    for r in frame.itertuples():
        a = np.asarray(Image.open(data / paths[r.i]).convert("RGB"), np.float32)
        b = np.asarray(Image.open(data / paths[r.j]).convert("RGB"), np.float32)
        if r.mirrored:
            b = b[:, ::-1]
        ca = a - a.mean(axis=2, keepdims=True)
        cb = b - b.mean(axis=2, keepdims=True)
        chroma.append(float(np.abs(ca.mean(axis=(0, 1)) - cb.mean(axis=(0, 1))).sum()))
        ga, gb = a.mean(axis=2), b.mean(axis=2)
        ga, gb = (ga - ga.mean()) / (ga.std() + 1e-6), (gb - gb.mean()) / (gb.std() + 1e-6)
        cells = ((ga - gb) ** 2).reshape(8, 4, 8, 4).sum(axis=(1, 3)).ravel()
        top = np.sort(cells)[::-1][: len(cells) // 8].sum()
        local.append(float(top / max(cells.sum(), 1e-6)))
    return frame.assign(colour_change=chroma, local_share=local)


def mine(args) -> None:
    work = args.keep
    audits = work / "audits"
    labels = pd.read_csv(args.labels)
    if not args.skip_features:
        labels.assign(label=labels["clean_label"], split="train")[
            ["path", "label", "split"]
        ].to_csv(args.data / MANIFEST, index=False)
        params = curator_params(work, 0.999, calibrate=False)
        for stage in (ingest, hash, embed):
            stage.run(params, args.data, audits)
        duplicates.run(params, args.data, audits)
    scored = pd.read_parquet(audits / artifacts.DUPLICATES)
    scored = scored[scored["kind"] == "near"]
    paths = sorted(labels["path"])
    pos = {p: k for k, p in enumerate(paths)}
    grey = grey_stack(args.data, paths)
    mine_pairs = independent_pairs(grey)
    ours = pd.DataFrame(
        {
            "i": np.minimum(scored["path_a"].map(pos), scored["path_b"].map(pos)),
            "j": np.maximum(scored["path_a"].map(pos), scored["path_b"].map(pos)),
            "distance_ratio": scored["distance_ratio"].to_numpy(),
            "edge_correlation": scored["edge_correlation"].to_numpy(),
        }
    ).drop_duplicates(["i", "j"])
    both = mine_pairs.assign(independent=True).merge(ours, on=["i", "j"], how="outer")
    both["independent"] = both["independent"].fillna(False).astype(bool)
    frame = describe(args.data, paths, both, grey)
    frame["path_a"] = [paths[k] for k in frame["i"]]
    frame["path_b"] = [paths[k] for k in frame["j"]]
    frame.to_parquet(work / "candidates.parquet")
    print(
        f"{len(frame)} candidate pairs: {int(frame['independent'].sum())} from the independent "
        f"search, {int(frame['distance_ratio'].notna().sum())} scored by curator"
    )
    for t in (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6):
        band = frame[frame["best_ncc"] >= t]
        print(
            f"ncc >= {t}: {len(band)} pairs, {int((band['distance_ratio'] <= 0.2).sum())} "
            f"accepted by curator at 0.2, {int(band['distance_ratio'].isna().sum())} never scored"
        )


PAGE = 48  # pairs per contact sheet (6 across, 8 down)


def sheet(data: Path, pairs: pd.DataFrame, out: Path) -> None:
    """Pairs side by side at 2x, each numbered by its row in ``pairs``."""
    from PIL import ImageDraw

    cols, tile_w, tile_h = 6, 140, 78
    img = Image.new("RGB", (cols * tile_w, -(-len(pairs) // cols) * tile_h), "white")
    draw = ImageDraw.Draw(img)
    for k, r in enumerate(pairs.itertuples()):
        x, y = (k % cols) * tile_w, (k // cols) * tile_h
        for dx, p in ((0, r.path_a), (66, r.path_b)):
            img.paste(Image.open(data / p).convert("RGB").resize((64, 64)), (x + dx, y + 12))
        draw.text((x + 2, y), f"{r.Index}", fill="black")
    img.save(out)


def to_judge(frame: pd.DataFrame, floor: float, seed: int) -> pd.DataFrame:
    """Every pair the independent score puts at ``floor`` or above or that curator accepts (at
    its default ratio, 0.2), in full; then seeded samples of three strata, each pair weighted by
    its stratum's size over its sample's: the band of the independent score just below the
    floor (down to ``floor`` - 0.05), pairs curator would accept at ratios up to 0.5, and the
    rest of the pairs curator scored (twins both miss)."""
    full = (frame["best_ncc"] >= floor) | (frame["distance_ratio"] <= 0.2)
    parts = [frame[full].sort_values("best_ncc", ascending=False).assign(stratum="full")]
    rest = frame[~full]
    for name, stratum, n in (
        ("below floor", rest[rest["best_ncc"] >= floor - 0.05], 144),
        (
            "ratio 0.2-0.5",
            rest[(rest["best_ncc"] < floor - 0.05) & (rest["distance_ratio"] <= 0.5)],
            96,
        ),
        (
            "curator scored",
            rest[(rest["best_ncc"] < floor - 0.05) & rest["distance_ratio"].notna()],
            96,
        ),
    ):
        sample = stratum.sample(min(n, len(stratum)), random_state=seed)
        parts.append(sample.assign(stratum=name, weight=len(stratum) / max(len(sample), 1)))
    out = pd.concat(parts)
    out["weight"] = out["weight"].fillna(1.0)
    return out.reset_index(drop=True)


def sheets(args) -> None:
    frame = pd.read_parquet(args.keep / "candidates.parquet")
    judged = to_judge(frame, args.floor, 0)
    judged.to_parquet(args.keep / "to_judge.parquet")
    folder = args.keep / "sheets"
    folder.mkdir(exist_ok=True)
    for start in range(0, len(judged), PAGE):
        sheet(args.data, judged.iloc[start : start + PAGE], folder / f"{start // PAGE:03d}.png")
    strata = judged["stratum"].value_counts().to_dict()
    print(f"{len(judged)} pairs to judge (by stratum {strata}) in {folder}")


# how a pair of one photo differs, for recall per kind (a pair may have several)
FAMILIES = {
    "mirrored": lambda f: f["mirrored"],
    "shifted or cropped (>= 1 px at 32 px)": lambda f: ~f["mirrored"] & (f["shift"] >= 1),
    "brightened or darkened (mean grey moved >= 10)": lambda f: f["brightness_change"] >= 10,
    "recoloured (mean chroma moved >= 20)": lambda f: f["colour_change"] >= 20,
    "a local change: caption, overlay, background (worst 1/8 holds >= 40%)": lambda f: (
        f["local_share"] >= 0.4
    ),
}


def score(args) -> None:
    """curator's recall on the pairs judged the same photo (a pair counts as found when both
    photos end in one cluster), weighted by stratum, overall and per kind of difference; and
    the pairs judged different that it puts in one cluster."""
    from curator.checks.same_photo import twin_groups

    audits = args.keep / "audits"
    params = curator_params(args.keep, args.ratio, calibrate=True)
    summary = duplicates.run(params, args.data, audits)
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    verdicts = pd.read_csv(args.verdicts)
    frame = pd.read_parquet(args.keep / "candidates.parquet")
    paths = sorted(pd.read_csv(args.labels)["path"])
    pos = {p: k for k, p in enumerate(paths)}
    group = twin_groups(
        len(paths), pairs["path_a"].map(pos).to_numpy(), pairs["path_b"].map(pos).to_numpy()
    )
    found = group[verdicts["path_a"].map(pos)] == group[verdicts["path_b"].map(pos)]
    verdicts = verdicts.assign(found=found)
    same = verdicts[verdicts["verdict"] == "same"].merge(
        frame.drop(columns=["i", "j"]), on=["path_a", "path_b"], how="left"
    )
    same = colour_and_local(
        args.data, paths, same.assign(i=same["path_a"].map(pos), j=same["path_b"].map(pos))
    )
    print(
        f"decision: max_distance_ratio {summary['max_distance_ratio']}; "
        f"({summary.get('distance_ratio_choice')}); {summary['n_near_pairs_accepted']} near "
        f"pairs accepted; estimated precision {summary['calibration'].get('precision')}; "
        f"planted copies found {summary['calibration'].get('recall')} "
        f"{summary['calibration'].get('recall_by_edit')}"
    )
    print("\n| pairs judged the same photo | estimated pairs (judged) | recall |")
    print("| --- | ---: | ---: |")
    rows = [("all", np.ones(len(same), bool))]
    rows += [(name, rule(same).to_numpy(bool)) for name, rule in FAMILIES.items()]
    rows.append(("none of these (re-encoded, resized)", ~np.any([r for _, r in rows[1:]], axis=0)))
    for name, has in rows:
        w = same["weight"][has]
        recall = (w * same["found"][has]).sum() / max(w.sum(), 1e-9)
        print(f"| {name} | {w.sum():.0f} ({int(has.sum())}) | {recall:.3f} |")
    for stratum, g in same.groupby("stratum"):
        print(
            f"| stratum {stratum} | {g['weight'].sum():.0f} ({len(g)}) | {g['found'].mean():.3f} |"
        )
    wrong = verdicts[(verdicts["verdict"] == "different") & verdicts["found"]]
    scene = verdicts[(verdicts["verdict"] == "scene") & verdicts["found"]]
    print(
        f"\npairs judged different that end in one cluster: {len(wrong)} of the "
        f"{int((verdicts['verdict'] == 'different').sum())} judged (estimated "
        f"{wrong['weight'].sum():.0f}); judged the same scene, not the same photo: {len(scene)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=("mine", "sheets", "score"))
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--keep", type=Path, required=True)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS))
    ap.add_argument("--skip-features", action="store_true")
    ap.add_argument("--verdicts", type=Path)
    ap.add_argument("--ratio", type=float, help="score curator at this max_distance_ratio")
    ap.add_argument("--floor", type=float, default=0.95, help="independent score judged in full")
    args = ap.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    {"mine": mine, "sheets": sheets, "score": score}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
