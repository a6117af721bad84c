"""The registry of checks: name -> entry point and the params section it reads.

Adding a check means one module in this package and one line below. The registry is a
read-only mapping so no caller can change it behind another's back.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from curator.artifacts import (
    BOX_AGREEMENT_ISSUES,
    BOX_ISSUES,
    BOX_LABEL_ISSUES,
    CONDITION_ISSUES,
    ISSUE_COLUMNS,
)
from curator.checks import (
    agreement,
    balance,
    box_agreement,
    box_label_quality,
    boxes,
    duplicates,
    integrity,
    label_quality,
    properties,
)
from curator.checks.base import Check, CheckInputs, CheckResult
from curator.errors import ConfigError

REGISTRY = MappingProxyType(
    {
        c.name: c
        for c in (
            Check(
                "integrity",
                integrity.run,
                None,
                "files that cannot be decoded as images; and, as the ingest stage applies "
                "reviewers' answers (corrections.csv), answers that conflict or are stale",
                requires=("manifest",),
                # the last two come from review/corrections.py, applied in the same stage
                issues=("corrupt", "review_conflict", "stale_correction"),
            ),
            Check(
                "balance",
                balance.run,
                "balance",
                "class imbalance, classes missing from train, under-represented subgroups",
                requires=("manifest",),
                issues=("minority_class", "class_absent_from_train", "underrepresented_group"),
            ),
            Check(
                "properties",
                properties.run,
                "properties",
                "dark, overexposed, blurry, low-information and odd-sized images",
                requires=("manifest", "properties"),
                issues=CONDITION_ISSUES,
            ),
            Check(
                "duplicates",
                duplicates.run,
                "duplicates",
                "exact and near duplicates, leakage across splits, copies that disagree",
                requires=("manifest", "hashes", "embeddings", "load_edge_maps", "plant_copies"),
                issues=(
                    "duplicate",
                    "leak",
                    "duplicate_label_conflict",
                    "duplicate_attribute_conflict",
                ),
            ),
            Check(
                "agreement",
                agreement.run,
                "agreement",
                "annotator agreement, annotator reliability and consensus labels",
                requires=("manifest",),  # without annotations it records that and flags nothing
                issues=("low_agreement", "label_differs_from_consensus"),
            ),
            Check(
                "label_quality",
                label_quality.run,
                "label_quality",
                "labels that out-of-sample probabilities contradict (confident learning)",
                requires=("manifest", ("pred_probs", "embeddings", "load_images")),
                issues=("label_issue",),
            ),
            Check(
                "boxes",
                boxes.run,
                "detection",
                "boxes past the border, degenerate, of odd shape or size for their class, drawn "
                "twice or given two classes; images without boxes; instances per class",
                requires=("manifest", "boxes"),
                issues=BOX_ISSUES,
                task="detection",
            ),
            Check(
                "box_label_quality",
                box_label_quality.run,
                "detection",
                "objects no box covers, boxes of the wrong class, boxes in the wrong place: "
                "from your detector's out-of-sample predictions (cleanlab ObjectLab)",
                requires=("manifest", "boxes", "box_predictions"),
                issues=BOX_LABEL_ISSUES,
                task="detection",
            ),
            Check(
                "box_agreement",
                box_agreement.run,
                "detection",
                "annotators who boxed the same images: objects matched by IoU (Hungarian), "
                "precision and recall of each against the others, IoU of matched boxes, kappa / "
                "alpha on their classes, consensus boxes; images where they disagree",
                requires=("manifest", "box_annotations", "box_annotated_images"),
                issues=BOX_AGREEMENT_ISSUES,
                task="detection",
            ),
        )
    }
)


def checks_for(params: Any) -> list[Check]:
    """The registered checks for the kind of dataset params describe (detection.format set:
    a detection dataset), in registry order."""
    task = "classification" if params.detection.format == "none" else "detection"
    return [c for c in REGISTRY.values() if c.task == task]


def run_check(name: str, inputs: CheckInputs, params: object) -> CheckResult:
    """Run a registered check with its params section taken from the full ``Params``: refused
    without an input it needs; its result held to the contract (its name, the issue schema,
    only the issues it declares)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}")
    check = REGISTRY[name]
    check.require_inputs(inputs)
    if check.params_section is None:
        result = check.run(inputs)
    else:
        result = check.run(inputs, getattr(params, check.params_section))
    undeclared = set(result.flags["issue"]) - set(check.issues)
    if result.name != name or tuple(result.flags.columns) != ISSUE_COLUMNS or undeclared:
        raise ValueError(
            f"check {name!r} broke its contract: result named {result.name!r}, columns "
            f"{list(result.flags.columns)}, undeclared issues {sorted(undeclared)}"
        )
    return result


__all__ = ["REGISTRY", "Check", "CheckInputs", "CheckResult", "checks_for", "run_check"]
