"""MXNet's `.states` files: a pickle of {parameter index: state} whose NDArrays are pickled as
`mxnet.ndarray.ndarray.NDArray` objects holding {'handle': bytearray(V2 record)}, so real
MXNet (`Module.load_optimizer_states`) reads the files mxc writes, and the other way round.
"""
import io
import pickle

from .ndarray import NDArray, _record_bytes

_MX_MODULE, _MX_NAME = "mxnet.ndarray.ndarray", "NDArray"


class _MXNetNDArrayClass(object):
    """Stands for MXNet's NDArray class in the pickle stream (never instantiated here)."""


class _StatesPickler(pickle._Pickler):
    """Pure-Python pickler that writes mxc NDArrays the way MXNet pickles its own."""

    def reducer_override(self, obj):
        if isinstance(obj, NDArray):
            return (_MXNetNDArrayClass, (None,), {"handle": bytearray(_record_bytes(obj))})
        return NotImplemented

    def save_global(self, obj, name=None):
        if obj is _MXNetNDArrayClass:
            self.save(_MX_MODULE)
            self.save(_MX_NAME)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def dumps(states):
    """Pickle an optimizer-state dict (values: None, NDArray, or tuples/lists of them)."""
    buf = io.BytesIO()
    _StatesPickler(buf, protocol=4).dump(states)
    return buf.getvalue()


def loads(blob):
    """Read a `.states` pickle written by MXNet or mxc."""
    from .optimizer import _loads_states
    return _loads_states(blob)
