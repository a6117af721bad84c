"""File names of stage outputs inside the audits folder, named once.

dvc.yaml passes the folders; these names are the contract between stages (and a test keeps
dvc.yaml's ``outs`` in step with them).
"""

MANIFEST = "manifest.parquet"
ANNOTATIONS = "annotations.parquet"
INGEST_SUMMARY = "ingest.json"
BALANCE_SUMMARY = "balance.json"
METRICS_DIR = "metrics"  # metrics/<stage>.json: headline numbers for `dvc metrics`
FINDINGS_DIR = "findings"  # findings/<stage>.parquet, one flag table per stage
ISSUES = "issues.parquet"
HASHES = "hashes.parquet"
PROPERTIES = "properties.parquet"
PROPERTIES_SUMMARY = "properties.json"
EMBEDDINGS_DIR = "embeddings"  # embeddings/vectors.npy (float32, L2-normalised) + ids.parquet
EMBED_VECTORS = "embeddings/vectors.npy"
EMBED_IDS = "embeddings/ids.parquet"
EMBED_SUMMARY = "embed.json"
SHIFT = "shift.parquet"  # held-out images' out-of-fold domain scores (how unlike train)
SHIFT_SUMMARY = "shift.json"
DUPLICATES = "duplicates.parquet"
LEAKAGE = "leakage.parquet"
DUPLICATES_SUMMARY = "duplicates.json"
AGREEMENT_SUMMARY = "agreement.json"
ANNOTATORS = "annotators.parquet"
CONSENSUS = "consensus.parquet"
PRED_PROBS = "pred_probs.parquet"
LABEL_ISSUES = "label_issues.parquet"
LABEL_QUALITY_SUMMARY = "label_quality.json"
REVIEW_QUEUE = "review_queue.parquet"
MODEL_DIR = "model"  # model/model.safetensors + model/model.json
PREDICTIONS = "predictions.parquet"

# image conditions (checks/properties.py), in the order reports list them
CONDITION_ISSUES = ("dark", "overexposed", "blurry", "low_information", "odd_size")

BOX_ISSUES = (  # detection datasets (checks/boxes.py)
    "box_outside_image",
    "box_degenerate",
    "box_extreme_aspect",
    "box_tiny",
    "box_duplicate",
    "box_class_overlap",
    "image_without_boxes",
)
BOX_LABEL_ISSUES = ("box_overlooked", "box_swapped", "box_badly_located")  # from a detector
BOX_AGREEMENT_ISSUES = ("box_disagreement",)  # annotators who boxed one image differently
BOXES = "boxes.parquet"  # one row per box (io/boxes.py BOX_COLUMNS)
BOX_FINDINGS = "box_findings.parquet"  # one row per flagged box, naming the box
DETECTION_EVALUATION = "detection_evaluation.json"  # the detector on the test split
BOX_CONSENSUS = "box_consensus.parquet"  # one box per object several annotators agree on

ISSUE_COLUMNS = ("sample_id", "path", "issue", "score", "detail")
# reviewers' answers, beside the data (not in audits/: they are an input, versioned by the user)
CORRECTIONS = "corrections.csv"
CORRECTION_COLUMNS = (
    "path",
    "sample_id",
    "old_label",
    "verdict",
    "new_label",
    "reviewer",
    "reviewed_at",
    "task",
    "drawn",  # how the image came to review: queue, random (the estimate's sample), paths
    "evidence",
    "reasons",
)
REVIEWER_PREFIX = "reviewer:"  # a reviewer's answer as a vote in annotations.parquet
# evidence token 'votes:<n>': vote signals resting on n annotators' votes (reviewers' own votes
# not counted: a reviewer's answer is not new evidence against itself)
VOTES_EVIDENCE = "votes:"


def votes_token(n: int) -> str:
    return f"{VOTES_EVIDENCE}{int(n)}"


# Every issue name a check may emit: they become FiftyOne tags and saved views, so the set is
# closed (make_flags refuses others) and a tag curator did not make is never touched.
ISSUE_NAMES = frozenset(
    {
        "corrupt",
        "minority_class",
        "class_absent_from_train",
        "underrepresented_group",
        "duplicate",
        "leak",
        "duplicate_label_conflict",
        "duplicate_attribute_conflict",
        "low_agreement",
        "label_differs_from_consensus",
        "label_issue",
        "review_conflict",
        "stale_correction",
        *CONDITION_ISSUES,
        *BOX_ISSUES,
        *BOX_LABEL_ISSUES,
        *BOX_AGREEMENT_ISSUES,
    }
)


def summary(stage: str) -> str:
    return f"{stage}.json"


def findings(stage: str) -> str:
    return f"{FINDINGS_DIR}/{stage}.parquet"


def metrics(stage: str) -> str:
    return f"{METRICS_DIR}/{stage}.json"


EVALUATION = "evaluation.json"  # also `dvc metrics`: overall, corrected and per-group numbers
SUBGROUPS = "subgroups.parquet"
EVALUATED_GROUPS = "evaluated_groups.parquet"  # each evaluated image's group in every grouping
ERRORS = "errors.parquet"  # error galleries: misclassified images with their saliency maps
ERRORS_SUMMARY = "errors.json"
PLOTS_DIR = "plots"  # CSVs behind `dvc plots show`
CONFUSION_PLOT = "plots/confusion.csv"
GROUP_ACCURACY_PLOT = "plots/group_accuracy.csv"
CALIBRATION_PLOT = "plots/calibration.csv"
