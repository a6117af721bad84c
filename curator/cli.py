"""The ``curator`` command: a thin click layer over the stages.

Every command parses its options, loads params once and calls one stage's ``run``; dvc.yaml
calls the same commands. Expected failures (``CuratorError``) become one ``Error: ...`` line and
a documented exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from curator import __version__
from curator.errors import CuratorError

EXIT_CODES = """Exit codes: 0 ok; 1 aborted; 2 usage error; 3 other curator error;
4 bad params; 5 bad data; 6 a required earlier output is missing; 7 an output cannot be
written (disk full, read-only folder); 8 a `curator diff --fail-on` rule broke."""


class CuratorGroup(click.Group):
    """Maps CuratorError to one line and its exit code, in one place."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CuratorError as exc:
            if ctx.meta.get("curator.debug"):
                raise
            click.secho(f"Error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


def _load(params_path: Path | None):
    """An explicit --params must exist; otherwise ./params.yaml if present, else the defaults."""
    from curator.params import load_params

    if params_path is None:
        default = Path("params.yaml")
        params_path = default if default.exists() else None
    return load_params(params_path)


params_option = click.option(
    "--params",
    "params_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Params file with every threshold and choice "
    "[default: ./params.yaml if present, else built-in defaults].",
)


def _writable(ctx: click.Context, param: click.Parameter, folder: Path) -> Path:
    """Refuse an output folder that cannot be written before any work, not after it."""
    from curator.io.tables import require_writable

    require_writable(folder)
    return folder


def _audits(writes: bool):
    """--audits: the stage outputs; a command that writes there checks it can, first."""
    return click.option(
        "--audits",
        "audits_dir",
        type=click.Path(path_type=Path),
        default="audits",
        show_default=True,
        callback=_writable if writes else None,
        help="Folder for stage outputs." if writes else "Folder of the stage outputs.",
    )


audits_option, audits_read_option = _audits(writes=True), _audits(writes=False)
engine_option = click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where the per-file work runs [default: engine.name in params].",
)


def _with_engine(params, engine: str | None):
    """Params with engine.name overridden by --engine (results do not depend on it)."""
    from dataclasses import replace

    return params if engine is None else replace(params, engine=replace(params.engine, name=engine))


class _DataRoot(click.ParamType):
    """A folder, or a URL (s3://, gs://, file://...) that must stay a string."""

    name = "path-or-url"

    def convert(self, value, param, ctx):
        from curator.io.uris import data_root

        return data_root(str(value))


data_option = click.option(
    "--data",
    "data_dir",
    type=_DataRoot(),
    default="data",
    show_default=True,
    help="The dataset folder (never modified).",
)


@click.group(cls=CuratorGroup, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="curator")
@click.option("-v", "--verbose", is_flag=True, help="Debug log output.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool, debug: bool) -> None:
    """Audit an image dataset and the model trained on it.

    \b
    Typical use (the whole pipeline, as DVC stages):
      curator demo --out data     # write the embedded demo dataset
      dvc repro                   # ingest, balance, hash, embed, duplicates, issues
      curator summary             # what was found, and where it is
    """
    ctx.meta["curator.debug"] = debug
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    # Other libraries (open_clip, faiss) narrate at INFO through the root logger: warnings only.
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("curator").setLevel(level)


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default="data",
    show_default=True,
    help="Folder to create (must not exist or be empty).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--per-class",
    type=int,
    default=300,
    show_default=True,
    help="Images drawn per digit class before planting problems.",
)
def demo(out: Path, seed: int, per_class: int) -> None:
    """Write the embedded demo dataset (real MNIST handwriting with planted problems).

    The same seed writes the same bytes, so a fresh clone regenerates exactly what data.dvc
    records. Example: curator demo --out data --seed 0
    """
    from curator.demo import write_demo

    truth = write_demo(out, seed=seed, per_class=per_class)
    click.echo(f"wrote {truth['n_files']} files to {out}/ (answers in {out}/demo_truth.json)")


