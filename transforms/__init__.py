"""Pure transforms on pandas/Arrow tables: read, normalise, validate, match, consolidate, find, write."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("powerlists")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+checkout"
