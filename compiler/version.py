"""The one version string of mxc: the package metadata, `mx.__version__` and the cache keys
of compiled libraries all read it from here."""

__version__ = "0.1.0"
