"""mx.name: automatic node naming (NameManager, Prefix)."""
from .compiler.symbol import NameManager, Prefix  # noqa: F401
