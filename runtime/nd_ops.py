"""mx.nd.<op>: every registered operator, run eagerly on NumPy.

An imperative call never compiles anything: it parses its keyword arguments with the
operator's own parameter parsers, checks the input shapes with the operator's shape rule,
and runs the NumPy reference kept beside the operator's registry entry. Outside autograd
(which mxc does not have) MXNet runs imperative operators in inference mode; so does this.
"""
import numpy as np

from .base import MXNetError
from .compiler import ops as _ops
from .compiler.ops.base import ShapeError
from .ndarray import NDArray, _ctx_or_default

__all__ = ["invoke", "function"]


def _split_arguments(op, args, kwargs):
    """(arrays given positionally, arrays given by name, raw parameters) of one call.

    As in MXNet's generated functions, positional NDArrays are the inputs in order and
    positional non-arrays are the parameters in their declared order.
    """
    if op.variable_inputs and len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    positional, raw = [], {}
    param_names = [k for k in op.params if k != "num_args"]
    rest = []
    for value in args:
        (positional if isinstance(value, (NDArray, np.ndarray)) and not rest else rest) \
            .append(value)
    if len(rest) > len(param_names):
        raise MXNetError("mx.nd.%s takes at most %d positional parameters (%s), got %d"
                         % (op.name, len(param_names), ", ".join(param_names), len(rest)))
    raw.update(zip(param_names, rest))
    named = {}
    for key, value in kwargs.items():
        if isinstance(value, (NDArray, np.ndarray)):
            named[key] = value
        elif key in raw:
            raise MXNetError("mx.nd.%s got parameter '%s' twice" % (op.name, key))
        else:
            raw[key] = value
    return positional, named, raw


def _gather_inputs(op, params, positional, named, fname):
    """The input and aux arrays in the operator's order, or an MXNetError naming the gap."""
    if op.variable_inputs:
        extra = [named.pop(k) for k in sorted(named) if k.startswith("arg")]
        positional = positional + extra
        names = op.input_names(params, len(positional))
    else:
        names = op.input_names(params)
    names = names + op.aux_names(params)
    if len(positional) > len(names):
        raise MXNetError("mx.nd.%s takes %d arrays (%s), got %d"
                         % (fname, len(names), ", ".join(names), len(positional)))
    arrays = dict(zip(names, positional))
    for key, value in named.items():
        if key not in names:
            raise MXNetError("mx.nd.%s: unknown input '%s' (inputs: %s)"
                             % (fname, key, ", ".join(names)))
        if key in arrays:
            raise MXNetError("mx.nd.%s: input '%s' given twice" % (fname, key))
        arrays[key] = value
    missing = [n for n in names if n not in arrays]
    if missing:
        raise MXNetError("mx.nd.%s: missing input %s (inputs: %s)"
                         % (fname, ", ".join("'%s'" % m for m in missing), ", ".join(names)))
    return names, [arrays[n] for n in names]


def _infer_shapes(op, params, names, arrays, fname):
    """Output shapes by the operator's shape rule; the given shapes must agree with it."""
    given = [tuple(a.shape) for a in arrays]
    try:
        in_shapes, out_shapes = op.shape_rule(params, list(given))
    except ShapeError as err:
        what = names[err.index] if 0 <= err.index < len(names) else "input"
        raise MXNetError("mx.nd.%s: '%s' has shape %s, expected %s%s"
                         % (fname, what, tuple(err.provided), tuple(err.inferred),
                            ": " + err.why if err.why else "")) from None
    for name, have, want in zip(names, given, in_shapes):
        if want is not None and tuple(want) != have:
            raise MXNetError("mx.nd.%s: '%s' has shape %s, expected %s"
                             % (fname, name, have, tuple(want)))
    return out_shapes


def _write_out(out, results):
    """Copy results into the `out` NDArray(s) the caller gave; returns them."""
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    if len(outs) != len(results):
        raise MXNetError("out: %d arrays for %d outputs" % (len(outs), len(results)))
    for target, value in zip(outs, results):
        if not isinstance(target, NDArray):
            raise TypeError("out must be an NDArray, got %s" % type(target).__name__)
        if target.shape != value.shape:
            raise MXNetError("out has shape %s, the result has shape %s"
                             % (target.shape, value.shape))
        target._data[...] = value
    return out


def invoke(fname, args, kwargs):
    """Run operator `fname` (a registered name or alias) on NDArrays; one NDArray per visible
    output (a list when there are several, as MXNet returns)."""
    op = _ops.FUNCTIONS[fname]
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    kwargs.pop("name", None)
    ctx = kwargs.pop("ctx", None)
    positional, named, raw = _split_arguments(op, args, kwargs)
    if op.variable_inputs and "num_args" in op.params and "num_args" not in raw:
        raw["num_args"] = len(positional) + sum(k.startswith("arg") for k in named)
    params = op.parse_params(raw, node_name=fname)
    names, arrays = _gather_inputs(op, params, positional, named, fname)
    arrays = [a if isinstance(a, NDArray) else NDArray(a) for a in arrays]
    out_shapes = _infer_shapes(op, params, names, arrays, fname)
    results = op.reference(params, [a._data for a in arrays], train=False)
    visible = [np.ascontiguousarray(r) for r in results[:op.num_visible(params)]]
    # an input with a zero-size axis (NumPy shape semantics) reads as an unknown dimension to
    # the shape rules, so their output shape is not the reference's to check then
    sized = all(a.size for a in arrays)
    for shape, value in zip(out_shapes, visible):
        if sized and shape is not None and tuple(shape) != value.shape:
            raise MXNetError("mx.nd.%s: internal error, result shape %s differs from the "
                             "inferred %s" % (fname, value.shape, tuple(shape)))
    if out is not None:
        return _write_out(out, visible)
    ctx = _ctx_or_default(ctx) if not arrays else arrays[0].context
    wrapped = [NDArray(v, ctx) for v in visible]
    return wrapped[0] if len(wrapped) == 1 else wrapped


def function(fname):
    """The mx.nd.<fname> function of a registered operator."""
    if fname not in _ops.FUNCTIONS:
        raise AttributeError("module 'mxc.ndarray' has no operator or attribute %r" % fname)

    def call(*args, **kwargs):
        return invoke(fname, args, kwargs)
    call.__name__ = call.__qualname__ = fname
    call.__doc__ = ("MXNet operator %s, computed eagerly in NumPy (see the MXNet 1.x "
                    "documentation)." % _ops.FUNCTIONS[fname].name)
    return call


def __getattr__(name):
    """mx.nd.op.<Operator>: the same functions as mx.nd.<Operator>."""
    return function(name)
