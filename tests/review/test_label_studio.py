"""Review rounds through a real Label Studio server on 127.0.0.1, started by `curator review
serve` (Label Studio from its own environment: `make labelstudio`), answered through its API as
a reviewer's clicks would be; and the round's bad inputs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from curator import artifacts
from curator.errors import CuratorError, DataError
from curator.review import label_studio, rounds
from curator.review.label_studio import Client, LabelStudioError
from curator.stages import ingest
from tests.conftest import REPO, tree_digest

START_S = 900  # a first start migrates a new database: about a minute here, more on a busy CI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(demo_data, tmp_path_factory):
    """`curator review serve` over the demo's images, once per test session: (url, key)."""
    data, _ = demo_data
    home = tmp_path_factory.mktemp("reviewer")
    env = os.environ | {"CURATOR_LABEL_STUDIO": str(REPO / label_studio.DEFAULT_BINARY)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curator.cli",
            "review",
            "serve",
            "--data",
            str(data),
            "--port",
            str(free_port()),
        ],
        cwd=home,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    state = home / rounds.LOCAL_STATE / label_studio.STATE_FILE
    deadline = time.monotonic() + START_S
    while not state.exists():
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "curator review serve did not come up"
        time.sleep(2)
    doc = json.loads(state.read_text())
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds the key
    yield doc["url"], doc["api_key"]
    process.send_signal(signal.SIGTERM)  # the command stops the server it started
    try:
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the session
            os.killpg(process.pid, signal.SIGKILL)


def pushed_tasks(client: Client, project: int) -> list[dict]:
    return sorted(client.export(project), key=lambda t: t["id"])


def test_a_round_through_label_studio(served, audited_demo, demo_data, audits, tmp_path):
    url, key = served
    params, _, _ = audited_demo
    data, truth = demo_data
    flips = {f["path"]: f["true_label"] for f in truth["label_flips"]}
    before = tree_digest(data)
    record_file = tmp_path / "review" / "round-1.json"
    rows = rounds.select(audits, 12, None)
    pushed = rounds.push(audits, str(data), record_file, rows, False, rounds.Server(url, key))
    assert pushed.n_tasks == 12 and key not in record_file.read_text()  # no secret in it
    client = Client(url, key)
    tasks = pushed_tasks(client, pushed.project)
    assert [t["data"]["path"] for t in tasks] == rows["path"].tolist()
    manifest = pd.read_parquet(audits / artifacts.MANIFEST).set_index("path")
    first = tasks[0]
    assert first["data"]["given_label"] == manifest.loc[first["data"]["path"], "label"]
    assert first["data"]["reasons"] and first["data"]["evidence"]
    # the model's suggestion is the pre-annotation the reviewer accepts or changes
    suggested = [t for t in tasks if t["data"]["suggested_label"]]
    assert suggested and all(t["total_predictions"] == 1 for t in suggested)
    # the reviewer's browser gets the very bytes of the image
    image = client.session.get(url + first["data"]["image"], timeout=30)
    assert image.status_code == 200
    assert image.content == (data / first["data"]["path"]).read_bytes()

    # the reviewer answers ten of twelve: planted errors to their true class, the rest as given
    for task in tasks[:10]:
        path = task["data"]["path"]
        client.annotate(task["id"], flips.get(path, task["data"]["given_label"]))
    fixes = tmp_path / "corrections.csv"
    pulled = rounds.pull(audits, str(data), record_file, fixes, key)
    assert (pulled.n_added, pulled.n_already, pulled.n_open, pulled.set_aside) == (10, 0, 2, [])
    written = fixes.read_bytes()
    again = rounds.pull(audits, str(data), record_file, fixes, key)
    assert (again.n_added, again.n_already) == (0, 10) and fixes.read_bytes() == written
    table = pd.read_csv(fixes, dtype=str, keep_default_na=False)
    assert set(table["reviewer"]) == {"reviewer@localhost"}
    assert table["task"].str.startswith("round-1.json#").all()
    assert (table["drawn"] == "queue").all()  # how each image came to review comes back

    summary = ingest.run(params, data, audits, fixes)
    answered = [t["data"]["path"] for t in tasks[:10]]
    n_flips = sum(p in flips for p in answered)
    assert n_flips >= 3  # the queue's top holds planted errors
    assert summary["corrections"]["n_relabelled"] == n_flips
    assert summary["corrections"]["n_confirmed"] == 10 - n_flips
    after = pd.read_parquet(audits / artifacts.MANIFEST).set_index("path")
    for path in answered:
        assert after.loc[path, "label"] == flips.get(path, manifest.loc[path, "label"])
    assert tree_digest(data) == before and fixes.read_bytes() == written


def test_bad_inputs_from_a_server(served, demo_data, audits, tmp_path):
    url, key = served
    data, _ = demo_data
    client = Client(url, key)
    record_file = tmp_path / "round-2.json"
    pushed = rounds.push(
        audits,
        str(data),
        record_file,
        rounds.select(audits, 3, None),
        False,
        rounds.Server(url, key),
    )
    tasks = pushed_tasks(client, pushed.project)
    # someone edits the labelling view and answers with a class the data does not have
    config = client._call("GET", f"/api/projects/{pushed.project}").json()["label_config"]
    client._call(
        "PATCH",
        f"/api/projects/{pushed.project}",
        json={"label_config": config.replace("</Choices>", '<Choice value="unicorn"/></Choices>')},
    )
    client.annotate(tasks[0]["id"], "unicorn")
    fixes = tmp_path / "corrections.csv"
    with pytest.raises(DataError) as err:
        rounds.pull(audits, str(data), record_file, fixes, key)
    assert f"{record_file} task {tasks[0]['id']}: new_label 'unicorn' is not a class" in str(
        err.value
    )
    assert "Nothing was applied." in str(err.value) and not fixes.exists()

    # a deleted task is named with its image; the others come through
    client._call("DELETE", f"/api/tasks/{tasks[0]['id']}")
    client.annotate(tasks[1]["id"], tasks[1]["data"]["given_label"])
    pulled = rounds.pull(audits, str(data), record_file, fixes, key)
    assert pulled.n_added == 1 and pulled.n_open == 1
    assert pulled.set_aside == [
        f"{record_file} task {tasks[0]['id']} ({tasks[0]['data']['path']}): deleted from "
        f"project {pushed.project}; push the image again to review it"
    ]

    # a deleted project, a wrong key, a server that is not there: one line each, nothing lost
    written = fixes.read_bytes()
    client._call("DELETE", f"/api/projects/{pushed.project}")
    with pytest.raises(LabelStudioError, match=r"is not on Label Studio at .*deleted"):
        rounds.pull(audits, str(data), record_file, fixes, key)
    with pytest.raises(LabelStudioError, match="refused the API key"):
        Client(url, "not-a-key")
    gone = json.loads(record_file.read_text()) | {"url": f"http://127.0.0.1:{free_port()}"}
    record_file.write_text(json.dumps(gone))
    with pytest.raises(LabelStudioError, match=r"cannot reach Label Studio at http://127\.0\.0\.1"):
        rounds.pull(audits, str(data), record_file, fixes, key)
    assert fixes.read_bytes() == written


def test_serve_says_how_to_install_label_studio_when_it_is_missing(monkeypatch):
    monkeypatch.delenv("CURATOR_LABEL_STUDIO", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.chdir("/")
    with pytest.raises(
        CuratorError, match="label-studio is not installed: install it in an environment of its own"
    ):
        label_studio.binary(None)
