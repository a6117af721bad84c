"""Figures of the reports, as SVG bytes (no network to draw or show them).

The reports embed them through ``<img src="data:image/svg+xml;base64,...">`` (``data_uri``): an
SVG loaded as an image cannot run scripts, so a label that happens to contain markup stays
harmless. The report stage also writes them to reports/figures/, where `dvc plots show` shows
them as image plots (vega plots load their scripts from a CDN and stay blank offline). Output is
byte-for-byte deterministic (fixed hash salt, no date), so re-running the report stage on the same
audit changes nothing.
"""

from __future__ import annotations

import base64
import io

import numpy as np

INK, ACCENT, MUTED, BAD = "#1f2933", "#2563eb", "#9aa5b1", "#c2410c"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "curator",
            "svg.fonttype": "path",
            "font.size": 9,
            "axes.edgecolor": MUTED,
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt.subplots(figsize=(width, height))


def _svg(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def message(text: str) -> bytes:
    """A figure that says why there is nothing to draw (an output file must still exist)."""
    fig, ax = _figure(6.5, 0.6)
    ax.axis("off")
    ax.text(0, 0.5, text, va="center", color=INK)
    return _svg(fig)


def class_counts(counts: dict[str, dict[str, int]], splits: list[str]) -> bytes:
    """Stacked bars: images per class, one colour per split."""
    classes = list(counts["all"])
    fig, ax = _figure(6.5, 2.6)
    bottom = np.zeros(len(classes))
    colours = ["#2563eb", "#60a5fa", "#bfdbfe", "#93c5fd", "#1e40af"]
    for i, split in enumerate(s for s in splits if s in counts):
        values = np.array([counts[split].get(c, 0) for c in classes], dtype=float)
        ax.bar(classes, values, bottom=bottom, label=split, color=colours[i % len(colours)])
        bottom += values
    ax.set_ylabel("images")
    ax.set_xlabel("class")
    ax.legend(frameon=False, ncols=len(splits), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    return _svg(fig)


def group_accuracy(groups: list[dict], overall: float) -> bytes:
    """Accuracy per group with its interval; the overall accuracy as a reference line."""
    fig, ax = _figure(6.5, 0.32 * len(groups) + 0.8)
    y = np.arange(len(groups))[::-1]
    values = np.array([g["accuracy"] for g in groups])
    lo = values - np.array([g["ci"][0] for g in groups])
    hi = np.array([g["ci"][1] for g in groups]) - values
    colours = [BAD if g.get("worst") else ACCENT for g in groups]
    ax.errorbar(values, y, xerr=[lo, hi], fmt="none", ecolor=MUTED, capsize=3)
    ax.scatter(values, y, c=colours, zorder=3, s=22)
    ax.axvline(overall, color=INK, lw=0.8, ls="--")
    ax.set_yticks(y, [f"{g['label']} (n={g['n']})" for g in groups])
    ax.set_xlabel("accuracy (dashed: all images); bars: confidence interval")
    ax.set_xlim(max(0.0, min(values - lo) - 0.05), 1.0)
    return _svg(fig)


def confusion(matrix: list[list[int]], classes: list[str]) -> bytes:
    """Row-normalised confusion matrix (rows: true class) with the counts written in."""
    m = np.array(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = 0.38 * len(classes) + 1.2
    fig, ax = _figure(size, size)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(m):
        if count:
            colour = "white" if share[i, j] > 0.6 else INK
            ax.text(j, i, int(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _svg(fig)


def reliability(bins: list[dict]) -> bytes:
    """Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration."""
    fig, ax = _figure(3.4, 3.0)
    ax.plot([0, 1], [0, 1], color=MUTED, lw=0.8, ls="--")
    conf = [b["mean_confidence"] for b in bins]
    acc = [b["accuracy"] for b in bins]
    sizes = [12 + 60 * b["count"] / max(x["count"] for x in bins) for b in bins]
    ax.plot(conf, acc, color=ACCENT, lw=1)
    ax.scatter(conf, acc, s=sizes, color=ACCENT, zorder=3)
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    return _svg(fig)
