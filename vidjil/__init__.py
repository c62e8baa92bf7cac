"""vidjil: detection of V(D)J recombinations, clones and their follow-up."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vidjil-platform")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
