"""The reports: schema-valid JSON card, every number traced to audits/, markup in the data shown
as text, and (when chromium is installed) pages that render with no console errors or requests."""

import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curator import artifacts
from curator.params import ReportParams
from curator.reporting.model_card import SCHEMA, validate_card
from curator.stages import balance, evaluate, report, shift

SCRIPT = "<script>alert(1)</script>"


class NumberSpans(HTMLParser):
    """Collects (data-src, shown text) of every <span class="num">, and tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self._src: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "span" and attrs.get("class") == "num":
            self._src, self._text = attrs["data-src"], ""

    def handle_data(self, data):
        if self._src is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "span" and self._src is not None:
            self.spans.append((self._src, self._text))
            self._src = None


def parse(path: Path) -> NumberSpans:
    parser = NumberSpans()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def lookup(audits: Path, src: str):
    name, path = src.split(" ", 1)
    node = json.loads((audits / name).read_text())
    for key in json.loads(path):
        node = node[key]
    return node


@pytest.fixture(scope="module")
def reports(audited_demo, demo_data, tmp_path_factory):
    params, audits, _ = audited_demo
    out = tmp_path_factory.mktemp("reports")
    summary = report.run(params, demo_data[0], audits, out)
    return params, audits, out, summary


def test_model_card_json_follows_the_schema_and_its_metrics_come_from_evaluation(reports):
    _, audits, out, _ = reports
    card = json.loads((out / "model_card.json").read_text())
    jsonschema.validate(card, json.loads(SCHEMA.read_text()))
    ev = json.loads((audits / artifacts.EVALUATION).read_text())
    metrics = card["quantitative_analysis"]["performance_metrics"]
    overall = {m["type"]: m for m in metrics if "slice" not in m}
    assert overall["accuracy"]["value"] == ev["overall"]["accuracy"]
    ci = overall["accuracy"]["confidence_interval"]
    assert [ci["lower_bound"], ci["upper_bound"]] == ev["overall"]["accuracy_ci"]
    sliced = [m for m in metrics if "slice" in m and m["type"] == "accuracy"]
    assert sliced, "per-group metrics carry their slice"
    for m in sliced:
        grouping, group = m["slice"].split("=", 1)
        assert m["value"] == ev["subgroups"][grouping]["groups"][group]["accuracy"]
    # groups too small to report have no number in the card
    small = [
        f"{g}={name}"
        for g, s in ev["subgroups"].items()
        for name, entry in s["groups"].items()
        if "accuracy" not in entry
    ]
    assert small and not any(m.get("slice") in small for m in metrics)
    # placeholders say which key to fill
    assert card["model_details"]["licenses"] == [
        {"custom_text": "Not stated: fill report.license in params.yaml."}
    ]
    names = [c["name"] for c in card["considerations"]["ethical_considerations"]]
    # most severe first; every group too small to report in one line
    order = [n[1 : n.index("]")] for n in names]
    assert order == sorted(order, key=["high", "medium", "low"].index) and "low" in order
    assert sum("too few to report" in n for n in names) == 1
    fair = [m for m in metrics if m["type"] == "demographic_parity_difference"]
    assert fair and all("one-vs-rest" in m["slice"] for m in fair)
    leaks = ev["data_quality_corrected"]["without_leaks"]["n_excluded"]
    assert any(f"({leaks})" in n and "leak from train" in n for n in names)


def test_schema_rejects_a_malformed_card():
    bad = {
        "schema_version": "0.0.2",
        "quantitative_analysis": {"performance_metrics": [{"type": "accuracy", "value": "high"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_card(bad)
    with pytest.raises(jsonschema.ValidationError):
        validate_card({"model_details": {"licenses": [{}]}})


def test_every_number_on_both_pages_traces_to_an_audit_file(reports):
    _, audits, out, summary = reports
    for page in ("model_card.html", "dataset_audit.html"):
        spans = parse(out / page).spans
        assert len(spans) == summary["numbers_traced"][page] > 40
        for src, shown in spans:
            value = lookup(audits, src)
            assert isinstance(value, int | float), src
            assert shown.rstrip("%") in {
                format(value, f)
                for f in (".3f", "d", ".2f", ".1f", ".3g", "g", "+.3f", "+.4f")
                if not (f == "d" and isinstance(value, float))
            } | {format(value, ".1%").rstrip("%"), format(value, ".0%").rstrip("%")}, src


def test_near_pairs_come_first_with_thumbnails_and_exact_ones_are_summarised(reports):
    params, audits, out, _ = reports
    html = (out / "dataset_audit.html").read_text()
    pairs = pd.read_parquet(audits / artifacts.DUPLICATES)
    near, exact = pairs[pairs["kind"] == "near"], pairs[pairs["kind"] != "near"]
    assert len(near) and len(exact)
    near_at, exact_at = html.index('id="near-pairs"'), html.index('id="exact-pairs"')
    assert near_at < exact_at
    section = html[near_at:exact_at]
    shown = min(len(near), params.report.thumbnails)
    assert section.count('class="thumb pair near"') == shown
    assert section.count('src="data:image/') == 2 * shown  # both images of every pair
    first = near.sort_values(["cross_split", "score"], ascending=[False, False]).iloc[0]
    assert section.index(first["path_a"]) < section.index("</div>\n</div>")
    summary = html[exact_at : html.index('id="labels"')]
    assert "data:image/" not in summary  # exact copies: counted and listed, no thumbnails
    for kind, group in exact.groupby("kind"):
        assert f'<td>{kind.replace("_", " ")}</td><td class="n">{len(group)}</td>' in summary


def test_pages_are_self_contained(reports):
    _, _, out, _ = reports
    for page in ("model_card.html", "dataset_audit.html"):
        html = (out / page).read_text()
        tags = parse(out / page).tags
        assert "script" not in tags and "link" not in tags and "iframe" not in tags
        assert 'src="http' not in html and 'href="http' not in html and "url(http" not in html
        assert "default-src 'none'" in html  # any request the page might make is blocked
        assert html.count('src="data:image/') >= 3


def test_markup_in_metadata_is_shown_as_text(audited_demo, demo_data, tmp_path):
    params, audits, _ = audited_demo
    work = tmp_path / "audits"
    shutil.copytree(audits, work)
    manifest = pd.read_parquet(work / artifacts.MANIFEST)
    manifest["site"] = manifest["site"].replace("site-A", SCRIPT)
    manifest.to_parquet(work / artifacts.MANIFEST, index=False)
    params = replace(params, report=ReportParams(model_name=SCRIPT, owners=(SCRIPT,)))
    balance.run(params, work)
    evaluate.run(params, work)
    report.run(params, demo_data[0], work, tmp_path / "reports")
    for page in ("model_card.html", "dataset_audit.html"):
        html = (tmp_path / "reports" / page).read_text()
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "script" not in parse(tmp_path / "reports" / page).tags


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def assert_renders(page: Path, shot: Path) -> None:
    """``page`` loads in headless Chromium with no console line (errors, CSP violations:
    blocked requests) and shows something (screenshot, 1280 x 2400, to ``shot``)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,2400",
                f"--screenshot={shot}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 20  # text, tables and figures, not a blank page


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_pages_render_in_headless_chromium_without_errors(reports, tmp_path):
    _, _, out, _ = reports
    for page in ("model_card.html", "dataset_audit.html"):
        assert_renders(out / page, tmp_path / f"{page}.png")


