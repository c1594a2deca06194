"""Indexing operators: take, pick, batch_take, gather_nd, scatter_nd, shape_array, size_array,
and the sequence operators SequenceMask, SequenceLast, SequenceReverse.

Index inputs (indices, index, sequence_length) are real tensors like every other tensor of a
graph; the kernels read them as MXNet does (truncated to an integer, then clipped, wrapped or
checked by `mode`) and never address memory outside a tensor: an index that must be in range
and is not makes the kernel fail with a message naming the node, the index and its position.
"""
from math import prod

import numpy as np

from ..errors import MXNetError
from .base import (OpDef, Param, ShapeError, assign, known, ndim_known, p_bool, p_enum, p_float,
                   p_int, p_optional, p_shape, register)
from .shape_ops import _axis, strides


class IndexOutOfRange(MXNetError, IndexError):
    """An index outside its axis, from the eager (mx.nd) path: both MXNetError and IndexError,
    as MXNet raises it."""


def _as_int(v):
    """MXNet's cast of a real index to an integer: truncation toward zero."""
    return np.trunc(np.asarray(v, dtype=np.float64)).astype(np.int64)


def _resolve(idx, size, mode, what):
    """Integer positions in [0, size) from real indices by `mode` (clip / wrap / raise)."""
    v = np.asarray(idx, dtype=np.float64)
    if mode == "raise":
        bad = ~((v > -1) & (v < size))
        if bad.any():
            k = int(np.flatnonzero(bad.ravel())[0])
            raise IndexOutOfRange("%s: index %g at position %d is outside [0, %d)"
                             % (what, v.ravel()[k], k, size))
        return _as_int(v)
    if mode == "wrap":                   # the remainder of the truncated real; NaN, inf: 0
        with np.errstate(invalid="ignore"):
            w = np.fmod(np.trunc(v), size)
        w = np.where(w < 0, w + size, w)
        return np.where(np.isfinite(w), w, 0).astype(np.int64)
    return _as_int(np.clip(np.nan_to_num(v, nan=0.0), 0, size - 1))


# ---- take ----------------------------------------------------------------------------------

def _take_shape(p, ins):
    a, idx = ins
    if not (known(a) and known(idx)):
        return ins, [None]
    ax = _axis(p["axis"], len(a))
    return ins, [tuple(a[:ax]) + tuple(idx) + tuple(a[ax + 1:])]


def _take_geometry(p, s):
    a = s["a"]
    ax = _axis(p["axis"], len(a))
    return {"outer": prod(a[:ax]), "A": a[ax], "inner": prod(a[ax + 1:]), "K": prod(s["indices"]),
            "N": prod(s["output"])}


def _take_ref(p, arrays, train=False):
    a, idx = arrays
    ax = _axis(p["axis"], a.ndim)
    return [np.ascontiguousarray(np.take(a, _resolve(idx, a.shape[ax], p["mode"], "take"),
                                         axis=ax))]


register(OpDef("take", inputs=("a", "indices"), no_grad_inputs=("indices",),
               params={"axis": Param(p_int, 0),
                       "mode": Param(p_enum("clip", "wrap", "raise"), "clip")},
               shape=_take_shape, template="ops/take.c.j2", geometry=_take_geometry,
               reference=_take_ref))


# ---- pick / batch_take -----------------------------------------------------------------------

def _pick_axis(p, ndim):
    if p["axis"] is None:
        raise ShapeError(0, (), (), "pick: axis=None is not supported, give an axis")
    return _axis(p["axis"], ndim)


def _pick_shape(p, ins):
    d, idx = ins
    if not ndim_known(d):                   # unknown (0) dimensions stay unknown, as MXNet's
        return ins, [None]
    ax = _pick_axis(p, len(d))
    kept = tuple(1 if k == ax else s for k, s in enumerate(d))
    dropped = tuple(s for k, s in enumerate(d) if k != ax) or (1,)
    ins = list(ins)
    if ndim_known(idx) and len(idx) == len(d) and len(d) > 1:
        assign(ins, 1, kept)
    else:
        assign(ins, 1, dropped)
    return ins, [kept if p["keepdims"] else dropped]


def _pick_geometry(p, s):
    d = s["data"]
    ax = _pick_axis(p, len(d))
    return {"outer": prod(d[:ax]), "A": d[ax], "inner": prod(d[ax + 1:]), "N": prod(s["output"])}


def _pick_ref(p, arrays, train=False):
    d, idx = arrays
    ax = _pick_axis(p, d.ndim)
    j = _resolve(idx, d.shape[ax], p["mode"], "pick").reshape(
        tuple(1 if k == ax else s for k, s in enumerate(d.shape)))
    out = np.take_along_axis(d, j, axis=ax)
    return [np.ascontiguousarray(out.reshape(_pick_shape(p, [d.shape, idx.shape])[1][0]))]


register(OpDef("pick", inputs=("data", "index"), no_grad_inputs=("index",),
               params={"axis": Param(p_optional(p_int), -1), "keepdims": Param(p_bool, False),
                       "mode": Param(p_enum("clip", "wrap"), "clip")},
               shape=_pick_shape, template="ops/pick.c.j2", geometry=_pick_geometry,
               reference=_pick_ref))


