"""mx.test_utils: helpers for tests and examples (array checks, gradient and consistency
checks, random-generator checks, environment variables, local MNIST, file download)."""
import contextlib
import errno
import functools
import gzip
import logging
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import urllib.request

import bz2  # noqa: F401  (bz2 ... OrderedDict: see _STAR_EXPORTS)
import json  # noqa: F401
import numbers  # noqa: F401
import platform  # noqa: F401
import traceback  # noqa: F401
import zipfile  # noqa: F401
from collections import OrderedDict  # noqa: F401
from contextlib import contextmanager  # noqa: F401

import numpy as np
import numpy.random as rnd  # noqa: F401
import numpy.testing as npt  # noqa: F401

from .context import Context, current_context  # noqa: F401
from .io import DataIter
from .ndarray import array  # noqa: F401

mx = sys.modules[__package__]

# MXNet's test_utils has no __all__, so scripts doing `from mxnet.test_utils import *` also
# receive the modules it imports (sys, os, time, np, mx, ...) and rely on them.
_STAR_EXPORTS = ["array", "Context", "current_context",
                 "bz2", "contextmanager", "errno", "gzip", "json", "logging", "mx", "np",
                 "npt", "numbers", "OrderedDict", "os", "platform", "rnd", "struct", "sys",
                 "time", "traceback", "zipfile"]

__all__ = _STAR_EXPORTS + ["download"]


