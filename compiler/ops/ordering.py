"""Ordering operators along one axis: argmax, argmin, argmax_channel, topk, sort, argsort
(MXNet's broadcast_reduce_op_index.cc and ordering_op.cc).

Every kernel views the input as OUTER x N x INNER around the axis (axis None: the flattened
input, one row of N) and runs one row per index (ops/ordering.c.j2, shared by C and CUDA);
topk / sort / argsort keep the row's K best positions in a bounded heap (O(N log K)).
Indices are written as numbers of the output's type, as MXNet's float outputs hold them.
Ties keep the lower index first, in both directions, as NumPy's stable sort.
"""
from math import prod

import numpy as np

from .base import (OpDef, Param, ShapeError, known, p_bool, p_enum, p_int, p_optional,
                   register)

INDEX_DTYPES = ("uint8", "int32", "int64", "float16", "float32", "float64")


def _axis_of(p, d):
    """The axis as a non-negative number, None for the flattened input."""
    if p["axis"] is None:
        return None
    a = p["axis"] + len(d) if p["axis"] < 0 else p["axis"]
    if not 0 <= a < len(d):
        raise ShapeError(0, tuple(d), (), "axis %d is out of range for %d dimensions"
                         % (p["axis"], len(d)))
    return a


def view(p, d):
    """(OUTER, N, INNER) of data shape `d` around the operator's axis."""
    a = _axis_of(p, d)
    if a is None:
        return 1, prod(d), 1
    return prod(d[:a]), d[a], prod(d[a + 1:])


# ---- argmax / argmin / argmax_channel -----------------------------------------------------

def _argreduce_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    a = _axis_of(p, d)
    if a is None or len(d) == 1:
        return ins, [(1,) * len(d) if p["keepdims"] else (1,)]
    if p["keepdims"]:
        return ins, [tuple(1 if k == a else s for k, s in enumerate(d))]
    return ins, [tuple(s for k, s in enumerate(d) if k != a)]


def _argreduce_geometry(p, shapes):
    outer, n, inner = view(p, shapes["data"])
    return dict(OUTER=outer, N=n, INNER=inner, K=1)


def _argreduce_ref(fn):
    def reference(p, arrays, train=False):
        x = arrays[0]
        a = _axis_of(p, x.shape)
        idx = fn(x.reshape(-1) if a is None else x, axis=0 if a is None else a)
        shape = _argreduce_shape(p, [x.shape])[1][0]
        return [np.asarray(idx, dtype=x.dtype).reshape(shape)]
    return reference


_ARG_PARAMS = {"axis": Param(p_optional(p_int), None), "keepdims": Param(p_bool, False)}

for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    register(OpDef(_name, params=_ARG_PARAMS, shape=_argreduce_shape, differentiable=False,
                   geometry=_argreduce_geometry, template="ops/ordering.c.j2",
                   reference=_argreduce_ref(_fn)))


# argmax_channel is argmax along axis 1 (MXNet fixes axis=1, keepdims=False)
_CHANNEL = {"axis": 1, "keepdims": False}
_argmax_ref = _argreduce_ref(np.argmax)
register(OpDef("argmax_channel", shape=lambda p, ins: _argreduce_shape(_CHANNEL, ins),
               differentiable=False, has_gradient=False, template="ops/ordering.c.j2",
               geometry=lambda p, shapes: _argreduce_geometry(_CHANNEL, shapes),
               reference=lambda p, arrays, train=False: _argmax_ref(_CHANNEL, arrays)))


# ---- topk / sort / argsort ------------------------------------------------------------------

def topk_k(p, n):
    """How many are kept along a row of n: k, or all of them when k < 1."""
    k = p.get("k", 0)
    return n if k < 1 else k


def _topk_outputs(p):
    kind = p.get("ret_typ", "value")
    return ["output0", "output1"] if kind == "both" else ["output"]


