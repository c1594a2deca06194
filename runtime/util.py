"""mx.util: environment variables, device counts and the NumPy shape-semantics switch.

`np_shape` / `use_np_shape` / `is_np_shape` / `set_np_shape` behave as MXNet's: under NumPy
shape semantics -1 is an unknown dimension and saved JSON carries `is_np_shape`. mxc compiles
no zero-size tensors, so a 0 dimension handed to `infer_shape` in that mode is an error. The
NumPy array interface (`mx.np`, `np_array`) is not part of mxc.
"""
import functools
import inspect
import os

from .compiler.semantics import is_np_shape, set_np_shape
from .context import gpu_memory_info, num_gpus

__all__ = ["makedirs", "getenv", "setenv", "get_gpu_count", "get_gpu_memory", "is_np_shape",
           "set_np_shape", "np_shape", "use_np_shape"]


class np_shape:  # noqa: N801 (MXNet's name)
    """Scope (`with np_shape(True):`) in which NumPy shape semantics are on or off."""

    def __init__(self, active=True):
        self._active = bool(active)
        self._previous = None

    def __enter__(self):
        self._previous = set_np_shape(self._active)
        return self

    def __exit__(self, *exc):
        set_np_shape(self._previous)
        return False


def use_np_shape(func):
    """Decorator: run `func` (or every public method of a class) under NumPy shape semantics."""
    if inspect.isclass(func):
        for name, method in list(vars(func).items()):
            if callable(method) and not name.startswith("__"):
                setattr(func, name, use_np_shape(method))
        return func
    if not callable(func):
        raise TypeError("use_np_shape can only decorate classes and callables, not %r"
                        % type(func).__name__)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np_shape(True):
            return func(*args, **kwargs)
    return wrapper


def makedirs(d):
    """Create folder `d` and its parents; an existing folder is fine."""
    os.makedirs(d, exist_ok=True)


def getenv(name):
    """The value of environment variable `name`, or None when it is not set."""
    return os.environ.get(name)


def setenv(name, value):
    """Set environment variable `name` to `value`; None removes it."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def get_gpu_count():
    """Number of visible GPUs."""
    return num_gpus()


def get_gpu_memory(gpu_dev_id):
    """(free, total) bytes of memory on GPU `gpu_dev_id`."""
    return gpu_memory_info(gpu_dev_id)