@cli.command()
@click.option(
    "--data",
    "data",
    default="data",
    show_default=True,
    help="Your dataset folder, relative to the repository (track it with `dvc add`).",
)
@click.option("--force", is_flag=True, help="Replace an existing dvc.yaml and params.yaml.")
def init(data: str, force: bool) -> None:
    """Set up the audit pipeline in this git + DVC repository.

    Writes dvc.yaml (stages run the installed curator; no dependency on its source), a
    commented params.yaml and .gitignore entries. Then: fill in the metadata-column keys in
    params.yaml, `curator check --data DATA`, `dvc repro`. Example: curator init --data data
    """
    from curator.pipeline import init_project

    written = init_project(Path.cwd(), data, force)
    click.echo(
        f"init: wrote {', '.join(written)}. Next: name your metadata columns in params.yaml "
        f"(balance.subgroups, ...), then `curator check --data {data}` and `dvc repro`."
    )


@cli.command()
@data_option
@params_option
def check(data_dir: Path, params_path: Path | None) -> None:
    """Check params.yaml against the data in seconds, before any heavy stage.

    Validates every params value, lists the files (nothing is decoded) and checks that every
    key naming a metadata column (balance.subgroups, agreement.subgroups,
    label_quality.subgroups, duplicates.conflict_attributes, evaluate.sensitive_features)
    names one that exists, then lists the checks the pipeline runs. Example: curator check
    --data data
    """
    from curator.checks import checks_for
    from curator.stages.ingest import check_params_against_data

    params = _load(params_path)
    if params.detection.format != "none":
        _check_detection(Path(data_dir), params)
    else:
        s = check_params_against_data(data_dir, params)
        splits = ", ".join(f"{k} {v}" for k, v in sorted(s["by_split"].items()))
        click.echo(
            f"check: params valid; {s['n_files']} files ({splits}), {s['n_classes']} classes; "
            f"metadata columns: {', '.join(s['metadata_columns']) or 'none'}; "
            f"{len(s['keys_checked'])} keys naming them are fine."
        )
        click.echo("The checks `dvc repro` runs:")
    checks = checks_for(params)
    width = max(len(c.name) for c in checks)
    for c in checks:
        click.echo(f"  {c.name:<{width}}  {c.description}")


def _check_detection(data_dir: Path, params) -> None:
    """`curator check` for a detection dataset: every annotation (and prediction) file read and
    validated (image headers only), counted."""
    from curator.io.boxes import read_boxes, read_predictions

    listing = read_boxes(data_dir, params.detection)
    counts = listing.images["split"].value_counts()
    splits = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    if params.detection.predictions:
        n = len(read_predictions(data_dir, params.detection, listing))
        predicted = f"{n} predicted boxes"
    else:
        predicted = "no predictions (label errors and mAP need them: detection.predictions)"
    click.echo(
        f"check: params valid; {len(listing.images)} images ({splits}), {len(listing.boxes)} "
        f"boxes of {len(listing.classes)} classes ({params.detection.format}); {predicted}."
    )
    click.echo("The checks `curator boxes` runs:")


@cli.command()
@data_option
@audits_option
@params_option
@engine_option
@click.option(
    "--corrections",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Reviewers' answers (`curator review pull` writes them) applied to the labels; "
    "a file that does not exist yet holds none.",
)
def ingest(
    data_dir: Path,
    audits_dir: Path,
    params_path: Path,
    engine: str | None,
    corrections: Path | None,
) -> None:
    """Decode every image and write the manifest.

    Reads an ImageFolder tree (images/<split>/<class>/<file>) or the CSV/Parquet manifest named
    in params (ingest.manifest), joins metadata and annotations, applies reviewers'
    corrections, and lists unreadable files as findings.
    Example: curator ingest --data data --audits audits --corrections corrections.csv
    """
    from curator.stages import ingest as stage

    s = stage.run(_with_engine(_load(params_path), engine), data_dir, audits_dir, corrections)
    click.echo(
        f"ingest: {s['n_readable']} readable, {s['n_unreadable']} unreadable of "
        f"{s['n_files']} files; {s['n_classes']} classes -> {audits_dir}/"
    )


