"""mx.test_utils: helpers for tests and examples (file download, ...)."""
import errno
import logging
import os
import tempfile
import urllib.request

import numpy as np

__all__ = ["download"]


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

__all__ += ["assert_almost_equal", "almost_equal", "check_numeric_gradient",
            "check_symbolic_forward", "check_symbolic_backward", "numeric_grad",
            "central_difference"]

_DEFAULT_RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-5}
_DEFAULT_ATOL = {"float16": 1e-1, "float32": 1e-3, "float64": 1e-20}


def _np(value):
    return np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value)


def _tols(a, b, rtol, atol):
    kind = np.result_type(a.dtype, b.dtype).name
    if rtol is None:
        rtol = _DEFAULT_RTOL.get(kind, 1e-5)
    if atol is None:
        atol = _DEFAULT_ATOL.get(kind, 1e-20)
    return rtol, atol


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False):
    """True when |a - b| <= atol + rtol * |b| everywhere."""
    a, b = _np(a), _np(b)
    rtol, atol = _tols(a, b, rtol, atol)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False):
    """Raise AssertionError naming the worst element when a and b differ beyond tolerance."""
    a, b = _np(a), _np(b)
    rtol, atol = _tols(a, b, rtol, atol)
    if a.shape != b.shape:
        raise AssertionError("shape mismatch: %s %s vs %s %s"
                             % (names[0], a.shape, names[1], b.shape))
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


def _as_dict(values, names, what):
    """A list (in `names` order) or dict of arrays -> {name: float array}."""
    if values is None:
        return {}
    if isinstance(values, dict):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ValueError("%s: %s not in %s" % (what, ", ".join(unknown), names))
        return {k: _np(v) for k, v in values.items()}
    values = list(values)
    if len(values) != len(names):
        raise ValueError("%s: got %d arrays for %d names %s" % (what, len(values), len(names),
                                                               names))
    return {k: _np(v) for k, v in zip(names, values)}


def _dtype_name(dtype):
    name = np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError("compiled executors are float32 or float64, got %s" % name)
    return name


def _bind(sym, location, aux_states, grad_req, dtype):
    """A compiled executor over `location` (every argument bound as an input)."""
    from .executor import Executor
    args = sym.list_arguments()
    missing = [a for a in args if a not in location]
    if missing:
        raise ValueError("location is missing arguments %s of the symbol" % missing)
    shapes = {k: tuple(v.shape) for k, v in location.items()}
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
    expected = _as_dict(expected, ex.output_names, "expected")
    for name, out in zip(ex.output_names, ex.outputs):
        if name in expected:
            assert_almost_equal(out, expected[name], rtol, atol,
                                ("EXPECTED_%s" % name, "FORWARD_%s" % name), equal_nan)
    return [o.copy() for o in ex.outputs]


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
        out_grads = _as_dict(out_grads, ex.output_names, "out_grads")
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
