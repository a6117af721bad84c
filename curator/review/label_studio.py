"""Review in Label Studio: the user's server (URL + API key) or one curator starts on 127.0.0.1.

Push creates a project whose labelling view shows the image, the given label and why it was
flagged, with one choice per class; the model's suggested label is loaded as a prediction, so
the reviewer accepts or changes it. Everything a reviewer needs (consensus and its confidence,
twins, the model's probability) is in the task's data, and the push is recorded in a JSON file
(server, project, each task's image and the bytes pushed; never the key) that pull reads back.
Pull exports the project, takes every submitted annotation (a reviewer's latest counts later,
in ingest), and reports tasks deleted from the project, one line each.

Only Label Studio's REST API is used (requests): its SDK pins clash with curator's, and the
server itself runs in its own environment (`make labelstudio`, or the user's deployment).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import pandas as pd
import requests

from curator.errors import CuratorError, DataError
from curator.io.tables import atomic_path
from curator.review import corrections

FROM_NAME = "label"  # the choices control in the labelling view
TIMEOUT_S = 60
STATE_FILE = "server.json"  # a local server's URL and API key, in its state folder
DEFAULT_BINARY = ".venv-labelstudio/bin/label-studio"  # `make labelstudio` installs it here


class LabelStudioError(CuratorError):
    """The server cannot be reached or refuses a request."""


class Client:
    """Label Studio's REST API with a personal access token (exchanged for short-lived access
    tokens) or a legacy token."""

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        refreshed = self._call(
            "POST", "/api/token/refresh/", json={"refresh": api_key}, check=False
        )
        if refreshed.status_code == 200:
            self.session.headers["Authorization"] = f"Bearer {refreshed.json()['access']}"
        else:  # a legacy token (where the organisation still allows them)
            self.session.headers["Authorization"] = f"Token {api_key}"
        self._call("GET", "/api/current-user/whoami")  # a wrong key fails here, once

    def _call(self, method: str, path: str, check: bool = True, **kw) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=TIMEOUT_S, **kw)
        except requests.RequestException as exc:
            raise LabelStudioError(
                f"cannot reach Label Studio at {self.url} ({type(exc).__name__}); start it "
                "(`curator review serve`) or fix --url. Nothing was changed."
            ) from exc
        return self._checked(response, method, path) if check else response

    def _checked(self, response: requests.Response, method: str, path: str) -> requests.Response:
        if response.status_code == 401:
            raise LabelStudioError(
                f"Label Studio at {self.url} refused the API key (401); copy your personal "
                "access token from Account & Settings and pass it with --api-key or "
                "CURATOR_LABEL_STUDIO_API_KEY."
            )
        if not response.ok:
            raise LabelStudioError(
                f"Label Studio at {self.url}: {method} {path} answered {response.status_code} "
                f"({response.text[:200]})"
            )
        return response

    def create_project(self, title: str, classes: list[str]) -> int:
        choices = "".join(f"<Choice value={quoteattr(c)}/>" for c in classes)
        # the decision first (given label, evidence, the classes), then the image at a size
        # that leaves them on screen
        view = (
            '<View><Header value="Given label: $given_label; suggested: $suggested_label; '
            "annotators' consensus: $consensus_label\"/>"
            '<Text name="why" value="$reasons"/>'
            f'<Choices name="{FROM_NAME}" toName="image" choice="single" showInLine="true">'
            f"{choices}</Choices>"
            '<Image name="image" value="$image" zoom="true" maxWidth="520px"/></View>'
        )
        body = {"title": title[:50], "label_config": view}
        return int(self._call("POST", "/api/projects", json=body).json()["id"])

    def add_local_storage(self, project: int, folder: str) -> None:
        body = {"project": project, "path": folder, "title": "data", "use_blob_urls": False}
        self._call("POST", "/api/storages/localfiles", json=body)

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> list[int]:
        path = f"/api/projects/{project}/import?return_task_ids=true"
        return [int(t) for t in self._call("POST", path, json=tasks).json()["task_ids"]]

    def export(self, project: int) -> list[dict[str, Any]]:
        path = f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=true"
        response = self._call("GET", path, check=False)
        if response.status_code == 404:
            raise LabelStudioError(
                f"project {project} is not on Label Studio at {self.url} (deleted?): its "
                "answers cannot be pulled; push the images again."
            )
        return self._checked(response, "GET", path).json()

    def users(self) -> dict[int, str]:
        return {
            int(u["id"]): u.get("email") or str(u["id"])
            for u in self._call("GET", "/api/users").json()
        }

    def annotate(self, task: int, label: str) -> None:
        """Submit ``label`` for ``task`` as the key's user (what a reviewer's click does)."""
        self._call("POST", f"/api/tasks/{task}/annotations", json={"result": _choice(label)})


def _choice(label: str) -> list[dict[str, Any]]:
    """A labelling result choosing ``label``: an answer, or the suggestion pre-selected."""
    return [
        {
            "from_name": FROM_NAME,
            "to_name": "image",
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


@dataclass
class Record:
    """What a push sent: enough to pull the answers and check them against the data."""

    url: str
    project: int
    tasks: dict[int, dict[str, str]] = field(default_factory=dict)  # task id -> pushed facts

    def write(self, out: Path) -> None:
        doc = {
            "tool": "label-studio",  # says what the file is to whoever opens it
            "url": self.url,
            "project": self.project,
            "tasks": {str(k): v for k, v in self.tasks.items()},
        }
        with atomic_path(Path(out), now=True) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> Record:
        try:
            doc = json.loads(Path(path).read_text())
            return cls(
                doc["url"],
                int(doc["project"]),
                {int(k): v for k, v in doc["tasks"].items()},
            )
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(
                f"{path}: not a push record curator wrote ({type(exc).__name__}: {exc}); "
                "pull the file `curator review push` wrote."
            ) from exc


PUSHED = ("path", "sample_id", "given_label", "drawn", "evidence", "reasons", "task")


def push(
    client: Client,
    tasks: pd.DataFrame,
    classes: list[str],
    title: str,
    image_url: str | None,
    local_root: str,
) -> Record:
    """Create a project and import ``tasks`` (file_tool.tasks' table): images served from the
    server's local files under ``local_root``, or at ``image_url``/path."""
    project = client.create_project(title, classes)
    if image_url is None:
        # served as `serve` sets it up: the document root is the data folder's parent (Label
        # Studio refuses storage at the root itself)
        client.add_local_storage(project, local_root)
        folder = Path(local_root).name
        images = [f"/data/local-files/?d={quote(f'{folder}/{p}')}" for p in tasks["path"]]
    else:
        images = [f"{image_url.rstrip('/')}/{p}" for p in tasks["path"]]
    payload = []
    for image, row in zip(images, tasks.to_dict("records"), strict=True):
        data = {k: "" if pd.isna(v) else str(v) for k, v in row.items()} | {"image": image}
        task: dict[str, Any] = {"data": data}
        if row.get("suggested_label") in classes:
            score = row.get("model_probability")
            task["predictions"] = [
                {
                    "model_version": "curator: suggested label",
                    "score": None if pd.isna(score) else float(score),
                    "result": _choice(row["suggested_label"]),
                }
            ]
        payload.append(task)
    ids = client.import_tasks(project, payload)
    pushed = tasks.assign(task=[str(i) for i in ids])
    facts = pushed[list(PUSHED)].fillna("").astype(str).to_dict("records")
    return Record(client.url, project, dict(zip(ids, facts, strict=True)))


def answers(client: Client, record: Record, where: str, classes: set[str]) -> corrections.Answers:
    """Every submitted annotation of the pushed tasks as a corrections row (validated; an
    answer naming a class the data does not have stops the pull with its task)."""
    exported = {int(t["id"]): t for t in client.export(record.project)}
    users = client.users()
    rows, names, gone, n_open = [], [], [], 0
    for task_id, pushed in sorted(record.tasks.items()):
        task = exported.get(task_id)
        if task is None:
            gone.append(
                f"{where} task {task_id} ({pushed['path']}): deleted from project "
                f"{record.project}; push the image again to review it"
            )
            continue
        done = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        n_open += not done
        for a in done:
            labels = [
                c
                for r in a.get("result", [])
                if r.get("from_name") == FROM_NAME
                for c in r.get("value", {}).get("choices", [])
            ]
            label = labels[0] if labels else ""
            rows.append(
                {
                    "path": pushed["path"],
                    "sample_id": pushed["sample_id"],
                    "old_label": pushed["given_label"],
                    "verdict": "confirmed" if label == pushed["given_label"] else "relabel",
                    "new_label": "" if label == pushed["given_label"] else label,
                    "reviewer": users.get(
                        int(a.get("completed_by") or 0), str(a.get("completed_by"))
                    ),
                    "reviewed_at": a.get("updated_at") or a.get("created_at") or "",
                    "task": f"{Path(where).name}#{task_id}",
                    "drawn": pushed.get("drawn", ""),
                    "evidence": pushed["evidence"],
                    "reasons": pushed["reasons"],
                }
            )
            names.append(f"task {task_id}")
    table = pd.DataFrame(rows, columns=list(corrections.COLUMNS), index=names)
    return corrections.Answers(corrections.validate(table, classes, where, names), n_open, gone)


def local_state(state_dir: Path) -> dict[str, str] | None:
    """The URL and key of a server `curator review serve` started (None if none)."""
    state = Path(state_dir) / STATE_FILE
    return json.loads(state.read_text()) if state.exists() else None


def binary(given: str | None) -> str:
    """The label-studio executable: given, CURATOR_LABEL_STUDIO, the one `make labelstudio`
    installs, or the one on PATH."""
    for candidate in (given, os.environ.get("CURATOR_LABEL_STUDIO"), DEFAULT_BINARY):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    found = shutil.which("label-studio")
    if found is None:
        raise CuratorError(
            "label-studio is not installed: install it in an environment of its own (`pip "
            "install label-studio==1.23.2 'sentry-sdk<3'`; in curator's repository `make "
            f"labelstudio` puts it in {DEFAULT_BINARY}), then pass --label-studio PATH or set "
            "CURATOR_LABEL_STUDIO."
        )
    return found


def serve(
    executable: str, data_root: Path, state_dir: Path, port: int, wait_s: float = 600
) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start Label Studio on 127.0.0.1:``port`` for one reviewer, serving the images of
    ``data_root`` read-only (local files under its parent, a storage on the folder itself),
    its database in ``state_dir``; wait until it answers, make the
    reviewer's account and API key on first start, and record them in state_dir/server.json."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    known = local_state(state_dir) or {}
    email = known.get("email", "reviewer@localhost")
    password = known.get("password") or secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k != "HOST"} | {
        "LABEL_STUDIO_BASE_DATA_DIR": str(state_dir),
        "LOCAL_FILES_SERVING_ENABLED": "true",
        "LOCAL_FILES_DOCUMENT_ROOT": str(Path(data_root).resolve().parent),
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }
    command = [
        executable,
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        email,
        "--password",
        password,
    ]
    log = (state_dir / "server.log").open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while True:
        if process.poll() is not None:
            raise LabelStudioError(
                f"label-studio exited with {process.returncode} before answering; its log: "
                f"{state_dir / 'server.log'}"
            )
        try:
            if requests.get(url + "/health", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise LabelStudioError(f"label-studio did not answer at {url} in {wait_s:.0f} s")
        time.sleep(2)
    key = known.get("api_key") or personal_token(url, email, password)
    state = {"url": url, "email": email, "password": password, "api_key": key}
    # it holds the key: private from its first byte, and renamed into place whole
    tmp = state_dir / f".{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(state, indent=1) + "\n")
    os.replace(tmp, state_dir / STATE_FILE)
    return process, state


def personal_token(url: str, email: str, password: str) -> str:
    """Log in as a person does and create their personal access token (what Account &
    Settings does): a server curator started has no one to copy it from the page."""
    session = requests.Session()
    session.get(f"{url}/user/login/", timeout=TIMEOUT_S)
    session.post(
        f"{url}/user/login/",
        data={
            "email": email,
            "password": password,
            "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
        },
        headers={"Referer": f"{url}/user/login/"},
        allow_redirects=False,
        timeout=TIMEOUT_S,
    )
    made = session.post(
        f"{url}/api/token/",
        headers={"X-CSRFToken": session.cookies.get("csrftoken") or "", "Referer": url},
        timeout=TIMEOUT_S,
    )
    if not made.ok:
        raise LabelStudioError(
            f"could not make an API key on {url}: {made.status_code} {made.text[:200]}"
        )
    return str(made.json()["token"])