def _topk_shape(p, ins):
    d = ins[0]
    kind = p.get("ret_typ", "value")
    n_out = 2 if kind == "both" else 1
    if not known(d):
        return ins, [None] * n_out
    a = _axis_of(p, d)
    outer, n, inner = view(p, d)
    k = topk_k(p, n)
    if k > n:
        raise ShapeError(0, tuple(d), (), "k=%d is larger than the %d elements along the axis"
                         % (k, n))
    if kind == "mask":
        return ins, [tuple(d)]
    out = (k,) if a is None else tuple(k if j == a else s for j, s in enumerate(d))
    return ins, [out] * n_out


def _topk_geometry(p, shapes):
    outer, n, inner = view(p, shapes["data"])
    return dict(OUTER=outer, N=n, INNER=inner, K=topk_k(p, n))


def _topk_workspace(p, ins, outs):
    """Per row, a heap of K element positions (int64: two elements of the smallest real)."""
    outer, n, inner = view(p, ins[0])
    return 2 * outer * inner * topk_k(p, n)


def _ranked(p, x):
    """(values, indices) of the first k along the axis, in the operator's order; ties keep the
    lower index first."""
    a = _axis_of(p, x.shape)
    v = x.reshape(-1) if a is None else np.moveaxis(x, a, -1)
    key = v if p["is_ascend"] else -v
    order = np.argsort(key, axis=-1, kind="stable")[..., :topk_k(p, v.shape[-1])]
    vals = np.take_along_axis(v, order, axis=-1)
    if a is not None:
        vals, order = np.moveaxis(vals, -1, a), np.moveaxis(order, -1, a)
    return np.ascontiguousarray(vals), np.ascontiguousarray(order)


def _topk_ref(p, arrays, train=False):
    x = arrays[0]
    kind = p.get("ret_typ", "value")
    vals, idx = _ranked(p, x)
    idx_dtype = p.get("dtype", "float32")
    if kind == "value":
        return [vals]
    if kind == "indices":
        return [idx.astype(idx_dtype)]
    if kind == "both":
        return [vals, idx.astype(idx_dtype)]
    mask = np.zeros(x.size if _axis_of(p, x.shape) is None else x.shape, dtype=x.dtype)
    a = _axis_of(p, x.shape)
    if a is None:
        mask[idx] = 1
    else:
        np.put_along_axis(mask, idx, 1, axis=a)
    return [mask.reshape(x.shape)]


def _topk_dtype(p, ins, outs):
    """Values and mask have the input's type, indices the `dtype` parameter's (MXNet's
    TopKType)."""
    d = ins[0]
    kind = p["ret_typ"]
    if kind == "indices":
        return ins, [p["dtype"]]
    if kind == "both":
        return [d or outs[0]], [d or outs[0], p["dtype"]]
    return [d or outs[0]], [d or outs[0]]


register(OpDef("topk", params={"axis": Param(p_optional(p_int), -1), "k": Param(p_int, 1),
                               "ret_typ": Param(p_enum("value", "indices", "mask", "both"),
                                                "indices"),
                               "is_ascend": Param(p_bool, False),
                               "dtype": Param(p_enum(*INDEX_DTYPES), "float32")},
               outputs=_topk_outputs, shape=_topk_shape, geometry=_topk_geometry,
               workspace=_topk_workspace, template="ops/ordering.c.j2", reference=_topk_ref,
               dtype_rule=_topk_dtype))

register(OpDef("sort", params={"axis": Param(p_optional(p_int), -1),
                               "is_ascend": Param(p_bool, True)},
               shape=_topk_shape, geometry=_topk_geometry, workspace=_topk_workspace,
               template="ops/ordering.c.j2",
               reference=lambda p, arrays, train=False: [_ranked(p, arrays[0])[0]]))

register(OpDef("argsort", params={"axis": Param(p_optional(p_int), -1),
                                  "is_ascend": Param(p_bool, True),
                                  "dtype": Param(p_enum(*INDEX_DTYPES), "float32")},
               shape=_topk_shape, geometry=_topk_geometry, workspace=_topk_workspace,
               template="ops/ordering.c.j2", differentiable=False,
               dtype_rule=lambda p, ins, outs: (ins, [p["dtype"]]),
               reference=lambda p, arrays, train=False: [
                   _ranked(p, arrays[0])[1].astype(p["dtype"])]))