def _fetch_to(url, fname, chunk_size=1024):
    """Stream `url` into `fname` through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(fname))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(fname),
                               suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            status = getattr(resp, "status", resp.getcode())
            if status != 200:
                raise RuntimeError("failed to open %s: HTTP status %s" % (url, status))
            expected = resp.headers.get("Content-Length")
            received = 0
            while True:
                chunk = resp.read(chunk_size)
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
            if expected is not None and received != int(expected):
                raise IOError("download of %s interrupted: got %d of %s bytes"
                              % (url, received, expected))
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """Download `url` to `fname` (default: the URL's last component) and return the path.

    An existing file is kept unless `overwrite`; up to `retries` attempts are made; a
    failed download leaves no file behind.
    """
    assert retries >= 0, "Number of retries should be at least 0, currently it's %s" % retries
    if fname is None:
        fname = url.split("/")[-1]
    if dirname is None:
        dirname = os.path.dirname(fname)
    else:
        fname = os.path.join(dirname, fname)
    if dirname != "" and not os.path.exists(dirname):
        try:
            logging.info("create directory %s", dirname)
            os.makedirs(dirname)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise OSError("failed to create " + dirname) from exc
    if not overwrite and os.path.exists(fname):
        logging.info("%s exists, skipping download", fname)
        return fname
    while retries + 1 > 0:
        try:
            _fetch_to(url, fname)
            break
        except Exception as err:  # any failure counts as one attempt
            retries -= 1
            if retries <= 0:
                raise
            print("download failed due to %r, retrying, %d attempt%s left"
                  % (err, retries, "s" if retries > 1 else ""))
    logging.info("downloaded %s into %s successfully", url, fname)
    return fname


# ---- comparing arrays and checking gradients --------------------------------------------------

__all__ += ["assert_almost_equal", "assert_almost_equal_ignore_nan", "almost_equal",
            "check_numeric_gradient",
            "check_symbolic_forward", "check_symbolic_backward", "numeric_grad",
            "central_difference"]

_DEFAULT_RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-5}
_DEFAULT_ATOL = {"float16": 1e-1, "float32": 1e-3, "float64": 1e-20}


_INTEGER_KINDS = ("bool", "int8", "uint8", "int32", "uint32", "int64", "uint64")
_NUMERIC_EPS = {"float16": 1.0 / 2 ** 6, "float32": 1.0 / 2 ** 9, "float64": 1.0 / 2 ** 14}
__all__ += ["default_rtols", "default_atols", "default_numeric_eps", "effective_dtype"]


def _by_dtype(table, integer_value):
    tols = {np.dtype(k): v for k, v in table.items()}
    tols.update((np.dtype(k), integer_value) for k in _INTEGER_KINDS)
    return tols


def default_rtols():
    """Relative tolerances of comparisons, by NumPy dtype (MXNet's table; 0 for integers)."""
    return _by_dtype(_DEFAULT_RTOL, 0)


def default_atols():
    """Absolute tolerances of comparisons, by NumPy dtype (MXNet's table; 0 for integers)."""
    return _by_dtype(_DEFAULT_ATOL, 0)


def default_numeric_eps():
    """Finite-difference steps by floating dtype: powers of two, so the step is exact."""
    return {np.dtype(k): v for k, v in _NUMERIC_EPS.items()}


def effective_dtype(dat):
    """The dtype whose tolerances apply to `dat` (its own: mxc has no reduced-precision
    float32 kernels such as TF32)."""
    return np.dtype(dat.dtype)


def _np(value):
    return np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value)


def _tols(a, b, rtol, atol):
    """Given tolerances, else the looser default of the two arrays' dtypes (as MXNet)."""
    kinds = (a.dtype.name, b.dtype.name)
    if rtol is None:
        rtol = max(_DEFAULT_RTOL.get(k, 1e-5) for k in kinds)
    if atol is None:
        atol = max(_DEFAULT_ATOL.get(k, 1e-20) for k in kinds)
    return rtol, atol


def _same_shapes(a, b, use_broadcast, names=("a", "b")):
    """a and b, broadcast against each other when use_broadcast (as MXNet compares them);
    AssertionError naming both shapes when they do not fit."""
    if a.shape != b.shape:
        try:
            if not use_broadcast:
                raise ValueError
            a, b = np.broadcast_arrays(a, b)
        except ValueError:
            raise AssertionError("shape mismatch: %s %s vs %s %s"
                                 % (names[0], a.shape, names[1], b.shape)) from None
    return a, b


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """True when |a - b| <= atol + rtol * |b| everywhere (a and b broadcast unless
    use_broadcast is False, when their shapes must be equal)."""
    a, b = _np(a), _np(b)
    rtol, atol = _tols(a, b, rtol, atol)
    a, b = _same_shapes(a, b, use_broadcast)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Raise AssertionError naming the worst element when a and b differ beyond tolerance.
    a and b are broadcast against each other unless use_broadcast is False (as MXNet's);
    `mismatches` is accepted for MXNet's signature (the message names the worst element)."""
    a, b = _np(a), _np(b)
    rtol, atol = _tols(a, b, rtol, atol)
    a, b = _same_shapes(a, b, use_broadcast, names)
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        violation = np.abs(a64 - b64) / (atol + rtol * np.abs(b64))
    violation = np.where(np.isnan(violation), np.inf, violation)
    if equal_nan:
        violation = np.where(np.isnan(a64) & np.isnan(b64), 0, violation)
    worst = np.unravel_index(int(np.argmax(violation)), a.shape) if a.shape else ()
    bad = int(np.count_nonzero(violation > 1))
    raise AssertionError(
        "Items are not equal (rtol=%g, atol=%g): %d of %d elements differ; worst at index %s: "
        "%s=%r, %s=%r (error %.3g times the tolerance)\n %s: %s\n %s: %s"
        % (rtol, atol, bad, a.size, tuple(int(i) for i in worst), names[0], a64[worst].item(),
           names[1], b64[worst].item(), float(violation[worst]), names[0],
           np.array2string(a.ravel()[:10]), names[1], np.array2string(b.ravel()[:10])))


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    """assert_almost_equal where a position that is NaN in either array is not compared (as
    MXNet's, for the nan* reductions)."""
    a, b = np.broadcast_arrays(_np(a), _np(b))
    skip = np.isnan(a) | np.isnan(b)
    assert_almost_equal(np.where(skip, 0, a), np.where(skip, 0, b), rtol, atol, names)


def _as_dict(values, names, what, extra_ok=False):
    """A list (in `names` order) or dict of arrays -> {name: float array}; with extra_ok a
    list may run past `names` (MXNet's backward ignores head gradients past the outputs)."""
    if values is None:
        return {}
    if isinstance(values, dict):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ValueError("%s: %s not in %s" % (what, ", ".join(unknown), names))
        return {k: _np(v) for k, v in values.items()}
    values = list(values)
    if extra_ok and len(values) > len(names):
        values = values[:len(names)]
    if len(values) != len(names):
        raise ValueError("%s: got %d arrays for %d names %s" % (what, len(values), len(names),
                                                               names))
    return {k: _np(v) for k, v in zip(names, values)}


def _dtype_name(dtype):
    """The compiled type for a check in `dtype`: float16 is stored as float16 and computed in
    float32 (as mxc's float16 executors do), so it checks against the float32 library."""
    name = np.dtype(dtype).name
    if name == "float16":
        return "float32"
    if name not in ("float32", "float64"):
        raise ValueError("compiled executors are float16, float32 or float64, got %s" % name)
    return name


def _bind(sym, location, aux_states, grad_req, dtype):
    """A compiled executor over `location` (every argument bound as an input)."""
    from .segmented_executor import executor_for as Executor
    args = sym.list_arguments()
    missing = [a for a in args if a not in location]
    if missing:
        raise ValueError("location is missing arguments %s of the symbol" % missing)
    shapes = {k: tuple(v.shape) for k, v in location.items()}
    if isinstance(dtype, str) and dtype == "asnumpy":   # MXNet: the arrays keep their dtypes
        kinds = {np.dtype(getattr(v, "dtype", np.float32)).name for v in location.values()}
        dtype = np.float64 if "float64" in kinds else np.float32
    ex = Executor(sym, shapes, data_names=list(location), label_names=[], grad_req=grad_req,
                  dtype=_dtype_name(dtype), metric_io=False)
    _load(ex, location, aux_states)
    return ex


def _load(ex, location, aux_states):
    for k, v in location.items():
        ex.arg_arrays[k][...] = v
    for k, v in (aux_states or {}).items():
        if k not in ex.aux_arrays:
            raise ValueError("aux_states: '%s' is not an auxiliary state (%s)"
                             % (k, list(ex.aux_arrays)))
        ex.aux_arrays[k][...] = v


def central_difference(objective, array, step, indices=None):
    """d objective() / d array by central differences (f(x + step) - f(x - step)) / (2 step).

    `array` is perturbed in place, one element at a time, and restored; only the flat
    `indices` given are computed (the others stay 0). The one finite-difference rule of mxc's
    gradient checks.
    """
    if not array.flags.c_contiguous:
        raise ValueError("central_difference: the array must be C-contiguous (it is "
                         "perturbed in place through a flat view)")
    flat = array.reshape(-1)
    grad = np.zeros(flat.size, dtype=np.float64)
    for i in range(flat.size) if indices is None else indices:
        orig = flat[i]
        flat[i] = orig + step
        up = objective()
        flat[i] = orig - step
        down = objective()
        flat[i] = orig
        grad[i] = (up - down) / (2 * step)
    return grad.reshape(array.shape)


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 projections=None):
    """Central differences of sum(output_i * projection_i) w.r.t. every array in location.

    Aux states and the random generator are restored before every forward, so ops that
    update moving statistics or draw random numbers see the same state each time.
    """
    rng_state = executor.arena[:64 // executor.arena.itemsize].copy()
    projections = projections or [np.ones(o.shape) for o in executor.outputs]

    def objective():
        executor.arena[:rng_state.size] = rng_state
        for k, v in (aux_states or {}).items():
            executor.aux_arrays[k][...] = v
        executor.forward(is_train=use_forward_train)
        return sum(float(np.sum(o.astype(np.float64) * p))
                   for o, p in zip(executor.outputs, projections))

    grads = {}
    for name, value in location.items():
        arr = executor.arg_arrays[name]
        arr[...] = np.asarray(value, dtype=arr.dtype).reshape(arr.shape)
        grads[name] = central_difference(objective, arr, eps / 2)   # MXNet's eps: full width
    return grads


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=1e-3, rtol=1e-2,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=None):
    """Compare the compiled backward pass with central finite differences (MXNet's checker).

    The objective is sum(output * R) with a fixed random projection R per output: the
    analytic gradient is the backward pass with R as head gradient. Loss outputs (e.g.
    SoftmaxOutput, regression outputs) ignore head gradients and define their gradient by a
    formula, not as a derivative of their output; they cannot be checked this way (check them
    with check_symbolic_backward against the formula) and are rejected with ValueError.
    """
    dtype = np.float64 if dtype is None else dtype
    args = sym.list_arguments()
    location = {k: v.astype(np.float64) for k, v in
                _as_dict(location, args, "location").items()}
    aux_states = _as_dict(aux_states, sym.list_auxiliary_states(), "aux_states")
    if grad_nodes is None:
        grad_nodes = {k: "write" for k in args}
    elif not isinstance(grad_nodes, dict):
        grad_nodes = {k: "write" for k in grad_nodes}
    grad_nodes = {k: v for k, v in grad_nodes.items() if v != "null"}
    for k in grad_nodes:
        if k not in args:
            raise ValueError("grad_nodes: '%s' is not an argument of the symbol (%s)"
                             % (k, args))
    grad_req = {k: (grad_nodes.get(k, "null") if grad_nodes.get(k) != "add" else "write")
                for k in args}
    for name, (node, _) in zip(sym.list_outputs(), sym._heads):
        if node.op is not None and node.op.loss:
            raise ValueError("check_numeric_gradient: output '%s' comes from a loss operator "
                             "whose gradient ignores the head gradient; check it with "
                             "check_symbolic_backward against its formula" % name)
    ex = _bind(sym, location, aux_states, grad_req, dtype)
    rs = np.random.RandomState(int(np.random.randint(0, 2 ** 31 - 1)))
    projections = [rs.normal(0, 1, size=o.shape) for o in ex.outputs]
    for hg, p in zip(ex.head_grads, projections):
        if hg is not None:
            hg[...] = p
    rng_state = ex.arena[:64 // ex.arena.itemsize].copy()
    ex.forward(is_train=use_forward_train)
    ex.backward()
    analytic = {k: ex.grad_arrays[k].copy() if k in ex.grad_arrays
                else np.zeros(location[k].shape) for k in grad_nodes}
    ex.arena[:rng_state.size] = rng_state
    _load(ex, location, aux_states)
    numeric = numeric_grad(ex, {k: location[k] for k in grad_nodes}, aux_states,
                           eps=numeric_eps, use_forward_train=use_forward_train,
                           projections=projections)
    for k in grad_nodes:
        assert_almost_equal(numeric[k], analytic[k], rtol, atol,
                            ("NUMERICAL_%s" % k, "BACKWARD_%s" % k))


def check_symbolic_forward(sym, location, expected, rtol=1e-4, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=None):
    """Run forward (inference) and compare each output with `expected` (list or dict)."""
    dtype = np.float32 if dtype is None else dtype
    location = _as_dict(location, sym.list_arguments(), "location")
    aux_states = _as_dict(aux_states, sym.list_auxiliary_states(), "aux_states")
    ex = _bind(sym, location, aux_states, {k: "null" for k in location}, dtype)
    ex.forward(is_train=False)
    stored = np.float16 if _is_float16(dtype) else None
    outputs = [o.astype(stored) if stored else o.copy() for o in ex.outputs]
    expected = _as_dict(expected, ex.output_names, "expected")
    for name, out in zip(ex.output_names, outputs):
        if name in expected:
            assert_almost_equal(out, expected[name], rtol, atol,
                                ("EXPECTED_%s" % name, "FORWARD_%s" % name), equal_nan)
    return outputs


def _is_float16(dtype):
    return not isinstance(dtype, str) and np.dtype(dtype) == np.float16


def check_symbolic_backward(sym, location, out_grads, expected, rtol=1e-5, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=None):
    """Run forward (training) and backward with `out_grads`; compare argument gradients.

    grad_req 'add' starts each gradient from random values and expects them plus `expected`.
    """
    dtype = np.float32 if dtype is None else dtype
    args = sym.list_arguments()
    location = _as_dict(location, args, "location")
    aux_states = _as_dict(aux_states, sym.list_auxiliary_states(), "aux_states")
    expected = _as_dict(expected, args, "expected")
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in args}
    ex = _bind(sym, location, aux_states, grad_req, dtype)
    start = {}
    for k, req in grad_req.items():
        if req == "add" and k in ex.grad_arrays:
            start[k] = np.random.normal(size=ex.grad_arrays[k].shape)
            ex.grad_arrays[k][...] = start[k]
    ex.forward(is_train=True)
    if out_grads is not None:
        out_grads = _as_dict(out_grads, ex.output_names, "out_grads", extra_ok=True)
        for name, hg in zip(ex.output_names, ex.head_grads):
            if hg is not None and name in out_grads:
                hg[...] = out_grads[name]
    ex.backward()
    for k, want in expected.items():
        if grad_req.get(k, "null") == "null":
            continue
        got = ex.grad_arrays[k]
        want = want + start[k] if k in start else want
        assert_almost_equal(got, want, rtol, atol, ("EXPECTED_%s" % k, "BACKWARD_%s" % k),
                            equal_nan)
    return {k: v.copy() for k, v in ex.grad_arrays.items()}


# ---- contexts, dtypes and random inputs -------------------------------------------------------

__all__ += ["default_context", "set_default_context", "default_dtype", "random_arrays",
            "random_uniform_arrays", "random_sample", "rand_ndarray", "rand_sparse_ndarray",
            "assign_each", "create_sparse_array", "rand_shape_2d",
            "rand_shape_3d", "rand_shape_nd", "np_reduce", "same", "same_array",
            "assert_allclose", "assert_exception", "retry", "discard_stderr", "environment",
            "set_env_var", "list_gpus", "use_np"]


def default_context():
    """The context tests run on: the calling thread's current context."""
    from .context import current_context
    return current_context()


def set_default_context(ctx):
    """Make `ctx` the calling thread's default context."""
    from .context import Context
    Context._default.value = ctx


def default_dtype():
    """The dtype of generated test data."""
    return np.float32


def random_arrays(*shapes):
    """Standard-normal arrays of default_dtype(), one per shape (the array itself for one)."""
    arrays = [np.asarray(np.random.randn(*shape), dtype=default_dtype()) for shape in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def random_uniform_arrays(*shapes, low=0.0, high=1.0, dtype=None):
    """Uniform [low, high) arrays, one per shape."""
    dtype = default_dtype() if dtype is None else dtype
    return [np.random.uniform(low, high, size=shape).astype(dtype) for shape in shapes]


def random_sample(population, k):
    """k distinct elements of `population` in random order."""
    assert 0 <= k <= len(population)
    chosen = list(population)
    np.random.shuffle(chosen)
    return chosen[:k]


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A random NDArray of `shape`: standard-normal values when dense, else a sparse array
    from rand_sparse_ndarray (uniform [0, 1) values at a `density` fraction)."""
    if stype == "default":
        from .ndarray import array
        return array(random_arrays(tuple(shape)), ctx=ctx or default_context(), dtype=dtype)
    arr, _ = rand_sparse_ndarray(shape, stype, density=density, dtype=dtype,
                                 modifier_func=modifier_func, distribution=distribution,
                                 shuffle_csr_indices=shuffle_csr_indices, ctx=ctx)
    return arr


def assign_each(the_input, function):
    """`function` applied to every element of `the_input` (a float64 array; a copy when
    `function` is None)."""
    values = np.asarray(the_input)
    if function is None:
        return np.array(values)
    flat = [function(v) for v in values.reshape(-1)]
    return np.asarray(flat, dtype=np.float64).reshape(values.shape)


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """A random sparse array and its parts, with MXNet's meaning of `density`.

    row_sparse: each row is stored with probability `density` (or the rows `rsp_indices`),
    its values uniform in [0, 1); returns (array, (values, indices)).
    csr (2-D): 'uniform' stores round(density * size) positions drawn without replacement,
    values uniform in [0, 1); 'powerlaw' stores the first element of every row, then 2, 4,
    8, ... leading elements of successive rows (values in [1.001, 3)) until density * size
    elements are stored; returns (array, (indptr, indices, data)). Column indices are kept
    sorted (`shuffle_csr_indices` is accepted and has no effect on the values).
    """
    from . import sparse
    from .base import MXNetError
    ctx = ctx or default_context()
    density = np.random.rand() if density is None else density
    dtype = default_dtype() if dtype is None else dtype
    distribution = "uniform" if distribution is None else distribution
    shape = tuple(int(d) for d in shape)
    if not 0 <= density <= 1:
        raise MXNetError("rand_sparse_ndarray: density must be in [0, 1], got %r" % density)
    if stype == "row_sparse":
        if distribution != "uniform":
            raise MXNetError("rand_sparse_ndarray: distribution %r is not supported for "
                             "row_sparse (only 'uniform')" % (distribution,))
        if rsp_indices is not None:
            indices = np.asarray(rsp_indices, dtype=np.int64)
        else:
            indices = np.flatnonzero(np.random.rand(shape[0]) < density).astype(np.int64)
        if indices.shape[0] == 0:
            return (sparse.zeros("row_sparse", shape, ctx=ctx, dtype=dtype),
                    (np.array([], dtype=dtype), np.array([], dtype=np.int64)))
        values = np.random.rand(indices.shape[0], *shape[1:]).astype(dtype)
        if data_init is not None:
            values.fill(data_init)
        if modifier_func is not None:
            values = assign_each(values, modifier_func).astype(dtype)
        arr = sparse.row_sparse_array((values, indices), shape=shape, ctx=ctx, dtype=dtype)
        return arr, (values, indices)
    if stype != "csr":
        raise MXNetError("rand_sparse_ndarray: unknown storage type %r (expected 'csr' or "
                         "'row_sparse')" % (stype,))
    if len(shape) != 2:
        raise MXNetError("rand_sparse_ndarray: csr arrays are 2-D, got shape %s" % (shape,))
    rows, cols = shape
    if distribution == "uniform":
        nnz = int(round(density * rows * cols))
        flat = np.sort(np.random.choice(rows * cols, nnz, replace=False))
        values = np.random.rand(nnz).astype(dtype)
        if data_init is not None:
            values.fill(data_init)
        coords = (flat // cols, flat % cols)
    elif distribution == "powerlaw":
        coords, values = _powerlaw_positions(rows, cols, density, dtype)
    else:
        raise MXNetError("rand_sparse_ndarray: distribution %r is not supported (expected "
                         "'uniform' or 'powerlaw')" % (distribution,))
    if modifier_func is not None:
        values = assign_each(values, modifier_func).astype(dtype)
    arr = sparse.csr_matrix((values, coords), shape=shape, ctx=ctx, dtype=dtype)
    return arr, (arr.indptr, arr.indices, arr.data)


def _powerlaw_positions(rows, cols, density, dtype):
    """((row, col), values) of the powerlaw csr layout described in rand_sparse_ndarray."""
    budget = int(rows * cols * density)
    taken = np.zeros((rows, cols), bool)
    for row in range(rows):                 # no empty row: the first column of each
        if budget <= 0:
            break
        taken[row, 0] = True
        budget -= 1
    width = 2
    for row in range(rows):
        if budget <= 0:
            break
        extra = min(cols, width) - 1        # columns 1 .. width-1 of this row
        fill = min(extra, budget)
        taken[row, 1:1 + fill] = True
        budget -= fill
        width *= 2
    if budget > 0:
        raise ValueError("not supported for this density: %s for this shape (%s,%s)"
                         % (density, rows, cols))
    row_idx, col_idx = np.nonzero(taken)
    values = (1 + np.random.uniform(0.001, 2, size=row_idx.shape[0])).astype(dtype)
    return (row_idx, col_idx), values


def create_sparse_array(shape, stype, data_init=None, rsp_indices=None, dtype=None,
                        modifier_func=None, density=.5, shuffle_csr_indices=False):
    """A random sparse array (rand_sparse_ndarray); row_sparse indices are sorted first."""
    if stype == "row_sparse" and rsp_indices is not None:
        rsp_indices = np.sort(np.asarray(rsp_indices))
    arr, _ = rand_sparse_ndarray(shape, stype, density=density, dtype=dtype,
                                 data_init=data_init, rsp_indices=rsp_indices,
                                 modifier_func=modifier_func,
                                 shuffle_csr_indices=shuffle_csr_indices)
    return arr


def _rand_shape(bounds, allow_zero_size):
    """A tuple of Python ints, side i drawn uniformly from [1, bounds[i]] (0 allowed or not)."""
    low = 0 if allow_zero_size else 1
    return tuple(int(np.random.randint(low, bound + 1)) for bound in bounds)


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """A random 2-d shape with sides in [1, dim] ([0, dim] when allow_zero_size)."""
    return _rand_shape((dim0, dim1), allow_zero_size)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """A random 3-d shape with sides in [1, dim] ([0, dim] when allow_zero_size)."""
    return _rand_shape((dim0, dim1, dim2), allow_zero_size)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """A random `num_dim`-d shape with sides in [1, dim] ([0, dim] when allow_zero_size)."""
    return _rand_shape((dim,) * num_dim, allow_zero_size)


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """Reduce `dat` with `numpy_reduce_func` over one axis at a time (axis: None, int, list)."""
    if axis is None:
        axes = list(range(dat.ndim))
    elif isinstance(axis, int):
        axes = [axis]
    else:
        axes = list(axis)
    axes = [a % dat.ndim if dat.ndim else a for a in axes]
    result = dat
    for a in sorted(axes, reverse=True):
        result = numpy_reduce_func(result, axis=a)
    if keepdims:
        result = np.reshape(result, [1 if i in axes else n for i, n in enumerate(dat.shape)])
    return result


def same(a, b):
    """True when a and b have the same shape and exactly equal elements."""
    return bool(np.array_equal(_np(a), _np(b)))


def same_array(array1, array2):
    """True when two NDArrays share memory: a change through one shows through the other."""
    array1[:] += 1
    moved_together = same(array1, array2)
    array1[:] -= 1
    return moved_together and same(array1, array2)


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    """assert_almost_equal with NumPy's assert_allclose defaults."""
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that f(*args, **kwargs) raises `exception_type`."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError("%s did not raise %s" % (getattr(f, "__name__", f),
                                                  exception_type.__name__))


