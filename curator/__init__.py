"""curator: audit image datasets and the models trained on them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
