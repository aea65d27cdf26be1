"""The synthdata version string."""

from importlib import metadata

try:
    __version__ = metadata.version("synthdata")
except metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