def retry(n):
    """Decorator: rerun a stochastic test up to n times until it passes no AssertionError."""
    assert n > 0

    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            for attempt in range(n):
                try:
                    return test(*args, **kwargs)
                except AssertionError:
                    if attempt == n - 1:
                        raise
        return wrapper
    return decorate


def use_np(func):
    """MXNet's `use_np`: NumPy shape semantics for `func`. Its other half, NumPy array
    semantics, belongs to the `mx.np` interface, which mxc does not have; code that reaches
    for `mx.np` fails there with an AttributeError."""
    from .util import use_np_shape
    return use_np_shape(func)


@contextlib.contextmanager
def discard_stderr():
    """Silence file descriptor 2 (C code's output too) inside the block."""
    fileno = 2                  # descriptor 2 itself, where C code writes too
    sys.stderr.flush()
    saved = os.dup(fileno)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), fileno)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, fileno)
    finally:
        os.close(saved)


def _set_environ(values):
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def environment(*args):
    """Set environment variables for a block (or, as a decorator, a function) and restore them.

    environment(name, value) or environment({name: value, ...}); a value of None unsets the
    variable. Previous values (or absence) come back afterwards, also on exceptions.
    """
    if len(args) == 1 and isinstance(args[0], dict):
        wanted = dict(args[0])
    elif len(args) == 2:
        wanted = {args[0]: args[1]}
    else:
        raise TypeError("environment() takes a dict or a name and a value, got %d arguments"
                        % len(args))
    snapshot = {name: os.environ.get(name) for name in wanted}
    _set_environ(wanted)
    try:
        yield
    finally:
        _set_environ(snapshot)


