"""mxc: the MXNet 1.x Module API, compiled to fused C.

`import mxc as mx` gives the familiar namespaces (mx.sym, mx.mod, mx.io, mx.nd, ...).
Submodules load on first use so that `import mxc` stays fast.
"""
import importlib

from .compiler.version import __version__  # noqa: F401

_SUBMODULES = {
    "base": "base", "context": "context", "nd": "ndarray", "ndarray": "ndarray",
    "sym": "symbol", "symbol": "symbol", "io": "io", "metric": "metric",
    "init": "initializer", "initializer": "initializer", "optimizer": "optimizer",
    "opt": "optimizer", "lr_scheduler": "lr_scheduler", "callback": "callback",
    "model": "model", "mod": "module", "module": "module", "viz": "viz",
    "visualization": "viz", "test_utils": "test_utils", "random": "random",
    "rnd": "random", "mon": "monitor", "monitor": "monitor", "name": "name",
    "attribute": "attribute", "kvstore": "kvstore", "kv": "kvstore",
    "util": "util", "gluon": "gluon", "profiler": "profiler", "contrib": "contrib", "rnn": "rnn",
    "operator": "operator",
    "recordio": "recordio", "image": "image", "img": "image",
}
_FROM = {
    "cpu": "context", "gpu": "context", "cpu_pinned": "context", "Context": "context",
    "current_context": "context", "MXNetError": "base", "AttrScope": "attribute",
    "is_np_shape": "util", "set_np_shape": "util", "np_shape": "util", "use_np_shape": "util",
}


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module("." + _SUBMODULES[name], __name__)
        globals()[name] = module
        return module
    if name in _FROM:
        value = getattr(importlib.import_module("." + _FROM[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'mxc' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_FROM))
