"""mx.attribute: attribute scopes for symbols (AttrScope)."""
from .compiler.symbol import AttrScope  # noqa: F401
