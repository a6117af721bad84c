"""Errors the CLI turns into one line and an exit code.

Every message says what is wrong and what to do about it. The CLI catches ``CuratorError``
in one place (``curator.cli.main``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CuratorError(Exception):
    """Base class: an expected failure with a message written for the user."""

    exit_code = 3


class ConfigError(CuratorError):
    """params.yaml (or a CLI option) is missing, malformed or out of range."""

    exit_code = 4


class DataError(CuratorError):
    """The dataset, a manifest, metadata or annotations file cannot be used as given."""

    exit_code = 5


class MissingArtifactError(CuratorError):
    """A stage needs an output of an earlier stage that is not there."""

    exit_code = 6


class OutputError(CuratorError):
    """An output cannot be written: the disk is full, the folder read-only or not ours."""

    exit_code = 7


class RuleBroken(CuratorError):
    """A ``curator diff --fail-on`` rule broke: the exit code a CI job gates on."""

    exit_code = 8