@cli.command()
@audits_option
@params_option
def balance(audits_dir: Path, params_path: Path) -> None:
    """Class imbalance, subgroup representation and split drift.

    Example: curator balance --audits audits
    """
    from curator.reporting.summary import describe_balance
    from curator.stages import balance as stage

    click.echo(f"balance: {describe_balance(stage.run(_load(params_path), audits_dir))}")


@cli.command()
@data_option
@audits_option
@params_option
def boxes(data_dir: Path, audits_dir: Path, params_path: Path | None) -> None:
    """A detection dataset's boxes (COCO, YOLO or VOC; params detection:) in one table, and the
    findings the boxes show: past the border, degenerate, odd shape or size for their class,
    drawn twice, two classes on one object, images without boxes. With your detector's
    out-of-sample predictions (detection.predictions): objects nobody boxed, wrong classes,
    misplaced boxes, and its COCO mAP on the test split with intervals. With several
    annotators' boxes (detection.annotators): their agreement, consensus boxes and the images
    where they disagree.

    Example: curator boxes --data data --audits audits
    """
    from curator.reporting.summary import describe_boxes
    from curator.stages import boxes as stage

    click.echo(describe_boxes(stage.run(_load(params_path), data_dir, audits_dir), audits_dir))


@cli.command("hash")
@data_option
@audits_option
@params_option
@engine_option
def hash_(data_dir: Path, audits_dir: Path, params_path: Path | None, engine: str | None) -> None:
    """Perceptual hashes (pHash, dHash, wHash) of every readable image.

    Example: curator hash --data data --audits audits
    """
    from curator.stages import hash as stage

    s = stage.run(_with_engine(_load(params_path), engine), data_dir, audits_dir)
    n_resumed, n_shards = s["resumed_shards"], s["shards"]
    resumed = f", resumed {n_resumed} of {n_shards} shards" if n_resumed else ""
    click.echo(f"hash: {s['n_hashed']} distinct images hashed{resumed} -> {audits_dir}/")


@cli.command()
@data_option
@audits_option
@params_option
@engine_option
def properties(
    data_dir: Path, audits_dir: Path, params_path: Path | None, engine: str | None
) -> None:
    """Image conditions: dark, overexposed, blurry, near-blank and oddly sized images.

    Measures brightness, contrast, sharpness, saturation and entropy of every distinct image.
    Example: curator properties --data data --audits audits
    """
    from curator.stages import properties as stage

    s = stage.run(_with_engine(_load(params_path), engine), data_dir, audits_dir)
    found = ", ".join(f"{k} {v}" for k, v in s["flagged"].items())
    click.echo(f"properties: {s['n_images']} distinct images measured; {found} -> {audits_dir}/")


@cli.command()
@audits_option
@params_option
def shift(audits_dir: Path, params_path: Path) -> None:
    """Is each held-out split drawn like train? Per image property and on the embeddings.

    A domain classifier's out-of-fold AUC (0.5: drawn alike) with its interval, and the
    held-out images least like train.
    Example: curator shift --audits audits
    """
    from curator.reporting.summary import describe_shift
    from curator.stages import shift as stage

    click.echo(
        f"shift: {describe_shift(stage.run(_load(params_path), audits_dir))} -> {audits_dir}/"
    )


