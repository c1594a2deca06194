"""Process-wide shape semantics switch (MXNet's `is_np_shape`).

Under legacy semantics (the default) a 0 in a shape is an unknown dimension. Under NumPy
shape semantics, -1 is unknown and 0 is a zero-size dimension; mxc compiles no zero-size
tensors, so a 0 given in that mode is refused where shapes are inferred. A graph saved while
the switch is on carries `"is_np_shape": ["int", 1]` in its JSON attributes, as MXNet's does.
"""
import threading

from .errors import MXNetError

_state = threading.local()


def is_np_shape():
    """True while NumPy shape semantics are on in this thread."""
    return getattr(_state, "np_shape", False)


def set_np_shape(active):
    """Turn NumPy shape semantics on or off for this thread; returns the previous value."""
    previous = is_np_shape()
    _state.np_shape = bool(active)
    return previous


def legacy_shape(shape, name):
    """`shape` in legacy terms (0 = unknown) under the current semantics; names `name` on error."""
    if not is_np_shape() or shape is None:
        return shape
    dims = tuple(shape)
    if any(d == 0 for d in dims):
        raise MXNetError("infer_shape: argument '%s' has shape %s with a zero-size dimension; "
                         "mxc does not compile zero-size tensors" % (name, dims))
    return tuple(0 if d == -1 else d for d in dims)
