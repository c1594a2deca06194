"""Shared names of the runtime: the error types, the type tuples and small helpers."""
import ctypes
import os

import numpy as np

from .compiler.errors import MXNetError

integer_types = (int, np.int32, np.int64)
numeric_types = (float, int, np.generic)
string_types = (str,)

mx_int = ctypes.c_int
mx_uint = ctypes.c_uint
mx_int64 = ctypes.c_int64
mx_float = ctypes.c_float
mx_real_t = np.float32

__all__ = ["MXNetError", "NotImplementedForSymbol", "NotSupportedForSparseNDArray",
           "string_types", "numeric_types", "integer_types", "mx_real_t", "mx_int",
           "mx_uint", "mx_int64", "mx_float", "py_str", "data_dir", "data_dir_default"]


def py_str(value):
    """UTF-8 bytes as str (a str is returned unchanged)."""
    return value if isinstance(value, str) else value.decode("utf-8")


def _as_list(obj):
    """`obj` itself when it is a list or tuple, else [obj]."""
    return obj if isinstance(obj, (list, tuple)) else [obj]


def data_dir_default():
    """The per-user data folder: ~/.mxnet."""
    return os.path.join(os.path.expanduser("~"), ".mxnet")


def data_dir():
    """Where datasets and models are stored: $MXNET_HOME, else data_dir_default()."""
    return os.getenv("MXNET_HOME", data_dir_default())


def _describe_call(function, alias, arg_types):
    text = "Function %s" % function
    if alias:
        text += ' (namely operator "%s")' % alias
    if arg_types:
        text += " with arguments (%s)" % ", ".join(arg_types)
    return text


class _OnlyForNDArray(MXNetError):
    """A function available for dense NDArrays only, called on something else."""
    what = ""

    def __init__(self, function, alias=None, *args):
        super().__init__()
        self.function = getattr(function, "__name__", function)
        self.alias = alias
        self.args = tuple(str(type(a)) for a in args)

    def __str__(self):
        return (_describe_call(self.function, self.alias, self.args) + self.what +
                " and only available in NDArray.")


class NotImplementedForSymbol(_OnlyForNDArray):
    """An NDArray-only function called on a Symbol."""
    what = " is not implemented for Symbol"


class NotSupportedForSparseNDArray(_OnlyForNDArray):
    """A dense-only function called on a sparse array."""
    what = " is not supported for SparseNDArray"