@cli.command()
@data_option
@audits_option
@params_option
@engine_option
def embed(data_dir: Path, audits_dir: Path, params_path: Path | None, engine: str | None) -> None:
    """Image embeddings with open_clip (or the fallback descriptor when weights are absent).

    Weights come from embed.checkpoint, the local caches or (embed.download: auto) the Hugging
    Face Hub, verified by SHA-256; without them the fallback is used and recorded. Vectors are
    cached by (image bytes, model), so a re-run embeds only new images.
    Example: curator embed --data data --audits audits
    """
    from curator.stages import embed as stage

    s = stage.run(_with_engine(_load(params_path), engine), data_dir, audits_dir)
    rate = f", {s['images_per_second']:.0f} images/s" if s["images_per_second"] else ""
    click.echo(
        f"embed: {' '.join(filter(None, (s['backend'], s['model'])))}: "
        f"{s['n_embedded_now']} embedded now, {s['n_from_cache']} from cache{rate}; "
        f"device {s['device'] or '-'}, precision {s['precision'] or '-'}"
    )


@cli.group()
def weights() -> None:
    """Pretrained CLIP weights: fetch them ahead of time for a machine that will be offline.

    Example: curator weights pull
    """


@weights.command("pull")
@params_option
@click.option("--model", default=None, help="open_clip architecture [default: embed.model].")
@click.option(
    "--pretrained",
    default=None,
    help="Pretrained tag or hf-hub:<org>/<repo> [default: embed.pretrained].",
)
def weights_pull(params_path: Path | None, model: str | None, pretrained: str | None) -> None:
    """Download the embedding weights into the Hugging Face cache and print their SHA-256.

    Copy the cache (~/.cache/huggingface, or HF_HOME) to an offline machine and `embed` finds
    them there. Example: curator weights pull   (or: --model ViT-L-14 --pretrained openai)
    """
    from curator.errors import ConfigError
    from curator.features.embeddings import register_model_config
    from curator.features.weights import resolve_weights

    p = _load(params_path).embed
    model, tag = model or p.model, pretrained or p.pretrained
    register_model_config(p)
    if tag in (None, "random-init"):
        raise ConfigError("weights pull: embed.pretrained is 'random-init': nothing to download.")
    w = resolve_weights(model, tag, "auto", p.connect_timeout)
    if not w.found:
        raise CuratorError(f"weights pull: {w.how}. Check the network, HF_ENDPOINT or the proxy.")
    click.echo(f"weights: {model}/{tag}: {w.path} (sha256 {w.sha256}; {w.how})")


@cli.command()
@data_option
@audits_option
@params_option
def duplicates(data_dir: Path, audits_dir: Path, params_path: Path | None) -> None:
    """Exact and near duplicates, their clusters, label conflicts and train/val/test leakage.

    Example: curator duplicates --data data --audits audits
    """
    from curator.reporting.summary import describe_duplicates
    from curator.stages import duplicates as stage

    s = stage.run(_load(params_path), data_dir, audits_dir)
    click.echo(f"duplicates: {describe_duplicates(s)}")


