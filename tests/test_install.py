"""The README's own-dataset install on a CPU machine does what it says: its commands pin the
versions constraints.txt holds, and with the constraints pip resolves curator's whole
dependency set to the CPU torch (no CUDA build, no nvidia-* package)."""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def cpu_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    after = readme[readme.index("**CPU only**") :]
    start = after.index("```bash") + len("```bash")
    return [line.strip() for line in after[start : after.index("```", start)].strip().splitlines()]


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_the_cpu_commands_pin_the_constraints_versions():
    torch_line, curator_line = cpu_commands()
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line
    wanted = pins()
    assert f"torch=={wanted['torch'].removesuffix('+cpu')}" in torch_line.split()
    assert f"torchvision=={wanted['torchvision']}" in torch_line.split()
    assert wanted["torch"].endswith("+cpu")  # a machine without the CPU wheel fails loudly
    assert curator_line.endswith("-c <this repository>/constraints.txt")


def test_with_the_constraints_pip_resolves_the_cpu_torch(tmp_path):
    """The second command, the repository's wheel in place of the git URL, as a dry run in a
    fresh environment (about a minute: 200-odd packages from this machine's index)."""
    wheels, env = tmp_path / "wheels", tmp_path / "env"
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)]
    subprocess.run([sys.executable, "-m", "pip", "-q", *build], check=True, capture_output=True)
    (wheel,) = wheels.glob("curator-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    _, curator_line = cpu_commands()
    words = shlex.split(curator_line.replace("<this repository>", str(REPO)))
    assert words[:2] == ["pip", "install"]
    args = [str(wheel) if w.startswith("curator @") else w for w in words[2:]]
    report = tmp_path / "report.json"
    # the command as a user types it: no PIP_CONSTRAINT from the Makefile, only its own -c
    environment = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    done = subprocess.run(
        [str(env / "bin" / "pip"), "install", "--dry-run", "-q", "--report", str(report), *args],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = json.loads(report.read_text())["install"]
    installs = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in resolved}
    assert installs["torch"] == pins()["torch"] and installs["torchvision"] == pins()["torchvision"]
    assert not [name for name in installs if re.match(r"nvidia-|cuda", name)]
    assert "curator" in installs