def set_env_var(key, val, default_val=""):
    """Set environment variable `key` to `val`; return its previous value (or default_val)."""
    previous = os.environ.get(key, default_val)
    os.environ[key] = val
    return previous


def list_gpus():
    """range(n) over the n visible GPUs."""
    from .util import get_gpu_count
    return range(get_gpu_count())


# ---- checking random generators (chi-square, without SciPy) -----------------------------------

__all__ += ["gen_buckets_probs_with_ppf", "mean_check", "var_check", "chi_square_check",
            "verify_generator", "chi_square_sf"]


def _lower_gamma_series(a, x):
    """P(a, x) by its power series (converges fast for x < a + 1)."""
    term = total = 1.0 / a
    n = a
    for _ in range(10000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_gamma_fraction(a, x):
    """Q(a, x) by its continued fraction, Lentz's method (for x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def regularized_upper_gamma(a, x):
    """Q(a, x) = Gamma(a, x) / Gamma(a), the regularised upper incomplete gamma function."""
    if a <= 0:
        raise ValueError("regularized_upper_gamma: a must be positive, got %r" % (a,))
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_gamma_series(a, x))
    return _upper_gamma_fraction(a, x)


def chi_square_sf(statistic, dof):
    """P(X >= statistic) for X chi-square distributed with `dof` degrees of freedom."""
    return regularized_upper_gamma(dof / 2.0, statistic / 2.0)


def gen_buckets_probs_with_ppf(ppf, nbuckets):
    """`nbuckets` equiprobable buckets (ppf(i/n), ppf((i+1)/n)) and their probabilities."""
    assert nbuckets > 0
    buckets = [(ppf(i / float(nbuckets)), ppf((i + 1) / float(nbuckets)))
               for i in range(nbuckets)]
    return buckets, [1.0 / nbuckets] * nbuckets


def mean_check(generator, mu, sigma, nsamples=1000000):
    """True when the sample mean lies within mu +- 3 sigma / sqrt(nsamples)."""
    mean = float(np.mean(_np(generator(nsamples))))
    bound = 3 * sigma / np.sqrt(nsamples)
    return mu - bound < mean < mu + bound


def var_check(generator, sigma, nsamples=1000000):
    """True when the sample variance lies within sigma^2 +- 3 sqrt(2 sigma^4 / (n - 1))."""
    var = float(np.var(_np(generator(nsamples)), ddof=1))
    bound = 3 * np.sqrt(2 * sigma ** 4 / (nsamples - 1))
    return sigma ** 2 - bound < var < sigma ** 2 + bound


def _bucket_counts(samples, buckets):
    """Samples per bucket: (low, high) ranges for continuous, values for discrete buckets."""
    samples = _np(samples).ravel()
    if not isinstance(buckets[0], (list, tuple)):
        return np.array([np.count_nonzero(samples == b) for b in buckets], dtype=np.int64)
    edges = np.empty(2 * len(buckets), dtype=np.float64)
    for i, (low, high) in enumerate(buckets):
        if low > high or (i + 1 < len(buckets) and high > buckets[i + 1][0]):
            raise ValueError("chi_square_check: buckets must be ascending and disjoint, "
                             "bucket %d is %r" % (i, (low, high)))
        edges[2 * i], edges[2 * i + 1] = low, high
    ids = np.searchsorted(edges, samples, side="right") // 2
    return np.bincount(ids, minlength=len(buckets) + 1)[:len(buckets)].astype(np.int64)


def chi_square_check(generator, buckets, probs, nsamples=1000000):
    """Pearson's chi-square test of generator(nsamples) against bucket probabilities.

    Returns (p value, observed counts, expected counts).
    """
    assert isinstance(buckets, list)
    assert len(probs) == len(buckets)
    expected = (nsamples * np.asarray(probs, dtype=np.float64)).astype(np.int64)
    if np.any(expected <= 0):
        raise ValueError("chi_square_check: every bucket needs a positive expected count; "
                         "got %s for %d samples" % (expected.tolist(), nsamples))
    observed = _bucket_counts(generator(nsamples), buckets)
    statistic = float(np.sum((observed - expected) ** 2 / expected.astype(np.float64)))
    return chi_square_sf(statistic, len(buckets) - 1), observed, expected


def verify_generator(generator, buckets, probs, nsamples=1000000, nrepeat=5, success_rate=0.2,
                     alpha=0.05):
    """Run chi_square_check nrepeat times; fail unless p > alpha in success_rate of them."""
    results = [chi_square_check(generator, buckets, probs, nsamples) for _ in range(nrepeat)]
    pvalues = [r[0] for r in results]
    if sum(p > alpha for p in pvalues) < nrepeat * success_rate:
        raise AssertionError(
            "Generator test fails, Chi-square p=%s, obs_freq=%s, expected_freq=%s.\n"
            "buckets=%s, probs=%s" % (pvalues, [r[1].tolist() for r in results],
                                      [r[2].tolist() for r in results], buckets, probs))
    return pvalues


# ---- optimizers, consistency across contexts, speed -------------------------------------------

__all__ += ["compare_ndarray_tuple", "compare_optimizer", "check_consistency", "check_speed"]


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """assert_almost_equal over two (possibly nested) tuples of arrays; None matches anything."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, (tuple, list)):
        for s1, s2 in zip(t1, t2):
            compare_ndarray_tuple(s1, s2, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def _optimizer_operands(shape, dtype, w_stype, g_stype, ctx):
    """(w1, g1, w2, g2) as MXNet's compare_optimizer draws them: opt2 gets the given
    storage types (a sparse weight stores every row), opt1 dense copies."""
    from .random import uniform
    from .base import MXNetError
    pairs = []
    for what, stype in (("weight", w_stype), ("gradient", g_stype)):
        if stype == "default":
            second = uniform(shape=shape, ctx=ctx, dtype=dtype)
            first = second.copyto(ctx)
        elif stype in ("row_sparse", "csr"):
            second = rand_ndarray(shape, stype, density=1 if what == "weight" else None,
                                  dtype=dtype)
            first = second.copyto(ctx).tostype("default")
        else:
            raise MXNetError("compare_optimizer: %s storage type %r is not supported"
                             % (what, stype))
        pairs.append((first, second))
    (w1, w2), (g1, g2) = pairs
    return w1, g1, w2, g2


def compare_optimizer(opt1, opt2, shape, dtype, w_stype="default", g_stype="default",
                      rtol=1e-4, atol=1e-5, compare_states=True, ntensors=1):
    """One update of opt1 and opt2 from the same random weight and gradient: same result.

    `shape` is one shape (ntensors must be 1) or a list of shapes, each updated in turn.
    """
    shapes = shape if isinstance(shape, list) else [shape]
    if not isinstance(shape, list):
        assert ntensors == 1
    ctx = default_context()
    for index, one_shape in enumerate(shapes):
        w1, g1, w2, g2 = _optimizer_operands(one_shape, dtype, w_stype, g_stype, ctx)
        state1 = opt1.create_state_multi_precision(index, w1)
        state2 = opt2.create_state_multi_precision(index, w2)
        if compare_states:
            compare_ndarray_tuple(state1, state2)
        opt1.update_multi_precision(index, w1, g1, state1)
        opt2.update_multi_precision(index, w2, g2, state2)
        if compare_states:
            compare_ndarray_tuple(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1, w2, rtol=rtol, atol=atol)


class _BoundGraph:
    """A symbol bound with every argument as an input: arg_dict, grad_dict, aux_dict,
    outputs, forward(is_train), backward(out_grads), as an executor exposes them."""

    def __init__(self, sym, grad_req, shapes, dtype):
        args = sym.list_arguments()
        arg_shapes, _, _ = sym.infer_shape(**shapes)
        if arg_shapes is None:
            raise ValueError("check_consistency: the shapes %s do not determine every "
                             "argument of the symbol (%s)" % (shapes, args))
        if isinstance(grad_req, str):
            grad_req = {k: grad_req for k in args}
        self._ex = _bind_shapes(sym, dict(zip(args, arg_shapes)),
                                {k: ("write" if v == "add" else v) for k, v in grad_req.items()},
                                dtype)
        self._add = {k for k, v in grad_req.items() if v == "add"}
        self.arg_dict = self._ex.arg_arrays
        self.aux_dict = self._ex.aux_arrays
        self.grad_dict = {k: np.zeros_like(self.arg_dict[k]) if k in self._ex.grad_arrays
                          else None for k in args}
        self.grad_arrays = [self.grad_dict[k] for k in args]
        self.outputs = self._ex.outputs
        self.output_dict = dict(zip(self._ex.output_names, self._ex.outputs))

    def forward(self, is_train=False):
        self._ex.forward(is_train=is_train)
        return self.outputs

    def backward(self, out_grads=None):
        if out_grads is not None:
            for hg, g in zip(self._ex.head_grads, _as_list_of(out_grads)):
                if hg is not None:
                    hg[...] = _np(g)
        self._ex.backward()
        for k, grad in self.grad_dict.items():
            if grad is None:
                continue
            if k in self._add:
                grad += self._ex.grad_arrays[k]
            else:
                grad[...] = self._ex.grad_arrays[k]


def _as_list_of(values):
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _bind_shapes(sym, shapes, grad_req, dtype):
    from .segmented_executor import executor_for as Executor
    return Executor(sym, shapes, data_names=list(shapes), label_names=[], grad_req=grad_req,
                    dtype=_dtype_name(dtype), metric_io=False)


def _graph_dtype(type_dict):
    """The one dtype of a binding's type_dict (the compiled graph has one real type)."""
    kinds = {np.dtype(t).name for t in (type_dict or {}).values()}
    if len(kinds) > 1:
        raise ValueError("check_consistency: one dtype per binding, got type_dict %s"
                         % type_dict)
    return kinds.pop() if kinds else "float32"


def _simple_bind(sym, grad_req, spec):
    """sym.simple_bind(grad_req, **spec), or an equivalent binding of the compiled graph."""
    if hasattr(sym, "simple_bind"):
        return sym.simple_bind(grad_req=grad_req, **spec)
    spec = dict(spec)
    spec.pop("ctx", None)
    dtype = _graph_dtype(spec.pop("type_dict", None))
    spec.pop("stype_dict", None)
    return _BoundGraph(sym, grad_req, spec, dtype)


def _assign(arr, value):
    arr[:] = np.asarray(_np(value), dtype=_np(arr).dtype) if np.ndim(value) else value


def _lower_precision(dt1, dt2):
    return dt1 if dt2 is None or np.dtype(dt1).itemsize < np.dtype(dt2).itemsize else dt2


def _compare_or_report(arr, want, rtol, atol, equal_nan, raise_on_err, label):
    try:
        assert_almost_equal(arr, want, rtol=rtol, atol=atol, names=(label, "ground truth"),
                            equal_nan=equal_nan)
    except AssertionError as err:
        if raise_on_err:
            raise
        logging.getLogger("mxc.test_utils").error("%s: %s", label, err)


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, rtol=None, atol=None, raise_on_err=True,
                      ground_truth=None, equal_nan=False, use_uniform=False,
                      rand_type=np.float64):
    """Bind `sym` (or one symbol per entry) once per ctx_list entry, feed all the same random
    inputs, and check forward outputs and gradients against the most precise binding.

    Each ctx_list entry is a dict of {'ctx': ctx, argument: shape, ..., 'type_dict': {...}}.
    Returns the ground truth {output or argument name: array}.
    """
    assert len(ctx_list) > 1
    syms = [sym] * len(ctx_list) if not isinstance(sym, (list, tuple)) else list(sym)
    assert len(syms) == len(ctx_list)
    output_names, arg_names = syms[0].list_outputs(), syms[0].list_arguments()
    for s in syms:
        assert s.list_arguments() == arg_names and s.list_outputs() == output_names
    exes = [_simple_bind(s, grad_req, spec) for s, spec in zip(syms, ctx_list)]
    arg_params = {} if arg_params is None else arg_params
    aux_params = {} if aux_params is None else aux_params
    for name in sorted(exes[0].arg_dict):
        if name not in arg_params:
            shape = _np(exes[0].arg_dict[name]).shape
            arg_params[name] = (np.random.uniform(-0.92 * scale, 0.92 * scale, size=shape)
                                if use_uniform else
                                np.random.normal(size=shape, scale=scale)).astype(rand_type)
    for name in exes[0].aux_dict:
        aux_params.setdefault(name, 0)
    for exe in exes:
        for name, arr in exe.arg_dict.items():
            _assign(arr, arg_params[name])
        for name, arr in exe.aux_dict.items():
            _assign(arr, aux_params[name])
    dtypes = [np.dtype(_np(exe.outputs[0]).dtype) for exe in exes]
    gt_idx = int(np.argmax([d.itemsize for d in dtypes]))
    for exe in exes:
        exe.forward(is_train=False)
    gt = ground_truth
    if gt is None:
        gt = {k: _np(v).copy() for k, v in zip(output_names, exes[gt_idx].outputs)}
    for i, exe in enumerate(exes):
        if i != gt_idx:
            for name, arr in zip(output_names, exe.outputs):
                _compare_or_report(arr, gt[name], rtol, atol, equal_nan, raise_on_err,
                                   "forward of binding %d, output %s" % (i, name))
    if grad_req == "null":
        return gt
    for exe in exes:
        exe.forward(is_train=True)
    head_dtypes = [_np(o).dtype for o in exes[0].outputs]
    for exe in exes:
        head_dtypes = [_lower_precision(_np(o).dtype, dt) for o, dt in
                       zip(exe.outputs, head_dtypes)]
    heads = [_np(o).astype(dt) for o, dt in zip(exes[0].outputs, head_dtypes)]
    for exe in exes:
        exe.backward(_heads_for(exe, heads))
    if ground_truth is None:
        gt.update({k: _np(v).copy() for k, v in zip(output_names, exes[gt_idx].outputs)})
        gt.update({k: None if exes[gt_idx].grad_dict.get(k) is None
                   else _np(exes[gt_idx].grad_dict[k]).copy() for k in arg_names})
    for i, exe in enumerate(exes):
        if i == gt_idx:
            continue
        values = list(zip(output_names, exe.outputs)) + \
            [(k, exe.grad_dict.get(k)) for k in arg_names]
        for name, arr in values:
            if gt.get(name) is None:
                assert arr is None, "binding %d has a gradient for %s, the ground truth not" \
                    % (i, name)
                continue
            _compare_or_report(arr, gt[name], rtol, atol, equal_nan, raise_on_err,
                               "training pass of binding %d at %s" % (i, name))
    return gt


def _heads_for(exe, heads):
    """Head gradients in the form exe.backward takes (NDArrays for a real executor)."""
    if isinstance(exe, _BoundGraph):
        return heads
    from .ndarray import array
    return [array(h, dtype=_np(o).dtype) for h, o in zip(heads, exe.outputs)]


def check_speed(sym, location=None, ctx=None, N=20, grad_req=None, typ="whole", **kwargs):
    """Seconds per forward+backward (typ='whole') or per forward (typ='forward') of `sym`.

    `location` gives input values ({name: array}); without it, shapes come from kwargs and
    the inputs are standard normal.
    """
    if typ not in ("whole", "forward"):
        raise ValueError('typ can only be "whole" or "forward".')
    spec = dict(kwargs)
    if location is not None:
        assert isinstance(location, dict), 'Expect dict, get "location"=%s' % str(location)
        spec.update({k: np.shape(_np(v)) for k, v in location.items()})
    spec["ctx"] = ctx or default_context()
    exe = _simple_bind(sym, grad_req or "write", spec)
    if location is None:
        location = {k: np.random.normal(size=_np(a).shape) for k, a in exe.arg_dict.items()}
    for name, value in location.items():
        _assign(exe.arg_dict[name], value)
    train = typ == "whole"

    def step():
        exe.forward(is_train=train)
        if train:
            exe.backward(_heads_for(exe, [_np(o) for o in exe.outputs]))

    step()                      # warm up
    tic = time.time()
    for _ in range(N):
        step()
    return (time.time() - tic) / N


# ---- MNIST from local files, DummyIter ----------------------------------------------------------

__all__ += ["get_mnist", "get_mnist_ubyte", "get_mnist_iterator", "get_cifar10",
            "mnist_search_dirs", "dataset_search_dirs", "DummyIter"]

_MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def dataset_search_dirs(local, name):
    """Folders searched for dataset `name`, in order: `local` (relative to the working
    directory, where MXNet's helpers unpack), $MXNET_HOME/datasets/NAME (~/.mxnet when unset),
    $MXC_SHARED/data/NAME, and shared/data/NAME beside the project."""
    from .base import data_dir
    dirs = [local, os.path.join(data_dir(), "datasets", name)]
    if os.environ.get("MXC_SHARED"):
        dirs.append(os.path.join(os.environ["MXC_SHARED"], "data", name))
    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs.append(os.path.join(project, "..", "shared", "data", name))
    return dirs


def mnist_search_dirs():
    """Folders searched for the MNIST IDX files (see dataset_search_dirs)."""
    return dataset_search_dirs("data", "mnist")


def _find_dataset_file(dirs, names, what):
    """The first of `names` found in the first folder of `dirs` that has one."""
    for folder in dirs:
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError("%s file %s not found; looked in %s (mxc never downloads it: "
                            "place the files in one of these folders)"
                            % (what, " or ".join(names),
                               ", ".join(os.path.abspath(d) for d in dirs)))


def _find_mnist_file(stem):
    """Path of `stem` or `stem`.gz in the first search folder that has it."""
    return _find_dataset_file(mnist_search_dirs(), (stem, stem + ".gz"), "MNIST")


def _read_idx_file(path, ndim):
    """(dims, uint8 data) of an IDX file (plain or gzip) with `ndim` dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    from .base import MXNetError
    if len(raw) < 4 + 4 * ndim or raw[:4] != bytes((0, 0, 8, ndim)):
        raise MXNetError("%s is not an IDX file of %d-d unsigned bytes" % (path, ndim))
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise MXNetError("%s: header says %s (%d bytes) but the file holds %d bytes of data"
                         % (path, dims, int(np.prod(dims)), body.size))
    return dims, body.reshape(dims)


def _mnist_split(image_stem, label_stem):
    _, labels = _read_idx_file(_find_mnist_file(label_stem), 1)
    _, images = _read_idx_file(_find_mnist_file(image_stem), 3)
    if images.shape[0] != labels.shape[0]:
        from .base import MXNetError
        raise MXNetError("MNIST: %d images but %d labels" % (images.shape[0], labels.shape[0]))
    images = images.reshape(images.shape[0], 1, images.shape[1], images.shape[2])
    return labels.astype(np.int8), images.astype(np.float32) / 255


def get_mnist():
    """MNIST as arrays: {'train_data', 'train_label', 'test_data', 'test_label'}; images are
    (N, 1, 28, 28) float32 in [0, 1], labels int8. Read from mnist_search_dirs()."""
    train_label, train_data = _mnist_split(_MNIST_STEMS[0], _MNIST_STEMS[1])
    test_label, test_data = _mnist_split(_MNIST_STEMS[2], _MNIST_STEMS[3])
    return {"train_data": train_data, "train_label": train_label,
            "test_data": test_data, "test_label": test_label}


def _write_plain(source, target):
    """Copy `source` (gzip or plain) to `target` uncompressed, atomically."""
    opener = gzip.open if source.endswith(".gz") else open
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, opener(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def get_mnist_ubyte():
    """Make ./data hold the four uncompressed MNIST IDX files (taken from the first search
    folder that has each); returns 'data'."""
    os.makedirs("data", exist_ok=True)
    for stem in _MNIST_STEMS:
        target = os.path.join("data", stem)
        if not os.path.isfile(target):
            _write_plain(_find_mnist_file(stem), target)
    return "data"


def get_cifar10():
    """Make ./data/cifar hold CIFAR-10's train/test .rec and .lst files (taken from the first
    of dataset_search_dirs('data/cifar', 'cifar10') that has each); returns 'data/cifar'."""
    folder = os.path.join("data", "cifar")
    os.makedirs(folder, exist_ok=True)
    dirs = dataset_search_dirs(folder, "cifar10")
    for name in ("train.rec", "test.rec", "train.lst", "test.lst"):
        target = os.path.join(folder, name)
        if not os.path.isfile(target):
            _write_plain(_find_dataset_file(dirs, (name,), "CIFAR-10"), target)
    return folder


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """(train, val) MNISTIter over ./data (see get_mnist_ubyte); flat unless 3-d input_shape."""
    from .io import MNISTIter
    folder = get_mnist_ubyte()
    flat = len(input_shape) != 3

    def iterator(prefix, shuffle):
        return MNISTIter(image=os.path.join(folder, prefix + "-images-idx3-ubyte"),
                         label=os.path.join(folder, prefix + "-labels-idx1-ubyte"),
                         input_shape=input_shape, batch_size=batch_size, shuffle=shuffle,
                         flat=flat, num_parts=num_parts, part_index=part_index)
    return iterator("train", True), iterator("t10k", False)


class DummyIter(DataIter):
    """Returns the first batch of `real_iter` forever (for speed tests)."""

    def __init__(self, real_iter):
        super().__init__(real_iter.batch_size)
        self.real_iter = real_iter
        self.provide_data = real_iter.provide_data
        self.provide_label = real_iter.provide_label
        self.batch_size = real_iter.batch_size
        self.the_batch = next(real_iter)

    def __iter__(self):
        return self

    def next(self):
        """The first batch of the real iterator; never raises StopIteration."""
        return self.the_batch

    __next__ = next