@cli.command()
@audits_option
@params_option
@click.option(
    "--image-probs",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Out-of-fold class probabilities of the images (label_quality's pred_probs.parquet), "
    "weighed against the votes (agreement.image_evidence).",
)
def agreement(audits_dir: Path, params_path: Path | None, image_probs: Path | None) -> None:
    """Annotator agreement (Cohen, Fleiss, Krippendorff with CIs), reliability and consensus.

    Uses the votes ingest read from ingest.annotations; with none, records that and flags nothing.
    Example: curator agreement --audits audits --image-probs audits/pred_probs.parquet
    """
    from curator.reporting.summary import describe_agreement
    from curator.stages import agreement as stage

    s = stage.run(_load(params_path), audits_dir, image_probs)
    click.echo(f"agreement: {describe_agreement(s)}")


@cli.command("label-quality")
@data_option
@audits_option
@params_option
@click.option(
    "--pred-probs",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Your model's out-of-sample probabilities (CSV/Parquet: path or sample_id, then one "
    "column per class, named <label> or p_<label>, as in audits/pred_probs.parquet) instead of "
    "the cross-validated classifier.",
)
def label_quality(
    data_dir: Path, audits_dir: Path, params_path: Path | None, pred_probs: Path | None
) -> None:
    """Likely label errors by confident learning (cleanlab), and label-noise rates.

    Example: curator label-quality --audits audits [--pred-probs my_model_probs.parquet]
    """
    from curator.reporting.summary import describe_label_quality
    from curator.stages import label_quality as stage

    s = stage.run(_load(params_path), data_dir, audits_dir, pred_probs)
    click.echo(f"label-quality: {describe_label_quality(s)}")


@cli.command()
@data_option
@audits_option
@params_option
@click.option(
    "--findings",
    "findings",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Findings tables whose issues train.exclude may name (repeatable).",
)
def train(
    data_dir: Path, audits_dir: Path, params_path: Path | None, findings: tuple[Path, ...]
) -> None:
    """Train the classifier head on the embeddings; write val/test predictions.

    Example: curator train --audits audits --findings audits/findings/duplicates.parquet
    """
    from curator.stages import train as stage

    s = stage.run(_load(params_path), data_dir, audits_dir, findings)
    click.echo(
        f"train: {s['architecture']} head on {s['n_train']} images ({s['n_excluded']} excluded), "
        f"best epoch {s['best_epoch']}, val accuracy {s['val_accuracy']:.3f}; device {s['device']}"
    )


@cli.command()
@audits_option
@params_option
def evaluate(audits_dir: Path, params_path: Path | None) -> None:
    """Score the model overall, per subgroup and slice, and without leaked or mislabelled images.

    Example: curator evaluate --audits audits
    """
    from curator.reporting.summary import describe_evaluation
    from curator.stages import evaluate as stage

    click.echo(f"evaluate: {describe_evaluation(stage.run(_load(params_path), audits_dir))}")


@cli.command()
@data_option
@audits_option
@params_option
def errors(data_dir: Path, audits_dir: Path, params_path: Path | None) -> None:
    """Galleries of mistakes (worst groups, most confused classes) with saliency maps.

    Example: curator errors --data data --audits audits
    """
    from curator.reporting.summary import describe_errors
    from curator.stages import errors as stage

    s = stage.run(_load(params_path), data_dir, audits_dir)
    click.echo(f"errors: {describe_errors(s)} -> {audits_dir}/")


@cli.command()
@data_option
@audits_option
@params_option
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default="reports",
    show_default=True,
    callback=_writable,
    help="Where the HTML reports and model_card.json go.",
)
def report(data_dir: Path, audits_dir: Path, params_path: Path | None, reports_dir: Path) -> None:
    """Write the dataset audit and the Model Card (HTML, self-contained) and model_card.json.

    Example: curator report --data data --audits audits --reports reports
    """
    from curator.stages import report as stage

    s = stage.run(_load(params_path), data_dir, audits_dir, reports_dir)
    click.echo(
        f"report: {', '.join(s['pages'])} and {s['card']} ({s['n_performance_metrics']} "
        f"metrics with their slices, {s['n_considerations']} considerations from the findings)"
    )


@cli.command()
@data_option
@audits_read_option
@params_option
@click.option(
    "--launch/--no-launch", default=True, help="Serve the app, or only build the dataset."
)
@click.option("--port", type=int, default=None, help="Port for the app (default: app.port).")
def app(
    data_dir: Path, audits_dir: Path, params_path: Path | None, launch: bool, port: int | None
) -> None:
    """Build or refresh the FiftyOne dataset of the audit and open it in the FiftyOne app.

    Example: curator app --port 5151   (then open the printed URL; Ctrl-C stops the app)
    """
    from curator.app import session as fo_app

    params = _load(params_path)
    r = fo_app.build(params, data_dir, audits_dir)
    what = (
        f"{r.added} added, {r.removed} removed, fields updated {r.fields or 'none'}, "
        f"tags changed on {r.tags_changed}, views saved {r.views_saved or 'none'}"
        f"{', views deleted ' + str(r.views_deleted) if r.views_deleted else ''}"
        f"{', visualization ' + r.visualization if r.visualization else ''}"
    )
    click.echo(f"app: dataset {r.dataset!r}: " + (what if r.changed else "already up to date"))
    if r.kept_under_review:
        click.echo(
            f"app: ground_truth left as reviewers set it on {r.kept_under_review} sample(s) "
            "under review (tag review:<round>): `curator review pull --answers "
            "review/<round>.json`, then `dvc repro`, makes it the audit's label."
        )
    if launch:
        session = fo_app.launch(params, r.dataset, port)
        click.echo(f"app: open {session.url} (Ctrl-C to stop)")
        session.wait(-1)


