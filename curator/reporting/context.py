"""What each page shows: the jinja contexts of the dataset audit and the Model Card, and the
provenance of the data they describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from curator import __version__, artifacts
from curator.evaluation.shift import shifted_properties
from curator.evaluation.subgroups import CONDITION_PREFIX
from curator.io.tables import read_parquet
from curator.io.versions import data_commit, data_version
from curator.params import Params
from curator.reporting import plots
from curator.reporting.model_card import HEADLINE_NAMES, model_name
from curator.reporting.numbers import Numbers
from curator.reporting.thumbnails import thumbnail
from curator.reporting.triage import triage


def provenance(data_dir: Path | str, ingest: dict[str, Any]) -> dict[str, Any]:
    """Which data the reports describe. The version and date are DVC's (data.dvc's md5 and the
    date of the commit that recorded it) only when that record is committed, unchanged and
    describes the audited folder; otherwise the version is the audited files' own content
    digest, there is no date, and ``unversioned`` says why."""
    p = {
        **data_version(data_dir),
        **data_commit(data_dir),
        "curator_version": __version__,
        "data_dir": str(data_dir),
        "data_digest": ingest["data_digest"],
        "n_files": ingest["n_files"],
    }
    if p["data_dvc_md5"] is None:
        why = f"not tracked by DVC: `dvc add {data_dir}` and commit {data_dir}.dvc"
    elif p["dvc_file_describes_data"] is False:
        why = (
            f"{data_dir}.dvc (md5 {p['data_dvc_md5']}) does not describe the audited folder "
            f"(it changed without `dvc add`): run `dvc add {data_dir}` and commit"
        )
    elif p["commit"] is None:
        why = f"{data_dir}.dvc is not committed to git: commit it"
    elif p["dvc_file_modified"]:
        why = f"{data_dir}.dvc has uncommitted changes: commit them"
    else:
        why = None
    p["unversioned"] = why
    p["version"] = f"sha256:{p['data_digest'][:16]}" if why else p["data_dvc_md5"]
    if why:
        p["date"] = None
    return p


EXACT_LISTED = 50  # exact copies listed by path (no thumbnails: nothing to judge)


def dataset_context(
    numbers: Numbers,
    audits: Path,
    data_dir: Path | str,
    params: Params,
    prov: dict,
    checks: list[dict[str, Any]],
) -> dict:
    """``checks``: every registered check's name, description and issue names, listed on the
    page with how many images each issue flagged."""
    docs, r = numbers.docs, params.report

    def thumb(path: str) -> str | None:
        return thumbnail(data_dir, path, r.thumbnail_size, params.ingest.max_image_pixels)

    pairs = read_parquet(audits / artifacts.DUPLICATES, "curator duplicates")
    # near pairs are the ones a person must look at: shown first, with thumbnails and evidence;
    # exact copies need no eye and are summarised
    near = pairs[pairs["kind"] == "near"]
    near = near.sort_values(["cross_split", "score"], ascending=[False, False])
    exact = pairs[pairs["kind"] != "near"]
    exact = exact.sort_values(["cross_split", "path_a"], ascending=[False, True])
    label_issues = read_parquet(audits / artifacts.LABEL_ISSUES, "curator label-quality")
    label_issues = label_issues[label_issues["is_label_issue"]].sort_values("label_quality")
    full_queue = read_parquet(audits / artifacts.REVIEW_QUEUE, "curator issues")
    queue = full_queue.head(r.thumbnails)
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    manifest = read_parquet(audits / artifacts.MANIFEST, "curator ingest")
    corrected = (
        manifest[manifest["label_source"] == "review"].sort_values("path")
        if "label_source" in manifest
        else manifest.head(0)
    )
    corrupt = issues[issues["issue"] == "corrupt"]
    conditions = issues[issues["issue"].isin(artifacts.CONDITION_ISSUES)]
    balance = docs[artifacts.BALANCE_SUMMARY]
    return {
        "numbers": numbers,
        "provenance": prov,
        "ingest": docs[artifacts.INGEST_SUMMARY],
        "balance": balance,
        "embed": docs[artifacts.EMBED_SUMMARY],
        "duplicates": docs[artifacts.DUPLICATES_SUMMARY],
        "agreement": docs[artifacts.AGREEMENT_SUMMARY],
        "labels": docs[artifacts.LABEL_QUALITY_SUMMARY],
        "checks": _checks_run(checks, issues),
        "triage": triage(docs),
        "corrupt": corrupt.to_dict("records"),
        "conditions": docs[artifacts.PROPERTIES_SUMMARY],
        "condition_examples": {
            name: [
                row | {"thumb": thumb(row["path"])}
                for row in group.sort_values(["score", "path"], ascending=[False, True])
                .head(r.thumbnails)
                .to_dict("records")
            ]
            for name, group in conditions.groupby("issue")
        },
        "shift": docs[artifacts.SHIFT_SUMMARY],
        "shift_examples": {
            split: [
                row | {"thumb": thumb(row["path"])} for row in e["most_shifted"][: r.thumbnails]
            ]
            for split, e in docs[artifacts.SHIFT_SUMMARY]["embedding"].items()
            if e.get("most_shifted")
        },
        "class_plot": plots.class_counts(balance["class_counts"], list(params.ingest.splits)),
        "near_pairs": [
            row | {"thumb_a": thumb(row["path_a"]), "thumb_b": thumb(row["path_b"])}
            for row in near.head(r.thumbnails).to_dict("records")
        ],
        "n_near_pairs": len(near),
        "exact_summary": [
            {
                "kind": kind.replace("_", " "),
                "n": len(group),
                "cross_split": int(group["cross_split"].sum()),
                "label_conflict": int(group["label_conflict"].sum()),
            }
            for kind, group in exact.groupby("kind")
        ],
        "exact_pairs": exact.head(EXACT_LISTED).to_dict("records"),
        "n_exact_pairs": len(exact),
        "attribute_conflicts": issues[issues["issue"] == "duplicate_attribute_conflict"]
        .sort_values(["score", "path"], ascending=[False, True])
        .head(r.thumbnails)
        .to_dict("records"),
        "label_issues": [
            row | {"thumb": thumb(row["path"])}
            for row in label_issues.head(r.thumbnails).to_dict("records")
        ],
        "n_label_issue_rows": len(label_issues),
        "queue": [row | {"thumb": thumb(row["path"])} for row in queue.to_dict("records")],
        "queue_length": len(full_queue),
        "corrected": [
            row | {"thumb": thumb(row["path"])}
            for row in corrected.head(r.thumbnails)[["path", "label", "original_label"]].to_dict(
                "records"
            )
        ],
        "n_corrected": len(corrected),
        "thresholds": _thresholds(params),
    }


def _checks_run(checks: list[dict[str, Any]], issues: pd.DataFrame) -> list[dict[str, Any]]:
    flagged = issues.groupby("issue")["path"].nunique()
    return [
        c | {"flagged": {issue: int(flagged.get(issue, 0)) for issue in c["issues"]}}
        for c in checks
    ]


def _thresholds(params: Params) -> dict[str, dict[str, Any]]:
    sections = (
        "ingest",
        "balance",
        "hash",
        "properties",
        "embed",
        "duplicates",
        "agreement",
        "label_quality",
        "train",
        "evaluate",
    )
    return {s: dict(vars(getattr(params, s))) for s in sections}


def group_rows(ev: dict) -> list[dict]:
    """Groups with a reportable accuracy, for the per-group figure (worst group marked). Of an
    image property's bins only the two extremes and its worst bin are drawn (the tables hold
    every bin): ten bins of five properties would bury the metadata groups."""
    worst = ev.get("worst_group") or {}
    rows = []
    for grouping, summary in ev["subgroups"].items():
        names = sorted(summary["groups"])
        shown = set(names)
        if grouping.startswith(CONDITION_PREFIX):
            shown = {names[0], names[-1], (summary.get("worst_group") or {}).get("group")}
        for name, g in summary["groups"].items():
            if "accuracy" in g and name in shown:
                rows.append(
                    {
                        "label": f"{grouping}={name}",
                        "n": g["n"],
                        "accuracy": g["accuracy"],
                        "ci": g["accuracy_ci"],
                        "worst": grouping == worst.get("grouping") and name == worst.get("group"),
                    }
                )
    return rows


def model_card_context(
    numbers: Numbers,
    params: Params,
    prov: dict,
    considerations: list[dict],
    galleries: list[dict],
) -> dict:
    ev = numbers.docs[artifacts.EVALUATION]
    model = numbers.docs[f"{artifacts.MODEL_DIR}/model.json"]
    groups = group_rows(ev)
    figures = {
        "groups": plots.group_accuracy(groups, ev["overall"]["accuracy"]) if groups else None,
        "confusion": plots.confusion(ev["overall"]["confusion_matrix"], ev["classes"]),
        "reliability": plots.reliability(ev["overall"]["calibration"]),
    }
    return {
        "numbers": numbers,
        "provenance": prov,
        "model": model,
        "ev": ev,
        "duplicates": numbers.docs[artifacts.DUPLICATES_SUMMARY],
        "embed": numbers.docs[artifacts.EMBED_SUMMARY],
        "shift": numbers.docs[artifacts.SHIFT_SUMMARY],
        "shifted_properties": shifted_properties(
            numbers.docs[artifacts.SHIFT_SUMMARY]["properties"]
        ),
        "balance": numbers.docs[artifacts.BALANCE_SUMMARY],
        "ingest": numbers.docs[artifacts.INGEST_SUMMARY],
        "r": params.report,
        "name": model_name(params),
        "caveats": considerations,
        "galleries": galleries,
        "errors": numbers.docs[artifacts.ERRORS_SUMMARY],
        "figures": figures,
        "headline": HEADLINE_NAMES,
        "label_evidence_supported": numbers.docs[artifacts.LABEL_QUALITY_SUMMARY]["evidence"][
            "supported"
        ],
    }
