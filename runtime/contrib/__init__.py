"""mx.contrib: MXNet's experimental namespaces that mxc provides.

Only `mx.contrib.amp` is here, and it says that mixed precision is not supported; the other
MXNet contrib namespaces (onnx, quantization, tensorrt, text, ...) are not part of mxc and
name themselves when asked for.
"""
import importlib

_SUBMODULES = ("amp",)
_ABSENT = ("symbol", "sym", "ndarray", "nd", "autograd", "tensorboard", "text", "onnx", "io",
           "quantization", "quant", "tensorrt", "svrg_optimization")


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module("." + name, __name__)
        globals()[name] = module
        return module
    if name in _ABSENT:
        raise AttributeError("mx.contrib.%s is not part of mxc (only mx.contrib.amp is)" % name)
    raise AttributeError("module 'mxc.contrib' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