@cli.command()
@data_option
@params_option
@click.option(
    "--view",
    "view_name",
    default="review queue",
    show_default=True,
    help="A saved view of the dataset, e.g. 'issue: label_issue'.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["fiftyone", "classification-tree", "csv"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Export folder (created)."
)
def export(data_dir: Path, params_path: Path | None, view_name: str, fmt: str, out: Path) -> None:
    """Export a flagged subset of the app's dataset for annotators (FiftyOne's exporters).

    Example: curator export --view "review queue" --format csv --out exports/queue
    """
    from curator.app import session as fo_app

    params = _load(params_path)
    name = fo_app.dataset_name(params, data_dir)
    n = fo_app.export(params, name, view_name, fmt, out)
    click.echo(f"export: {n} images of view {view_name!r} from {name!r} -> {out} ({fmt})")


@cli.command()
@click.argument("findings", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default="audits/issues.parquet",
    show_default=True,
    help="Where to write the union.",
)
@click.option(
    "--review-queue",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the relabel review queue (label signals of every check, ranked) here.",
)
@click.option(
    "--label-evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="label_quality.json: whether the model's label scores are probabilities (its evidence "
    "check passed) or only an order, which the queue then does not add up as probabilities.",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="manifest.parquet: images people already relabelled or confirmed stay out of the "
    "queue until new evidence appears.",
)
@click.option(
    "--annotations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="annotations.parquet: more annotators' votes on a reviewed image are new evidence "
    "(a reviewer's own answer is not).",
)
def issues(
    findings: tuple[Path, ...],
    out: Path,
    review_queue: Path | None,
    label_evidence: Path | None,
    manifest: Path | None,
    annotations: Path | None,
) -> None:
    """Union the findings tables of every stage into one issues table.

    Example: curator issues audits/findings/ingest.parquet audits/findings/balance.parquet
    --review-queue audits/review_queue.parquet --label-evidence audits/label_quality.json
    --manifest audits/manifest.parquet --annotations audits/annotations.parquet
    """
    from curator.stages import issues as stage

    table = stage.run(findings, out, review_queue, label_evidence, manifest, annotations)
    click.echo(f"issues: {len(table)} findings from {len(findings)} stage(s) -> {out}")


@cli.command()
@audits_read_option
@click.option("--files", is_flag=True, help="Also list every output file.")
def summary(audits_dir: Path, files: bool) -> None:
    """Print what to fix first, one line per stage, and where the reports are.

    Example: curator summary --audits audits
    """
    from curator.reporting.summary import render_summary

    click.echo(render_summary(audits_dir, files))


