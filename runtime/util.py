"""mx.util: environment variables and device counts.

The NumPy-interface switches of MXNet's util (np_shape, use_np, ...) are not part of mxc.
"""
import os

from .context import gpu_memory_info, num_gpus

__all__ = ["getenv", "setenv", "get_gpu_count", "get_gpu_memory"]


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
