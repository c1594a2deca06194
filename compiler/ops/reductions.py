"""Reductions over a set of axes: prod, nansum, nanprod, _square_sum, norm (MXNet's broadcast_reduce_op_value.cc
and broadcast_reduce_norm_value.cc), and the softmax relatives softmin and
softmax_cross_entropy (nn/softmax.cc, loss_binary_op.cc).

The reductions' kernels (ops/reductions.c.j2, shared by C and CUDA) run one output element per
index: its kept coordinates give a base offset, and its reduced elements are walked by the
reduced dimensions' sizes and strides, which `geometry` computes here once.
"""
from math import prod

import numpy as np

from ..errors import MXNetError
from .base import (OpDef, Param, ShapeError, known, p_bool, p_enum, p_float, p_int, p_optional,
                   p_shape, register)
from .nn import _axis_geometry, _check_softmax, _softmax_shape
from .tensor import _REDUCE_PARAMS, _reduce_shape, reduced_axes


def reduce_geometry(p, shapes):
    """Sizes and strides of the kept (outer first) and reduced dimensions of the data."""
    d = shapes["data"]
    axes = set(reduced_axes(p, len(d)))
    strides = [prod(d[k + 1:]) for k in range(len(d))]
    kept = [(d[k], strides[k]) for k in range(len(d)) if k not in axes and d[k] > 1]
    red = [(d[k], strides[k]) for k in range(len(d)) if k in axes and d[k] > 1]
    return dict(KEPT=kept, RED=red, OUT=prod(s for s, _ in kept), R=prod(s for s, _ in red))


def _reducer(fn):
    def reference(p, arrays, train=False):
        x = arrays[0]
        with np.errstate(all="ignore"):
            out = fn(x, axis=tuple(reduced_axes(p, x.ndim)), keepdims=p["keepdims"])
        return [np.asarray(out, dtype=x.dtype).reshape(_reduce_shape(p, [x.shape])[1][0])]
    return reference


def _square_sum(x, axis, keepdims):
    return np.sum(np.square(x), axis=axis, keepdims=keepdims)


# _square_sum: MXNet's sum of squares (written for row_sparse data; computed densely here)
for _name, _np in (("prod", np.prod), ("nansum", np.nansum), ("nanprod", np.nanprod),
                   ("_square_sum", _square_sum)):
    register(OpDef(_name, params=_REDUCE_PARAMS, shape=_reduce_shape, geometry=reduce_geometry,
                   template="ops/reductions.c.j2", reference=_reducer(_np)))


# ---- norm ---------------------------------------------------------------------------------

def _norm_params(p):
    """norm as a reduction: its axes (none given: all), never `exclude`."""
    return {"axis": p["axis"] or (), "keepdims": p["keepdims"], "exclude": False}


def _norm_ref(p, arrays, train=False):
    x = arrays[0]
    q = _norm_params(p)
    axes = tuple(reduced_axes(q, x.ndim))
    if p["ord"] == 1:
        out = np.sum(np.abs(x), axis=axes, keepdims=p["keepdims"])
    else:
        out = np.sqrt(np.sum(np.square(x), axis=axes, keepdims=p["keepdims"]))
    return [np.asarray(out, dtype=p["out_dtype"] or x.dtype)
            .reshape(_reduce_shape(q, [x.shape])[1][0])]


register(OpDef(
    "norm", params={"ord": Param(p_int, 2, ge=1, le=2),
                    "axis": Param(p_optional(p_shape), None),
                    "out_dtype": Param(p_optional(p_enum("float16", "float32", "float64")), None),
                    "keepdims": Param(p_bool, False)},
    shape=lambda p, ins: _reduce_shape(_norm_params(p), ins),
    geometry=lambda p, shapes: reduce_geometry(_norm_params(p), shapes),
    template="ops/reductions.c.j2", reference=_norm_ref))


# ---- softmin ------------------------------------------------------------------------------

def _softmin_ref(p, arrays, train=False):
    x = arrays[0]
    t = 1.0 if p["temperature"] is None else p["temperature"]
    z = -x / t
    z = np.exp(z - z.max(axis=p["axis"], keepdims=True))
    return [(z / z.sum(axis=p["axis"], keepdims=True)).astype(p["dtype"] or x.dtype)]


register(OpDef(
    "softmin", params={"axis": Param(p_int, -1), "temperature": Param(p_optional(p_float), None),
                       "dtype": Param(p_optional(p_enum("float16", "float32", "float64")), None),
                       "use_length": Param(p_bool, False)},
    check=_check_softmax, shape=_softmax_shape, geometry=_axis_geometry,
    template="ops/softmin.c.j2", reference=_softmin_ref))


# ---- softmax_cross_entropy ----------------------------------------------------------------

def _sce_shape(p, ins):
    d, lab = ins
    if known(d):
        if len(d) != 2:
            raise ShapeError(0, tuple(d), (), "softmax_cross_entropy needs 2-D data "
                             "(batch, classes)")
        if known(lab) and tuple(lab) != (d[0],):
            raise ShapeError(1, tuple(lab), (d[0],))
        ins[1] = (d[0],)
    return ins, [(1,)]


def _sce_ref(p, arrays, train=False):
    x, label = arrays
    lab = label.astype(np.int64)
    if np.any((lab < 0) | (lab >= x.shape[1])) or np.any(lab != label):
        raise MXNetError("softmax_cross_entropy: labels must be integers in [0, %d)"
                         % x.shape[1])
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return [np.asarray([-logp[np.arange(len(lab)), lab].sum()], dtype=x.dtype)]


register(OpDef("softmax_cross_entropy", inputs=("data", "label"), shape=_sce_shape,
               no_grad_inputs=("label",), template="ops/softmax_cross_entropy.c.j2",
               reference=_sce_ref))