def _batch_take_shape(p, ins):
    a, idx = ins
    if not known(a):
        return ins, [None]
    if len(a) < 2:
        raise ShapeError(0, tuple(a), (), "batch_take: a must have at least 2 dimensions")
    if not known(idx):
        return ins, [None]
    if prod(idx) != prod(a) // a[-1]:
        raise ShapeError(1, tuple(idx), tuple(a[:-1]), "batch_take: indices must hold one "
                         "index per row of a (%d)" % (prod(a) // a[-1]))
    return ins, [tuple(idx)]


def _batch_take_ref(p, arrays, train=False):
    a, idx = arrays
    rows = a.reshape(-1, a.shape[-1])
    j = _resolve(idx.ravel(), a.shape[-1], "clip", "batch_take")
    return [rows[np.arange(rows.shape[0]), j].reshape(idx.shape)]


register(OpDef("batch_take", inputs=("a", "indices"), differentiable=False, has_gradient=False,
               shape=_batch_take_shape, template="ops/pick.c.j2",
               geometry=lambda p, s: {"outer": prod(s["output"]), "A": s["a"][-1], "inner": 1,
                                      "N": prod(s["output"])},
               reference=_batch_take_ref))


# ---- gather_nd / scatter_nd -------------------------------------------------------------------

def _nd_geometry(data_shape, idx_shape):
    m = idx_shape[0]
    return {"M": m, "N": prod(idx_shape[1:]), "K": prod(data_shape[m:]),
            "sizes": list(data_shape[:m]), "strides": strides(data_shape)[:m]}


def _gather_nd_shape(p, ins):
    d, idx = ins
    if not (known(d) and known(idx)):
        return ins, [None]
    if len(idx) < 2 or idx[0] > len(d):
        raise ShapeError(1, tuple(idx), tuple(d), "gather_nd: indices must have at least 2 "
                         "dimensions and at most %d rows (data's dimensions)" % len(d))
    return ins, [tuple(idx[1:]) + tuple(d[idx[0]:])]


def _nd_positions(d_shape, idx, what, negative):
    """Flat offsets (in units of the trailing block) of each column of `idx`."""
    m = idx.shape[0]
    cols = idx.reshape(m, -1).astype(np.float64)
    out = np.zeros(cols.shape[1], dtype=np.int64)
    for k in range(m):
        s = d_shape[k]
        lo = -s - 1 if negative else -1
        bad = ~((cols[k] > lo) & (cols[k] < s))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise IndexOutOfRange("%s: index %g at position %d is out of bounds for axis %d with "
                             "size %d" % (what, cols[k][pos], k * cols.shape[1] + pos, k, s))
        j = _as_int(cols[k])
        out = out * s + np.where(j < 0, j + s, j)
    return out


def _gather_nd_ref(p, arrays, train=False):
    d, idx = arrays
    m = idx.shape[0]
    pos = _nd_positions(d.shape, idx, "gather_nd", True)
    block = d.reshape((prod(d.shape[:m]),) + d.shape[m:])
    return [np.ascontiguousarray(block[pos]).reshape(_gather_nd_shape(p, [d.shape,
                                                                            idx.shape])[1][0])]


register(OpDef("gather_nd", inputs=("data", "indices"), no_grad_inputs=("indices",),
               shape=_gather_nd_shape, template="ops/gather_nd.c.j2",
               geometry=lambda p, s: _nd_geometry(s["data"], s["indices"]),
               reference=_gather_nd_ref))


def _scatter_nd_shape(p, ins):
    d, idx = ins
    out = tuple(p["shape"])
    if not known(idx):
        return ins, [out]
    if len(idx) < 2 or idx[0] > len(out):
        raise ShapeError(1, tuple(idx), out, "scatter_nd: indices must have at least 2 "
                         "dimensions and at most %d rows (the output's dimensions)" % len(out))
    ins = list(ins)
    assign(ins, 0, tuple(idx[1:]) + out[idx[0]:])
    return ins, [out]


def _scatter_nd_ref(p, arrays, train=False):
    d, idx = arrays
    out_shape = tuple(p["shape"])
    m = idx.shape[0]
    pos = _nd_positions(out_shape, idx, "scatter_nd", False)
    out = np.zeros((prod(out_shape[:m]),) + out_shape[m:], dtype=d.dtype)
    out[pos] = d.reshape((len(pos),) + out_shape[m:])
    return [out.reshape(out_shape)]


register(OpDef("scatter_nd", inputs=("data", "indices"), no_grad_inputs=("indices",),
               params={"shape": Param(p_shape, ge=1)},
               shape=_scatter_nd_shape, template="ops/scatter_nd.c.j2",
               geometry=lambda p, s: _nd_geometry(s["output"], s["indices"]),
               reference=_scatter_nd_ref))


# ---- shape_array / size_array ------------------------------------------------------------------

def _shape_array_shape(p, ins):
    return ins, [(len(ins[0]),) if known(ins[0]) else None]


def _int64_dtype(p, ins, outs):
    """shape_array / size_array: int64 whatever the input's type (MXNet's)."""
    return ins, ["int64"]


register(OpDef("shape_array", shape=_shape_array_shape, differentiable=False,
               dtype_rule=_int64_dtype,
               template="ops/shape_array.c.j2",
               geometry=lambda p, s: {"values": list(s["data"])},
               reference=lambda p, arrays, train=False: [
                   np.array(arrays[0].shape, dtype=np.int64)]))

register(OpDef("size_array", shape=lambda p, ins: (ins, [(1,)]), differentiable=False,
               dtype_rule=_int64_dtype,
               template="ops/shape_array.c.j2",
               geometry=lambda p, s: {"values": [prod(s["data"])]},
               reference=lambda p, arrays, train=False: [
                   np.array([arrays[0].size], dtype=np.int64)]))


# ---- SequenceMask / SequenceLast / SequenceReverse ----------------------------------------------

def _seq_inputs(p):
    return ["data", "sequence_length"] if p["use_sequence_length"] else ["data"]


def _seq_dims(p, d, op):
    """(T, B, R): the sequence length, the batch and the size of one step of one sequence."""
    if len(d) < 2:
        raise ShapeError(0, tuple(d), (), "%s: data must have at least 2 dimensions" % op)
    t, b = (d[0], d[1]) if p["axis"] == 0 else (d[1], d[0])
    return t, b, prod(d[2:])


def _seq_shape(op, drop_axis):
    def rule(p, ins):
        d = ins[0]
        if not known(d):
            return ins, [None]
        _, b, _ = _seq_dims(p, d, op)
        ins = list(ins)
        if p["use_sequence_length"]:
            assign(ins, 1, (b,))
        out = tuple(s for k, s in enumerate(d) if k != p["axis"]) if drop_axis else tuple(d)
        return ins, [out]
    return rule


def _seq_geometry(op):
    def geometry(p, s):
        t, b, r = _seq_dims(p, s["data"], op)
        return {"T": t, "B": b, "R": r, "size": t * b * r}
    return geometry


def _lengths(p, arrays, t, b, low, op):
    """Per sequence, its length as an integer (all T without sequence_length)."""
    if not p["use_sequence_length"]:
        return np.full(b, t, dtype=np.int64)
    v = np.asarray(arrays[1], dtype=np.float64).ravel()
    if low is None:
        return np.clip(_as_int(np.nan_to_num(v, posinf=t, neginf=0)), 0, t)
    bad = ~(((v >= low) if low > 0 else (v > low - 1)) & (v < t + 1))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise IndexOutOfRange("%s: sequence_length %g at position %d is outside [%d, %d]"
                         % (op, v[k], k, low, t))
    return _as_int(v)


def _time_major(p, x):
    return x if p["axis"] == 0 else np.swapaxes(x, 0, 1)


def _seq_mask_ref(p, arrays, train=False):
    x = _time_major(p, arrays[0])
    t, b = x.shape[:2]
    lengths = _lengths(p, arrays, t, b, None, "SequenceMask")
    keep = np.arange(t)[:, None] < lengths[None, :]
    out = np.where(keep.reshape(keep.shape + (1,) * (x.ndim - 2)), x, p["value"])
    return [np.ascontiguousarray(_time_major(p, out.astype(x.dtype)))]


def _seq_last_ref(p, arrays, train=False):
    x = _time_major(p, arrays[0])
    t, b = x.shape[:2]
    lengths = _lengths(p, arrays, t, b, 1, "SequenceLast")
    return [np.ascontiguousarray(x[lengths - 1, np.arange(b)])]


def _seq_reverse_ref(p, arrays, train=False):
    x = arrays[0]
    t, b = x.shape[:2]
    lengths = _lengths(p, arrays, t, b, 0, "SequenceReverse")
    out = x.copy()
    for k in range(b):
        out[:lengths[k], k] = x[:lengths[k], k][::-1]
    return [out]


_SEQ_PARAMS = {"use_sequence_length": Param(p_bool, False), "axis": Param(p_int, 0, ge=0, le=1)}

register(OpDef("SequenceMask", inputs=_seq_inputs, no_grad_inputs=("sequence_length",),
               params=dict(_SEQ_PARAMS, value=Param(p_float, 0.0)),
               shape=_seq_shape("SequenceMask", False), template="ops/sequence.c.j2",
               geometry=_seq_geometry("SequenceMask"), reference=_seq_mask_ref))

register(OpDef("SequenceLast", inputs=_seq_inputs, no_grad_inputs=("sequence_length",),
               params=dict(_SEQ_PARAMS), shape=_seq_shape("SequenceLast", True),
               template="ops/sequence.c.j2", geometry=_seq_geometry("SequenceLast"),
               reference=_seq_last_ref))

register(OpDef("SequenceReverse", inputs=_seq_inputs, no_grad_inputs=("sequence_length",),
               params=dict(_SEQ_PARAMS, axis=Param(p_int, 0, ge=0, le=0)),
               shape=_seq_shape("SequenceReverse", False), template="ops/sequence.c.j2",
               geometry=_seq_geometry("SequenceReverse"), reference=_seq_reverse_ref))