def test_no_groups_to_evaluate_still_gives_a_card(audited_demo, demo_data, tmp_path):
    params, audits, _ = audited_demo
    work = tmp_path / "audits"
    shutil.copytree(audits, work)
    no_groups = replace(params.evaluate, sensitive_features=(), slices=0, condition_bins=0)
    params = replace(params, evaluate=no_groups)
    summary = evaluate.run(params, work)
    assert summary["subgroups"] == {} and summary["worst_group"] is None
    report.run(params, demo_data[0], work, tmp_path / "reports")
    html = (tmp_path / "reports" / "model_card.html").read_text()
    assert "No groups were evaluated" in html
    card = json.loads((tmp_path / "reports" / "model_card.json").read_text())
    slices = {m.get("slice") for m in card["quantitative_analysis"]["performance_metrics"]}
    assert all(s is None or s.startswith("without_") for s in slices)  # no group slices


def test_label_counts_are_stated_only_when_the_evidence_holds(
    reports, audited_demo, demo_data, tmp_path
):
    from curator.reporting.summary import render_summary
    from curator.stages import issues, label_quality

    # the demo's evidence holds: a count, a noise rate with its interval
    _, _, out, _ = reports
    assert "probably carry a wrong label" in (out / "dataset_audit.html").read_text()
    assert "probably carry a wrong label" in (out / "model_card.html").read_text()
    # the same audit with a bar no ranking can clear: the check fails, nothing is counted
    params, audits, _ = audited_demo
    work = tmp_path / "audits"
    shutil.copytree(audits, work)
    strict = replace(params, label_quality=replace(params.label_quality, min_planted_auc=1.0))
    summary = label_quality.run(strict, demo_data[0], work)
    assert not summary["evidence"]["supported"] and summary["n_label_issues"] is None
    stages = ("ingest", "balance", "duplicates", "agreement", "label_quality")
    issues.run(
        [work / artifacts.findings(s) for s in stages],
        work / artifacts.ISSUES,
        work / artifacts.REVIEW_QUEUE,
    )
    evaluate.run(strict, work)
    report.run(strict, demo_data[0], work, tmp_path / "reports")
    audit_page = (tmp_path / "reports" / "dataset_audit.html").read_text()
    card_page = (tmp_path / "reports" / "model_card.html").read_text()
    card = (tmp_path / "reports" / "model_card.json").read_text()
    text = render_summary(work)
    for shown in (audit_page, card_page, card, text):
        assert "probably carry a wrong label" not in shown
        assert "likely label errors" not in shown
    assert "Not enough evidence for a count of label errors" in audit_page
    assert "Label noise could not be measured" in card_page and "not counted as errors" in card
    assert "a review list, not a count of errors" in card_page
    assert "not enough evidence for a count of label errors" in text
    assert "curator weights pull" in audit_page and "curator weights pull" in card_page
    for src, shown in parse(tmp_path / "reports" / "dataset_audit.html").spans:
        assert shown.strip() != "None", src