@cli.command()
@click.argument("a")
@click.argument("b", default="audits")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The git + DVC repository whose revisions A and B name.",
)
@click.option(
    "--audits",
    "audits_name",
    default="audits",
    show_default=True,
    help="The audits folder inside the repository (or inside a folder given as A or B).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the page for reviewers here.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every number, for machines, here.",
)
@click.option(
    "--fail-on",
    "rules",
    multiple=True,
    help="Exit with code 8 if B breaks this rule (repeatable): new-leaks, accuracy-drop, "
    "worst-group, or new:<issue> (e.g. new:label_issue).",
)
def diff(
    a: str,
    b: str,
    repo: Path,
    audits_name: str,
    html_path: Path | None,
    json_path: Path | None,
    rules: tuple[str, ...],
) -> None:
    """Compare two audits: data (added, removed, changed, relabelled), findings (resolved,
    new, persisting per kind) and the model on the test images both evaluated, with paired
    bootstrap intervals and McNemar's test. A and B are audits folders, git revisions or DVC
    experiment names; B defaults to the workspace's audits folder.

    Example: curator diff HEAD --html review/diff.html --fail-on new-leaks --fail-on accuracy-drop
    """
    from curator.errors import RuleBroken
    from curator.io.tables import atomic_path, write_json
    from curator.review import diff as compare
    from curator.review.snapshots import open_audit

    compare.validate_rules(rules)
    result = compare.compare(open_audit(a, repo, audits_name), open_audit(b, repo, audits_name))
    broken = compare.check_rules(result, rules)
    result["rules"] = {"checked": list(rules), "broken": broken}
    if json_path is not None:
        write_json(result, json_path)
    if html_path is not None:
        from curator.reporting.diff_page import page

        with atomic_path(html_path) as tmp:
            tmp.write_text(page(result), encoding="utf-8")
    click.echo(compare.text(result))
    if broken:
        raise RuleBroken("diff: --fail-on: " + "; ".join(broken))


@cli.group()
def review() -> None:
    """Send flagged images to people and bring their answers back as corrections.

    A round: `curator review push` sends the top of the review queue with its evidence to
    reviewers (a CSV they edit, or a Label Studio project); `curator review pull` adds their
    answers to corrections.csv (beside the data, versioned by you); `dvc repro` applies them
    (the ingest stage) and re-audits. `curator review serve` starts Label Studio on this
    machine for a single reviewer.

    Example: curator review push --out review/round-1.csv --top 100
    """


api_key_option = click.option(
    "--api-key",
    envvar="CURATOR_LABEL_STUDIO_API_KEY",
    default=None,
    help="Label Studio personal access token [env CURATOR_LABEL_STUDIO_API_KEY; default: the "
    "key of the server `curator review serve` started].",
)


@review.command("push")
@audits_read_option
@data_option
@click.option(
    "--tool",
    type=click.Choice(["file", "label-studio", "app"]),
    default="file",
    show_default=True,
    help="Where reviewers answer: file = a CSV they edit; label-studio = a project on a "
    "Label Studio server (--url, or the one `curator review serve` started); app = a saved "
    "view of the audit's FiftyOne dataset (`curator app`).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The tasks file (review/round-1.csv) or, for Label Studio and the app, the push "
    "record (review/round-1.json) that pull reads.",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="The queue's first N.")
@click.option(
    "--paths",
    "paths_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Push these images instead: one path per line (relative to the data folder), or a "
    "CSV with a path column or a filepath column (`curator export --format csv` of a saved "
    "view).",
)
@click.option(
    "--random",
    "random_n",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also push this many images drawn at random from those no one has reviewed: their "
    "answers estimate the wrong labels left (100 is a good start).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random draw.")
