"""stewardship: the pure domain of the medication stewardship checker (no Flask, SQL or FHIR in here)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stewardship")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+checkout"
