"""Shared names of the runtime: the error type and the string types."""
from .compiler.errors import MXNetError

string_types = (str,)
numeric_types = (float, int)

__all__ = ["MXNetError", "string_types", "numeric_types"]
