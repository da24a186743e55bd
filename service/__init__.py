"""toh-cds: screens obstetric patients with hip pain for transient osteoporosis of the hip (TOH)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("toh-cds")  # one version source: pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
