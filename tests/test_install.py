"""The README's own-dataset install does what it says. On a CPU machine its commands pin the
versions constraints.txt holds, and with the constraints pip resolves curator's whole
dependency set to the CPU torch (no CUDA build, no nvidia-* package); on a GPU machine its
command resolves a CUDA torch."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def commands(machine: str) -> list[str]:
    """The README's install commands for ``machine`` ("CPU only" or "NVIDIA GPU"): the lines of
    the first fenced block after its bold heading, or its one inline `pip install` command."""
    readme = (REPO / "README.md").read_text()
    after = readme[readme.index(f"**{machine}**") :]
    if machine == "CPU only":
        start = after.index("```bash") + len("```bash")
        block = after[start : after.index("```", start)]
        return [line.strip() for line in block.strip().splitlines()]
    return [re.search(r"`(pip install [^`]+)`", after)[1]]


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_the_cpu_commands_pin_the_constraints_versions():
    torch_line, curator_line = commands("CPU only")
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line
    wanted = pins()
    assert f"torch=={wanted['torch'].removesuffix('+cpu')}" in torch_line.split()
    assert f"torchvision=={wanted['torchvision']}" in torch_line.split()
    assert wanted["torch"].endswith("+cpu")  # a machine without the CPU wheel fails loudly
    assert curator_line.endswith("-c <this repository>/constraints.txt")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)]
    subprocess.run([sys.executable, "-m", "pip", "-q", *build], check=True, capture_output=True)
    (built,) = wheels.glob("curator-*.whl")
    return built


def start_resolving(command: str, wheel: Path, folder: Path) -> tuple[subprocess.Popen, Path]:
    """Start a dry run of ``command`` (a README `pip install` line, the wheel in place of the
    git URL) in a fresh environment, against this machine's package index (about a minute:
    200-odd packages). No PIP_CONSTRAINT from the Makefile: only the command's own."""
    env = folder / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    words = shlex.split(command.replace("<this repository>", str(REPO)))
    assert words[:2] == ["pip", "install"]
    args = [str(wheel) if w.startswith("curator @") else w for w in words[2:]]
    report = folder / "report.json"
    environment = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    pip = [str(env / "bin" / "pip"), "install", "--dry-run", "-q", "--report", str(report)]
    running = subprocess.Popen(
        [*pip, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    return running, report


@pytest.fixture(scope="module")
def resolved(wheel, tmp_path_factory) -> dict[str, dict[str, str]]:
    """machine -> package -> version its command would install; both resolved at once."""
    started = {
        machine: start_resolving(commands(machine)[-1], wheel, tmp_path_factory.mktemp("pip"))
        for machine in ("CPU only", "NVIDIA GPU")
    }
    out = {}
    for machine, (running, report) in started.items():
        _, err = running.communicate()
        assert running.returncode == 0, err[-2000:]
        install = json.loads(report.read_text())["install"]
        out[machine] = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in install}
    return out


def test_with_the_constraints_pip_resolves_the_cpu_torch(resolved):
    installs = resolved["CPU only"]
    assert installs["torch"] == pins()["torch"] and installs["torchvision"] == pins()["torchvision"]
    assert not [name for name in installs if re.match(r"nvidia-|cuda", name)]
    assert "curator" in installs


def test_the_gpu_command_resolves_a_cuda_torch(resolved):
    """What a GPU machine needs from pip: a torch built with CUDA and its nvidia-* runtime
    libraries (whether the GPU is then seen can only be checked on one: the README's
    torch.cuda.is_available() line)."""
    (command,) = commands("NVIDIA GPU")
    assert "-c " not in command and "+cpu" not in command
    installs = resolved["NVIDIA GPU"]
    assert not installs["torch"].endswith("+cpu") and "curator" in installs
    assert [name for name in installs if name.startswith("nvidia-")]