def test_the_data_version_and_date_are_the_audited_datas(tmp_path):
    """DVC's md5 and the commit date only while data.dvc is committed, unchanged and describes
    the folder; a dataset copied over the tracked one keeps the record but loses the date."""
    from curator.reporting.context import provenance
    from tests.conftest import write_image
    from tests.test_pipeline import BIN

    def run(*command):
        subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)

    run("git", "init", "-q")
    run("git", "config", "user.name", "t")
    run("git", "config", "user.email", "t@example.com")
    run(str(BIN / "dvc"), "init", "-q")
    data = tmp_path / "data"
    write_image(data / "a.png", seed=1)
    ingest = {"data_digest": "ab" * 32, "n_files": 1}
    assert provenance(data, ingest)["unversioned"].startswith("not tracked by DVC")
    run(str(BIN / "dvc"), "add", "-q", "data")
    assert "not committed to git" in provenance(data, ingest)["unversioned"]
    run("git", "add", "-A")
    run("git", "commit", "-qm", "data v1")
    p = provenance(data, ingest)
    assert p["unversioned"] is None and p["version"] == p["data_dvc_md5"] and p["date"]
    write_image(data / "b.png", seed=2)  # a new dataset copied in, no `dvc add`
    p = provenance(data, ingest)
    assert "does not describe the audited folder" in p["unversioned"] and p["date"] is None
    assert p["version"] == "sha256:" + "ab" * 8


def test_both_pages_say_why_their_leak_counts_differ(audited_demo, demo_data, tmp_path):
    params, audits, _ = audited_demo
    work = tmp_path / "audits"
    shutil.copytree(audits, work)
    doc = json.loads((work / artifacts.DUPLICATES_SUMMARY).read_text())
    test = doc["leakage"]["test"]
    test["leaked"] += 13  # as on the face data: 13 test images whose twin is only in val
    test["leaked_only_from_other_splits"] = 13
    (work / artifacts.DUPLICATES_SUMMARY).write_text(json.dumps(doc))
    report.run(params, demo_data[0], work, tmp_path / "reports")
    card = " ".join((tmp_path / "reports" / "model_card.html").read_text().split())
    trained_on = test["leaked_from_train"]
    assert f"{trained_on}</span> of them have a twin in train (leakage)" in card
    assert "the dataset audit counts <span" in card and "13</span> more have a twin only" in card
    audit = (tmp_path / "reports" / "dataset_audit.html").read_text()
    assert 'The Model Card\'s leakage count is the "twin in train" column' in audit


