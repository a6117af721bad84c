"""Typed params: one frozen dataclass per params.yaml section, validated once on load.

Unknown sections and keys are refused with the key's dotted name, so a typo in params.yaml
fails loudly instead of silently running with a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from curator.errors import ConfigError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"params: {key} {message}")


@dataclass(frozen=True)
class EngineParams:
    """Where ingest, hash and embed run: local cores or Ray; both stream shard by shard."""

    name: Literal["local", "ray"] = "local"
    address: str | None = None  # ray.init address; else RAY_ADDRESS; else a local Ray
    num_cpus: int | None = None  # CPUs of a local Ray (None: all)
    shard_size: int = 4096  # files per shard: the unit of streaming and of resuming
    batch_size: int = 256  # files per Ray Data batch (decode, hash, fallback descriptor)
    embed_actors: int = 1  # Ray actors embedding with open_clip (one model each)
    gpus_per_actor: float = 1.0  # may be fractional; 0 on CPU-only clusters
    work_dir: str = ".curator/work"  # shards of an unfinished run (removed when a stage ends)

    def __post_init__(self) -> None:
        _require(self.shard_size >= 1, "engine.shard_size", "must be >= 1")
        _require(self.batch_size >= 1, "engine.batch_size", "must be >= 1")
        _require(self.embed_actors >= 1, "engine.embed_actors", "must be >= 1")
        _require(self.gpus_per_actor >= 0, "engine.gpus_per_actor", "must be >= 0")
        _require(self.num_cpus is None or self.num_cpus >= 1, "engine.num_cpus", "must be >= 1")


@dataclass(frozen=True)
class IngestParams:
    """Where the images are and how they are read (paths relative to the data folder)."""

    layout: Literal["auto", "imagefolder", "manifest"] = "auto"
    images_dir: str = "images"
    manifest: str | None = None
    metadata: str | None = "metadata.csv"
    annotations: str | None = "annotations.csv"
    splits: tuple[str, ...] = ("train", "val", "test")
    # a label (or vote) spelled like one of these (any case) is a missing value, not a class
    missing_label_values: tuple[str, ...] = ("nan", "none", "null", "na", "n/a")
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    max_image_pixels: int = 89_478_485
    workers: int = 0
    ci_level: float = 0.95  # the wrong labels left after review rounds (review/errors_left.py)

    def __post_init__(self) -> None:
        _require(len(self.splits) > 0, "ingest.splits", "must name at least one split")
        _require(0 < self.ci_level < 1, "ingest.ci_level", "must be in (0, 1)")
        _require(self.max_image_pixels > 0, "ingest.max_image_pixels", "must be positive")
        _require(self.workers >= 0, "ingest.workers", "must be >= 0 (0 = all cores)")
        _require(
            all(e.startswith(".") for e in self.extensions),
            "ingest.extensions",
            "entries must start with a dot, e.g. '.png'",
        )
        if self.layout == "manifest":
            _require(
                self.manifest is not None,
                "ingest.manifest",
                "is required when layout is 'manifest'",
            )


@dataclass(frozen=True)
class BalanceParams:
    """Thresholds for class imbalance and subgroup representation."""

    subgroups: tuple[str, ...] = ()
    minority_class_ratio: float = 0.5
    min_cell_count: int = 20
    min_representation_ratio: float = 0.5
    effective_number_beta: float = 0.999
    chi2_alpha: float = 0.01

    def __post_init__(self) -> None:
        _require(
            0 < self.minority_class_ratio <= 1, "balance.minority_class_ratio", "must be in (0, 1]"
        )
        _require(self.min_cell_count >= 0, "balance.min_cell_count", "must be >= 0")
        _require(
            0 < self.min_representation_ratio <= 1,
            "balance.min_representation_ratio",
            "must be in (0, 1]",
        )
        _require(
            0 <= self.effective_number_beta < 1,
            "balance.effective_number_beta",
            "must be in [0, 1)",
        )
        _require(0 < self.chi2_alpha < 1, "balance.chi2_alpha", "must be in (0, 1)")


@dataclass(frozen=True)
class HashParams:
    """Perceptual hashing; JPEGs decode at reduced scale no smaller than ``decode_size``."""

    decode_size: int = 64
    workers: int = 0

    def __post_init__(self) -> None:
        _require(self.decode_size >= 0, "hash.decode_size", "must be >= 0 (0 = full decode)")
        _require(self.workers >= 0, "hash.workers", "must be >= 0 (0 = all cores)")


@dataclass(frozen=True)
class PropertiesParams:
    """Image-condition findings. dark and overexposed are properties of the image alone
    (absolute thresholds); blurry, low_information and odd_size are judged against the
    dataset's own distribution, since sharpness, entropy (a handwritten digit on black has
    about 1.5 bits of 5, a photograph 4-5) and size depend on what and how a dataset captures."""

    dark_max_luma_p99: float = 0.3  # dark: even the brightest 1% of pixels are below this
    overexposed_min_luma_p01: float = 0.85  # overexposed: even the darkest 1% are above this
    # blurry / low_information: log sharpness / entropy this many robust SDs below the median
    outlier_z: float = 3.5
    min_entropy: float = 2.0  # low_information: ... and the entropy below this (bits, of 5)
    min_side_ratio: float = 0.5  # odd_size: shorter side below this share of the median's
    max_aspect_ratio: float = 2.5  # odd_size: aspect this many times off the median aspect
    workers: int = 0

    def __post_init__(self) -> None:
        for key in ("dark_max_luma_p99", "overexposed_min_luma_p01", "min_side_ratio"):
            _require(0 < getattr(self, key) < 1, f"properties.{key}", "must be in (0, 1)")
        _require(self.outlier_z > 0, "properties.outlier_z", "must be > 0")
        _require(0 <= self.min_entropy <= 5, "properties.min_entropy", "must be in [0, 5] bits")
        _require(self.max_aspect_ratio > 1, "properties.max_aspect_ratio", "must be > 1")
        _require(self.workers >= 0, "properties.workers", "must be >= 0 (0 = all cores)")


@dataclass(frozen=True)
class ShiftParams:
    """Split shift (evaluation/shift.py): KS tests per image property, and a domain classifier on
    the embeddings that tries to tell each held-out split from train."""

    alpha: float = 0.01  # level of each split's domain test; family-wise for the property tests
    folds: int = 5  # out-of-fold domain scores: every image scored by a model that did not see it
    penalty: float = 1.0  # ridge penalty per image on standardised features (larger: smoother)
    n_permutations: int = 499  # random relabellings refitted for the domain test's null
    seed: int = 0

    def __post_init__(self) -> None:
        _require(0 < self.alpha < 1, "shift.alpha", "must be in (0, 1)")
        _require(self.folds >= 2, "shift.folds", "must be >= 2")
        _require(self.penalty > 0, "shift.penalty", "must be > 0")
        _require(self.n_permutations >= 0, "shift.n_permutations", "must be >= 0 (0 = no verdict)")
        _require(
            self.n_permutations == 0 or 1 / (1 + self.n_permutations) <= self.alpha,
            "shift.n_permutations",
            "must be large enough that a p-value can reach shift.alpha: at least 1/alpha - 1",
        )


@dataclass(frozen=True)
class EmbedParams:
    """Which embedding model, where its weights are, and how to run it."""

    model: str = "ViT-B-32"
    pretrained: str | None = "laion2b_s34b_b79k"  # or "hf-hub:org/repo", "random-init"
    download: Literal["auto", "never"] = "auto"  # auto: fetch missing weights from the Hub
    connect_timeout: float = 5.0  # seconds to reach the Hub before falling back
    checkpoint: str | None = None  # a local open_clip state dict (.pt/.bin/.safetensors)
    model_config: str | None = None  # a custom open_clip model config (JSON file or folder)
    image_size: int | None = None
    fallback: Literal["thumbnail", "hog"] = "thumbnail"
    fallback_size: int = 16
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    batch_size: int = 64
    num_workers: int = 2
    workers: int = 0
    seed: int = 0
    cache_dir: str = ".curator/cache"

    def __post_init__(self) -> None:
        _require(self.batch_size > 0, "embed.batch_size", "must be positive")
        _require(self.connect_timeout > 0, "embed.connect_timeout", "must be > 0 seconds")
        _require(self.num_workers >= 0, "embed.num_workers", "must be >= 0")
        _require(self.workers >= 0, "embed.workers", "must be >= 0 (0 = all cores)")
        _require(4 <= self.fallback_size <= 256, "embed.fallback_size", "must be in [4, 256]")
        if self.fallback == "hog":
            _require(self.fallback_size >= 32, "embed.fallback_size", "must be >= 32 for hog")


@dataclass(frozen=True)
class DuplicatesParams:
    """Candidates (each image's hash_knn_k nearest per hash within its radius, knn_k nearest by
    the embedding, background_k nearest whatever their similarity), the loosest distance ratio
    that may accept one as the same photo and the precision the ratio in use must keep by the
    images' own null model (checks/same_photo.py), how many edited copies of the user's own
    images measure that decision, and the metadata columns duplicates must agree on."""

    hash_knn_k: int = 32
    max_phash_distance: int = 10
    max_dhash_distance: int = 10
    max_whash_distance: int = 4
    min_cosine_similarity: float = 0.8
    knn_k: int = 10
    background_k: int = 3
    max_distance_ratio: float = 0.5
    min_precision: float = 0.95
    calibration_copies: int = 500
    conflict_attributes: tuple[str, ...] = ()
    ivf_min_size: int = 200_000
    nprobe: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("max_phash_distance", "max_dhash_distance", "max_whash_distance"):
            _require(0 <= getattr(self, key) <= 32, f"duplicates.{key}", "must be in [0, 32]")
        _require(
            -1 <= self.min_cosine_similarity <= 1,
            "duplicates.min_cosine_similarity",
            "must be in [-1, 1]",
        )
        _require(
            0 < self.max_distance_ratio < 1,
            "duplicates.max_distance_ratio",
            "must be in (0, 1): a twin must be nearer than the nearest other image",
        )
        _require(0 < self.min_precision < 1, "duplicates.min_precision", "must be in (0, 1)")
        _require(self.knn_k >= 1, "duplicates.knn_k", "must be >= 1")
        _require(self.hash_knn_k >= 1, "duplicates.hash_knn_k", "must be >= 1")
        _require(
            self.background_k >= 2,
            "duplicates.background_k",
            "must be >= 2 (a twin and the nearest other image)",
        )
        _require(self.calibration_copies >= 0, "duplicates.calibration_copies", "must be >= 0")
        _require(self.nprobe >= 1, "duplicates.nprobe", "must be >= 1")


@dataclass(frozen=True)
class AgreementParams:
    """Annotator agreement: which statistics, their intervals, and what gets flagged."""

    subgroups: tuple[str, ...] = ()
    # auto: the aggregation that best predicts held-out votes (checks/consensus.py)
    aggregation: Literal["auto", "majority_vote", "one_coin", "class_confusion", "full"] = "auto"
    image_evidence: Literal["auto", "off"] = "auto"  # auto: label_quality's probabilities count
    min_pair_overlap: int = 20
    n_bootstrap: int = 500
    ci_level: float = 0.95
    min_consensus_confidence: float = 0.8
    min_annotator_accuracy: float = 0.5
    min_annotator_votes: int = 30  # fewer votes: accuracy shown with its interval, never judged
    max_iter: int = 200
    tol: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.min_pair_overlap >= 2, "agreement.min_pair_overlap", "must be >= 2")
        _require(self.n_bootstrap >= 0, "agreement.n_bootstrap", "must be >= 0")
        _require(0 < self.ci_level < 1, "agreement.ci_level", "must be in (0, 1)")
        for key in ("min_consensus_confidence", "min_annotator_accuracy"):
            _require(0 <= getattr(self, key) <= 1, f"agreement.{key}", "must be in [0, 1]")
        _require(self.max_iter >= 1, "agreement.max_iter", "must be >= 1")
        _require(self.min_annotator_votes >= 1, "agreement.min_annotator_votes", "must be >= 1")


@dataclass(frozen=True)
class LabelQualityParams:
    """Out-of-fold predicted probabilities and confident learning (cleanlab)."""

    # kernel_logistic | logistic: on the embeddings; cnn: a small CNN trained on the images
    classifier: Literal["kernel_logistic", "logistic", "cnn"] = "kernel_logistic"
    kernel_gamma: float = 2.0
    regularization_c: float = 10.0
    n_folds: int = 5
    cnn_image_size: int = 32  # images are resized to this square for the CNN
    cnn_width: int = 16  # channels of the first layer (then 2x, 4x)
    cnn_epochs: int = 15
    cnn_batch_size: int = 128
    cnn_learning_rate: float = 0.1  # peak of the one-cycle schedule
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    pred_probs: str | None = None  # or your model's probabilities: a file in the data folder
    filter_by: Literal[
        "both",
        "confident_learning",
        "prune_by_noise_rate",
        "prune_by_class",
        "predicted_neq_given",
        "low_normalized_margin",
        "low_self_confidence",
    ] = "prune_by_class"
    # auto: the cleanlab ranking that best finds the annotators' own disagreements planted as
    # errors (checks/label_evidence.choose_ranking), self_confidence without enough of them
    ranked_by: Literal[
        "auto", "self_confidence", "normalized_margin", "confidence_weighted_entropy"
    ] = "auto"
    subgroups: tuple[str, ...] = ()
    # the evidence check (checks/label_evidence.py): below this, no count is stated as a finding
    min_planted_auc: float = 0.9
    plant_fraction: float = 0.02  # share of images given a planted label error (at least 50)
    n_bootstrap: int = 200
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.n_folds >= 2, "label_quality.n_folds", "must be >= 2")
        _require(
            0.5 <= self.min_planted_auc <= 1, "label_quality.min_planted_auc", "must be in [0.5, 1]"
        )
        _require(
            0 < self.plant_fraction <= 0.5, "label_quality.plant_fraction", "must be in (0, 0.5]"
        )
        _require(self.n_bootstrap >= 0, "label_quality.n_bootstrap", "must be >= 0")
        _require(0 < self.ci_level < 1, "label_quality.ci_level", "must be in (0, 1)")
        _require(self.regularization_c > 0, "label_quality.regularization_c", "must be > 0")
        _require(self.kernel_gamma > 0, "label_quality.kernel_gamma", "must be > 0")
        _require(
            8 <= self.cnn_image_size <= 256, "label_quality.cnn_image_size", "must be in [8, 256]"
        )
        _require(self.cnn_width >= 4, "label_quality.cnn_width", "must be >= 4")
        _require(self.cnn_epochs >= 1, "label_quality.cnn_epochs", "must be >= 1")
        _require(self.cnn_batch_size >= 2, "label_quality.cnn_batch_size", "must be >= 2")
        _require(self.cnn_learning_rate > 0, "label_quality.cnn_learning_rate", "must be > 0")


@dataclass(frozen=True)
class TrainParams:
    """The classifier head on the embeddings, and which flagged images to leave out of train."""

    hidden: int = 0  # 0: linear head; otherwise one hidden ReLU layer of this width
    class_weights: Literal["none", "balanced"] = "none"  # balanced: Cui et al. (balance stage)
    exclude: tuple[str, ...] = ()  # issue names whose train images are left out
    learning_rate: float = 0.01
    weight_decay: float = 0.0001
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 10
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    seed: int = 0
    val_fraction: float = 0.1  # carved from train (seeded, stratified) when the data has no val
    finetune: bool = False  # then also train the CLIP image tower (LP-FT; needs CLIP weights)
    finetune_epochs: int = 3
    finetune_learning_rate: float = 0.00001
    finetune_batch_size: int = 32

    def __post_init__(self) -> None:
        _require(self.finetune_epochs >= 1, "train.finetune_epochs", "must be >= 1")
        _require(self.finetune_learning_rate > 0, "train.finetune_learning_rate", "must be > 0")
        _require(self.finetune_batch_size > 0, "train.finetune_batch_size", "must be > 0")
        _require(self.hidden >= 0, "train.hidden", "must be >= 0 (0 = linear head)")
        _require(0 < self.val_fraction <= 0.5, "train.val_fraction", "must be in (0, 0.5]")
        _require(self.learning_rate > 0, "train.learning_rate", "must be > 0")
        _require(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        _require(self.batch_size > 0, "train.batch_size", "must be > 0")
        _require(self.max_epochs >= 1, "train.max_epochs", "must be >= 1")
        _require(self.patience >= 1, "train.patience", "must be >= 1")


@dataclass(frozen=True)
class EvaluateParams:
    """Which split is scored, which groups, and how sure each number must be to be shown."""

    split: str = "test"
    sensitive_features: tuple[str, ...] = ()  # metadata columns; every combination is also scored
    max_intersection: int = 2  # largest number of features crossed into one group
    min_group_size: int = 30  # smaller groups report "too few samples" instead of numbers
    min_class_support: int = 10  # per-class recall in a group needs this many of the class
    slices: int = 8  # k-means clusters of the embeddings scored like groups (0 = none)
    condition_bins: int = 10  # quantile bins of each image property scored as groups (0 = none)
    top_k: int = 3
    positive_class: str | None = None  # 2-class tasks: the class fairness rates select
    fairness_ratio_floor: float = 0.8  # parity ratios surely below this are findings (4/5 rule)
    calibration_bins: int = 15
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.max_intersection >= 1, "evaluate.max_intersection", "must be >= 1")
        _require(self.min_group_size >= 1, "evaluate.min_group_size", "must be >= 1")
        _require(self.min_class_support >= 1, "evaluate.min_class_support", "must be >= 1")
        _require(self.slices >= 0, "evaluate.slices", "must be >= 0 (0 = no slices)")
        _require(
            self.condition_bins == 0 or self.condition_bins >= 2,
            "evaluate.condition_bins",
            "must be 0 (none) or >= 2",
        )
        _require(self.top_k >= 1, "evaluate.top_k", "must be >= 1")
        _require(self.calibration_bins >= 1, "evaluate.calibration_bins", "must be >= 1")
        _require(self.n_bootstrap >= 0, "evaluate.n_bootstrap", "must be >= 0 (0 = no CIs)")
        _require(0 < self.ci_level < 1, "evaluate.ci_level", "must be in (0, 1)")
        _require(
            0 < self.fairness_ratio_floor <= 1, "evaluate.fairness_ratio_floor", "must be in (0, 1]"
        )


@dataclass(frozen=True)
class ErrorsParams:
    """Error galleries: which mistakes are shown, and how their saliency maps are made."""

    groups: int = 4  # galleries of the worst groups (the overall worst first)
    confused_pairs: int = 3  # galleries of the most frequent (true, predicted) class pairs
    per_gallery: int = 8  # misclassified images per gallery, most confident mistakes first
    occlusion_grid: int = 8  # saliency cells per side; (grid - 1)^2 re-scorings per image
    batch_size: int = 64  # occluded images scored at once

    def __post_init__(self) -> None:
        _require(self.groups >= 0, "errors.groups", "must be >= 0")
        _require(self.confused_pairs >= 0, "errors.confused_pairs", "must be >= 0")
        _require(self.per_gallery >= 1, "errors.per_gallery", "must be >= 1")
        _require(self.occlusion_grid >= 2, "errors.occlusion_grid", "must be >= 2")
        _require(self.batch_size >= 1, "errors.batch_size", "must be >= 1")


@dataclass(frozen=True)
class ReportParams:
    """What the reports say about the model that the measurements cannot: fill these in."""

    model_name: str | None = None  # the Model Card's title
    overview: str | None = None
    owners: tuple[str, ...] = ()  # "Team name <contact>"
    license: str | None = None  # SPDX identifier, e.g. Apache-2.0, or "proprietary"
    intended_uses: tuple[str, ...] = ()
    intended_users: tuple[str, ...] = ()
    out_of_scope_uses: tuple[str, ...] = ()
    thumbnails: int = 12  # images (or pairs) shown per section of the dataset audit
    thumbnail_size: int = 96

    def __post_init__(self) -> None:
        _require(self.thumbnails >= 0, "report.thumbnails", "must be >= 0")
        _require(16 <= self.thumbnail_size <= 512, "report.thumbnail_size", "must be 16..512")


@dataclass(frozen=True)
class DetectionParams:
    """Box annotations of a detection dataset and the box findings' thresholds (paths relative
    to the data folder). ``annotations`` maps each split to its COCO JSON file, its YOLO labels
    folder (images in ``images_dir/<split>``) or its VOC list of image ids (XML files in
    ``voc_annotations_dir``, images in ``images_dir``)."""

    format: Literal["none", "coco", "yolo", "voc"] = "none"
    annotations: dict[str, str] = field(default_factory=dict)
    images_dir: str = "images"
    classes: str | None = None  # YOLO: the classes file (one name a line, or data.yaml names)
    voc_annotations_dir: str = "Annotations"
    # the user's detector's out-of-sample predictions per split: a COCO results JSON file or a
    # folder of YOLO txt files with a confidence (class x y w h score)
    predictions: dict[str, str] = field(default_factory=dict)
    outlier_z: float = 3.5  # a box's log aspect / log relative area this many robust SDs out
    same_object_iou: float = 0.75  # two boxes this much overlapped are drawn on one object
    max_empty_share: float = 0.02  # images without boxes are findings while this rare
    # several annotators' boxes of the same images (annotator -> split -> file, in `format`)
    annotators: dict[str, dict[str, str]] = field(default_factory=dict)
    match_iou: float = 0.5  # two annotators' boxes at this IoU or more are one object
    n_bootstrap: int = 500  # resamples of images for the agreement intervals
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        _require(
            self.format == "none" or len(self.annotations) > 0,
            "detection.annotations",
            "must map at least one split to its annotations when detection.format is set",
        )
        _require(
            self.format != "yolo" or self.classes is not None,
            "detection.classes",
            "is required for YOLO (the file naming the class of each index)",
        )
        _require(self.outlier_z > 0, "detection.outlier_z", "must be > 0")
        _require(0 < self.same_object_iou <= 1, "detection.same_object_iou", "must be in (0, 1]")
        _require(0 <= self.max_empty_share < 1, "detection.max_empty_share", "must be in [0, 1)")
        _require(0 < self.match_iou <= 1, "detection.match_iou", "must be in (0, 1]")
        _require(self.n_bootstrap >= 0, "detection.n_bootstrap", "must be >= 0")
        _require(0 < self.ci_level < 1, "detection.ci_level", "must be in (0, 1)")


@dataclass(frozen=True)
class AppParams:
    """The FiftyOne dataset `curator app` builds, and where the app is served."""

    dataset: str | None = None  # default: curator-<project folder>
    visualization: Literal["auto", "umap", "tsne", "pca", "none"] = "auto"  # auto: umap, else pca
    address: str = "127.0.0.1"
    port: int = 5151
    seed: int = 0

    def __post_init__(self) -> None:
        _require(0 < self.port < 65536, "app.port", "must be a TCP port (1..65535)")


@dataclass(frozen=True)
class Params:
    engine: EngineParams = field(default_factory=EngineParams)
    ingest: IngestParams = field(default_factory=IngestParams)
    balance: BalanceParams = field(default_factory=BalanceParams)
    hash: HashParams = field(default_factory=HashParams)
    properties: PropertiesParams = field(default_factory=PropertiesParams)
    embed: EmbedParams = field(default_factory=EmbedParams)
    shift: ShiftParams = field(default_factory=ShiftParams)
    duplicates: DuplicatesParams = field(default_factory=DuplicatesParams)
    agreement: AgreementParams = field(default_factory=AgreementParams)
    label_quality: LabelQualityParams = field(default_factory=LabelQualityParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    errors: ErrorsParams = field(default_factory=ErrorsParams)
    report: ReportParams = field(default_factory=ReportParams)
    app: AppParams = field(default_factory=AppParams)
    detection: DetectionParams = field(default_factory=DetectionParams)


_YAML_BOOLEANS = {False: ("off", "no", "false", "n"), True: ("on", "yes", "true", "y")}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a type hint, converting lists to tuples; raise ConfigError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"params: {key} must be {_describe(hint)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(hint)
        if isinstance(value, bool):  # YAML 1.1 (PyYAML, DVC's -S) reads off/no/on/yes as booleans
            spelt = [c for c in choices if str(c).lower() in _YAML_BOOLEANS[value]]
            value = spelt[0] if len(spelt) == 1 else value
        _require(value in choices, key, f"must be one of {list(choices)}, got {value!r}")
        return value
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        _require(isinstance(value, dict), key, f"must be a mapping, got {value!r}")
        return {
            _coerce(k, key_hint, key): _coerce(v, value_hint, f"{key}.{k}")
            for k, v in value.items()
        }
    if origin is tuple:
        (item_hint, _) = typing.get_args(hint)
        _require(isinstance(value, list | tuple), key, f"must be a list, got {value!r}")
        return tuple(_coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        _require(ok, key, f"must be a number, got {value!r}")
        return float(value)
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        _require(ok, key, f"must be an integer, got {value!r}")
        return value
    if hint is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a class named 1 (a folder "1") written unquoted in YAML
    _require(isinstance(value, hint), key, f"must be {_describe(hint)}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


# keys that older params.yaml files have, and what replaced them
RETIRED = {
    "duplicates.min_edge_correlation": "it was replaced by duplicates.max_distance_ratio (a "
    "unitless ratio, default 0.2: see README, How near duplicates are decided); delete the line",
}


def _build(cls: type, raw: Any, section: str) -> Any:
    if raw is None:
        return cls()
    _require(isinstance(raw, dict), section, "must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    key = f"{section}.{unknown[0]}" if unknown else section
    _require(
        not unknown,
        key,
        f"is not a known key (known: {', '.join(sorted(known))})"
        + (f"; {RETIRED[key]}" if key in RETIRED else ""),
    )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in raw.items()}
    return cls(**kwargs)


def params_from_dict(raw: dict[str, Any]) -> Params:
    hints = typing.get_type_hints(Params)
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise ConfigError(
            f"params: section '{unknown[0]}' is not known (known: {', '.join(sorted(hints))})"
        )
    return Params(**{name: _build(hints[name], raw.get(name), name) for name in hints})


def load_params(path: Path | None) -> Params:
    """Load params.yaml; ``None`` means all defaults."""
    if path is None:
        return Params()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file {path} does not exist: create it or pass --params PATH.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of sections (ingest:, balance:, ...).")
    return params_from_dict(raw)