@click.option("--url", default=None, help="Label Studio's URL [default: curator's own server].")
@api_key_option
@click.option(
    "--image-url",
    default=None,
    help="Where Label Studio finds the images: a URL prefix the paths are appended to "
    "[default: the server's local files, as `curator review serve` sets up].",
)
@click.option("--force", is_flag=True, help="Replace an existing --out.")
@params_option
def review_push(
    audits_dir: Path,
    data_dir: Path,
    tool: str,
    out: Path,
    top: int | None,
    paths_file: Path | None,
    random_n: int,
    seed: int,
    url: str | None,
    api_key: str | None,
    image_url: str | None,
    force: bool,
    params_path: Path | None,
) -> None:
    """Send review tasks: each image with its given label, the model's suggestion, the
    annotators' consensus, why it was flagged and its twins.

    Example: curator review push --out review/round-1.csv --top 500 (or, to Label Studio:
    --tool label-studio --out review/round-1.json; to the FiftyOne app: --tool app --out
    review/round-1.json)
    """
    from curator.review import rounds

    paths = None if paths_file is None else rounds.read_paths(paths_file, str(data_dir))
    rows = rounds.select(audits_dir, top, paths, random_n, seed)
    server = rounds.server(url, api_key, image_url) if tool == "label-studio" else None
    dataset = None
    if tool == "app":
        from curator.app.session import dataset_name

        dataset = dataset_name(_load(params_path), Path(data_dir))
    pushed = rounds.push(audits_dir, str(data_dir), out, rows, force, server, dataset)
    if dataset is not None:
        what = (
            f"In the FiftyOne app (`curator app`), dataset {dataset!r}, saved view 'review: "
            f"{out.stem}': tag each sample 'confirmed', or give its class (edit ground_truth, "
            f"or tag 'relabel:<class>'); then `curator review pull --answers {pushed.out}`."
        )
    elif server is None:
        what = (
            "Reviewers fill verdict (relabel or confirmed), new_label and reviewer; then "
            f"`curator review pull --answers {pushed.out}`."
        )
    else:
        what = (
            f"Label Studio project {pushed.project} at {server.url}; record -> {pushed.out}. "
            f"When reviewed: `curator review pull --answers {pushed.out}`."
        )
    click.echo(f"review push: {pushed.n_tasks} task(s). {what}")


@review.command("pull")
@audits_read_option
@data_option
@click.option(
    "--answers",
    "answers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="What push wrote: the tasks file the reviewers answered, or a Label Studio push "
    "record (.json).",
)
@click.option(
    "--corrections",
    "corrections_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("corrections.csv"),
    show_default=True,
    help="The corrections file the ingest stage applies (appended to, never rewritten).",
)
@api_key_option
@click.option(
    "--reviewer",
    default=None,
    help="Who answered in the FiftyOne app (it has no accounts) [default: your login name]; "
    "files and Label Studio name their reviewers themselves.",
)
def review_pull(
    audits_dir: Path,
    data_dir: Path,
    answers_file: Path,
    corrections_file: Path,
    api_key: str | None,
    reviewer: str | None,
) -> None:
    """Add reviewers' answers to the corrections file; answers already there are skipped.

    Example: curator review pull --answers review/round-1.csv
    """
    from curator.review import rounds

    pulled = rounds.pull(
        audits_dir, str(data_dir), answers_file, corrections_file, api_key, reviewer
    )
    for line in pulled.set_aside:
        click.secho(f"set aside: {line}", err=True, fg="yellow")
    click.echo(
        f"review pull: {pulled.n_added} answer(s) added to {pulled.corrections}, "
        f"{pulled.n_already} already there, {len(pulled.set_aside)} set aside, "
        f"{pulled.n_open} task(s) not answered yet. Next: `dvc repro` applies them."
    )


@review.command("serve")
@data_option
@click.option("--port", type=click.IntRange(1024, 65535), default=8080, show_default=True)
@click.option(
    "--label-studio",
    "executable",
    default=None,
    help="The label-studio program [default: CURATOR_LABEL_STUDIO, then "
    ".venv-labelstudio/bin/label-studio (`make labelstudio`), then PATH].",
)
def review_serve(data_dir: Path, port: int, executable: str | None) -> None:
    """Start Label Studio on 127.0.0.1 for one reviewer, serving the data folder's images
    read-only; its database and key live in .curator/label-studio/. Stops on Ctrl-C.

    Example: curator review serve --data data
    """
    import signal

    from curator.review import label_studio, rounds

    process, state = label_studio.serve(
        label_studio.binary(executable), Path(data_dir), rounds.LOCAL_STATE, port
    )
    click.echo(
        f"review serve: Label Studio at {state['url']} (log in as {state['email']}, password "
        f"in {rounds.LOCAL_STATE / label_studio.STATE_FILE}). Push with `curator review push "
        "--tool label-studio --out review/round-1.json --top 100`. Ctrl-C stops it."
    )
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())  # stopping it stops the server
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    cli(prog_name="curator")


if __name__ == "__main__":
    main()
