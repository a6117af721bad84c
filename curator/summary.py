"""A plain-text digest of an audit for the terminal: counts per finding and where outputs are."""

from __future__ import annotations

from pathlib import Path

from curator import artifacts
from curator.io.tables import read_json, read_parquet


def render_summary(audits_dir: Path) -> str:
    audits = Path(audits_dir)
    ingest = read_json(audits / artifacts.INGEST_SUMMARY, "curator ingest")
    issues = read_parquet(audits / artifacts.ISSUES, "curator issues")
    lines = [
        f"Dataset {ingest['data_dir']}: {ingest['n_files']} files, "
        f"{ingest['n_readable']} readable, {ingest['n_classes']} classes, "
        f"splits {ingest['by_split']}",
    ]
    balance_path = audits / artifacts.BALANCE_SUMMARY
    if balance_path.exists():
        b = read_json(balance_path, "curator balance")
        homog = b.get("split_label_homogeneity") or {}
        lines.append(
            f"Balance: imbalance ratio {b['overall']['imbalance_ratio']:.2f}, normalised entropy "
            f"{b['overall']['normalized_entropy']:.3f}, minority classes "
            f"{', '.join(b['minority_classes']) or 'none'}; "
            f"label distribution same across splits: {homog.get('same_distribution', 'n/a')} "
            f"(chi-square p={homog.get('p_value', float('nan')):.3g})"
        )
    dup_path = audits / artifacts.DUPLICATES_SUMMARY
    if dup_path.exists():
        d = read_json(dup_path, "curator duplicates")
        leaked = ", ".join(
            f"{split} {v['leaked']}/{v['n']} ({v['leaked_pct']:.1f}%)"
            for split, v in d["leakage"].items()
            if split != "train"
        )
        lines.append(
            f"Duplicates: {d['n_pairs']} twin pairs in {d['n_clusters']} clusters "
            f"({d['n_removable']} removable copies); leaked from earlier splits: {leaked or 'none'}"
        )
    agreement_path = audits / artifacts.AGREEMENT_SUMMARY
    if agreement_path.exists():
        a = read_json(agreement_path, "curator agreement")
        if a["n_votes"]:
            alpha = a["krippendorff_alpha"]
            ci = alpha["ci"] if alpha["ci"][0] is not None else ["n/a", "n/a"]
            lines.append(
                f"Agreement: Krippendorff alpha {alpha['value']:.3f} (95% CI {ci[0]:.3f} to "
                f"{ci[1]:.3f}) over {a['n_items']} items from {a['n_annotators']} annotators; "
                f"unreliable: {', '.join(a['unreliable_annotators']) or 'none'}"
            )
    lq_path = audits / artifacts.LABEL_QUALITY_SUMMARY
    if lq_path.exists():
        q = read_json(lq_path, "curator label-quality")
        lines.append(
            f"Labels: {q['n_label_issues']} likely errors, estimated noise rate "
            f"{q['estimated_noise_rate']:.1%} ({q['pred_probs_source']}); review queue in "
            f"{audits / artifacts.REVIEW_QUEUE}"
        )
    embed_path = audits / artifacts.EMBED_SUMMARY
    if embed_path.exists():
        e = read_json(embed_path, "curator embed")
        source = (
            f"{e['model']} ({e['weights']})"
            if e["backend"] == "open_clip"
            else f"{e['backend']} - {e['fallback_reason']}"
        )
        lines.append(f"Embeddings: {source}")
    lines.append("")
    lines.append("Findings (audits/issues.parquet):")
    if issues.empty:
        lines.append("  none")
    for issue, group in issues.groupby("issue", sort=True):
        example = group.iloc[0]
        lines.append(
            f"  {issue:<30} {group['path'].nunique():>6} files   e.g. {example['path']}: "
            f"{example['detail']}"
        )
    lines.append("")
    lines.append("Outputs:")
    for path in sorted(p for p in audits.rglob("*") if p.is_file() and not p.name.startswith(".")):
        lines.append(f"  {path}")
    return "\n".join(lines)
