"""mx.nd._internal: MXNet's underscore operators by their own names, eager."""
from .zipfian import sample_unique_zipfian as _sample_unique_zipfian  # noqa: F401


def __getattr__(name):
    from . import nd_ops
    return nd_ops.function(name)