def test_the_cards_factors_name_the_image_condition_groups(reports):
    _, _, out, _ = reports
    card = " ".join((out / "model_card.html").read_text().split())
    assert "Image conditions, measured from the pixels:" in card
    assert "brightness, contrast, sharpness, entropy" in card  # the demo is greyscale


def test_the_deployment_checklist_answers_four_questions_with_working_links(reports):
    _, audits, out, _ = reports
    card = (out / "model_card.html").read_text()
    audit = (out / "dataset_audit.html").read_text()
    start = card.index('<table class="checklist">')
    table = card[start : card.index("</table>", start)]
    questions = re.findall(r"<tr><td>([^<]+\?)</td>", table)
    assert questions == [
        "Who is under-represented?",
        "Where does it fail?",
        "Is the test set clean?",
        "Would the numbers hold on new data?",
    ]
    links = re.findall(r'href="([^"]*)#([^"]+)"', table)
    assert {page for page, _ in links} == {"", "dataset_audit.html"}
    for page, anchor in links:
        assert f'id="{anchor}"' in (audit if page else card), (page, anchor)
    # the answers state the findings behind them: the demo's leaks and its minority class
    leaks = json.loads((audits / artifacts.EVALUATION).read_text())["data_quality_corrected"]
    assert (
        f">{leaks['without_leaks']['n_excluded']}</span> test images have a twin in train" in table
    )
    balance_doc = json.loads((audits / artifacts.BALANCE_SUMMARY).read_text())
    assert f"Minority class(es): {', '.join(balance_doc['minority_classes'])}" in table


def test_the_card_says_whether_each_held_out_split_is_drawn_like_train(reports):
    _, audits, out, _ = reports
    card = (out / "model_card.html").read_text()
    start = card.index('<h3 id="shift">')
    section = card[start : card.index("</table>", start)]
    shift = json.loads((audits / artifacts.SHIFT_SUMMARY).read_text())
    assert set(shift["embedding"]) == {"val", "test"}
    for split, e in shift["embedding"].items():
        src = f'data-src="shift.json [&#34;embedding&#34;, &#34;{split}&#34;, &#34;auc&#34;]"'
        assert f"{src}>{e['auc']:.3f}</span>" in section, split
        verdict = "shifted" if e["shifted"] else "drawn like train"
        assert f"<td>{split}</td>" in section and verdict in section


def test_a_split_too_small_to_test_and_no_permutation_null_still_give_both_pages(
    audited_demo, demo_data, tmp_path
):
    params, audits, _ = audited_demo
    work = tmp_path / "audits"
    shutil.copytree(audits, work)
    small = replace(params.shift, folds=500, n_permutations=0)  # val has fewer than 500 images
    params = replace(params, shift=small)
    summary = shift.run(params, work)
    val = summary["embedding"]["val"]
    assert val["shifted"] is None and "skipped" in val
    report.run(params, demo_data[0], work, tmp_path / "reports")
    audit = (tmp_path / "reports" / "dataset_audit.html").read_text()
    assert "fewer than shift.folds=500 images in val or train" in audit
    params = replace(params, shift=replace(params.shift, folds=5))  # an AUC, but no null
    assert shift.run(params, work)["embedding"]["val"]["shifted"] is None
    report.run(params, demo_data[0], work, tmp_path / "reports")
    audit = (tmp_path / "reports" / "dataset_audit.html").read_text()
    assert audit.count("no verdict (shift.n_permutations: 0)") == 2  # val and test


def test_the_dataset_audit_opens_with_what_to_fix_first(reports):
    """The first section is the triage table: the same findings in the same order as
    `curator summary`, each count traced to its audit file, each with where to look."""
    from curator.reporting.summary import load_present
    from curator.reporting.triage import triage

    _, audits, out, _ = reports
    page = (out / "dataset_audit.html").read_text()
    first_h2 = page[page.index("<h2") : page.index("</h2>")]
    assert first_h2.endswith('id="triage">What to fix first')
    start = page.index('<table class="triage">')
    rows = page[start : page.index("</table>", start)].split("<tr>")[2:]
    found = triage(load_present(audits))
    assert len(rows) == len(found) > 3
    for row, f in zip(rows, found, strict=True):
        assert f'<span class="sev {f["severity"]}">' in row
        assert html.unescape(row).count(f["what"]) == 1
        if f["source"]:
            assert f'data-src="{f["source"][0]} ' in row
