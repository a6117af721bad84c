# Two commands matter (see README): `make audit` and `make test`. Both set up .venv first.
# Setup is idempotent: it re-runs only when pyproject.toml or constraints.txt change.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.curator-installed
# CPU-only torch from the local wheel; the constraints file keeps pip from pulling a CUDA build.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DVC_NO_ANALYTICS := 1
export FIFTYONE_DO_NOT_TRACK := true
export FIFTYONE_DATABASE_VALIDATION := false

.PHONY: setup audit test lint clean-audit labelstudio

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip check
	touch $@

# Full audit of the demo dataset: write data/ if absent (byte-identical to data.dvc), run the
# DVC pipeline, print what was found and where the outputs are.
audit: setup
	test -d data || $(BIN)/curator demo --out data
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro
	$(BIN)/curator summary --audits audits

# Test files run on up to four worker processes (each file on one worker: its module fixtures,
# a FiftyOne database or a built dataset, are made once); the longest file sets the floor.
test: setup lint labelstudio
	$(BIN)/pytest -q -n auto --maxprocesses 4 --dist loadfile

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# Label Studio for review rounds (`curator review serve`) and its end-to-end test, in its own
# environment: its pins (Django, ...) are not curator's. sentry-sdk 3 breaks its start.
LS_VENV := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
labelstudio: $(LS_STAMP)

$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	PIP_CONSTRAINT= $(LS_VENV)/bin/pip install -q label-studio==1.23.2 'sentry-sdk<3'
	touch $@
