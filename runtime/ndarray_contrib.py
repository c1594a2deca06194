"""mx.nd.contrib: rand_zipfian and the operators MXNet registers as _contrib_<name>, eager."""
from .zipfian import rand_zipfian  # noqa: F401


def __getattr__(name):
    from .compiler import ops
    from . import nd_ops
    if not name.startswith("_") and "_contrib_" + name in ops.FUNCTIONS:
        return nd_ops.function("_contrib_" + name)
    raise AttributeError("mx.nd.contrib has no operator %r" % name)
