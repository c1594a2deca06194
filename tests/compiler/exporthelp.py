"""Helpers shared by the export tests: build an export folder with make, load it with ctypes."""
import ctypes
import os
import shutil
import subprocess

import numpy as np


def make(folder, *targets, **env):
    run_env = dict(os.environ)
    run_env.update(env)
    return subprocess.run(["make", "-s", "-C", str(folder)] + list(targets), env=run_env,
                          capture_output=True, text=True, timeout=120)


def load(folder, name):
    lib = ctypes.CDLL(os.path.join(str(folder), "lib%s.so" % name))
    P = ctypes.c_void_p
    f = ctypes.POINTER(ctypes.c_float)
    sig = {"create": (ctypes.c_int, [ctypes.POINTER(P), ctypes.c_char_p]),
           "free": (None, [P]),
           "load_params": (ctypes.c_int, [P, ctypes.c_char_p]),
           "set_input": (ctypes.c_int, [P, ctypes.c_char_p, f, ctypes.c_int64]),
           "run": (ctypes.c_int, [P]),
           "get_output": (ctypes.c_int, [P, ctypes.c_int, f, ctypes.c_int64]),
           "predict": (ctypes.c_int, [P, f, ctypes.c_int64, f, ctypes.c_int64]),
           "last_error": (ctypes.c_char_p, [])}
    for k, (res, args) in sig.items():
        fn = getattr(lib, "%s_%s" % (name, k))
        fn.restype, fn.argtypes = res, args
    return lib


def fptr(arr):
    return arr.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) if arr is not None else None


def has(tool):
    return shutil.which(tool) is not None
