"""Tensor operators: shape manipulation, broadcasting shapes, reductions, matrix products,
indexing helpers (reference sections 1.6, 11.4, 11.5)."""
from math import prod

import numpy as np

from .base import (OpDef, Param, ShapeError, known, p_bool, p_dtype, p_enum, p_float, p_int,
                   p_optional, p_shape, register)


def _same_shape(p, ins):
    return ins, [tuple(ins[0]) if known(ins[0]) else None]


def _axis(axis, ndim, what="axis", extra=0):
    """Normalise a possibly negative axis for `ndim` dimensions (+extra valid positions)."""
    a = axis + ndim + extra if axis < 0 else axis
    if not 0 <= a < ndim + extra:
        raise ShapeError(0, (), (), "%s %d is out of range for %d dimensions"
                         % (what, axis, ndim))
    return a


# ---- shape manipulation ------------------------------------------------------------------------

def _flatten_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    return ins, [(d[0], prod(d[1:]))]


def _reshaped(fn):
    """Reference of an operator that only changes the shape: `fn(p, shape)` gives the target."""
    return lambda p, arrays, train=False: [arrays[0].reshape(fn(p, arrays[0].shape))]


register(OpDef("Flatten", aliases=("flatten",), shape=_flatten_shape, template="ops/copy.c.j2",
               reference=_reshaped(lambda p, d: _flatten_shape(p, [d])[1][0])))


def reshape_target(dshape, shape, reverse=False):
    """MXNet's Reshape codes 0, -1, -2, -3, -4 (reverse matches right to left)."""
    dshape, shape = list(dshape), list(shape)
    if reverse:
        dshape, shape = dshape[::-1], shape[::-1]
    out, src, infer, i = [], 0, -1, 0
    while i < len(shape):
        code = shape[i]
        if code in (0, -3, -4) and src + (2 if code == -3 else 1) > len(dshape):
            raise ShapeError(0, tuple(dshape), tuple(shape), "Reshape: code %d at position %d "
                             "refers past the %d input dimensions" % (code, i, len(dshape)))
        if code == 0:
            out.append(dshape[src])
            src += 1
        elif code == -1:
            if infer >= 0:
                raise ShapeError(0, tuple(dshape), tuple(shape), "Reshape: only one -1 allowed")
            infer = len(out)
            out.append(1)
            src += 1
        elif code == -2:
            out.extend(dshape[src:])
            src = len(dshape)
        elif code == -3:
            out.append(dshape[src] * dshape[src + 1])
            src += 2
        elif code == -4:
            if i + 2 >= len(shape):
                raise ShapeError(0, tuple(dshape), tuple(shape), "Reshape: -4 needs two values")
            d0 = dshape[src]
            src += 1
            d1, d2 = shape[i + 1], shape[i + 2]
            i += 2
            if d1 in (0, -2, -3, -4) or d2 in (0, -2, -3, -4) or d1 == d2 == -1:
                raise ShapeError(0, tuple(dshape), tuple(shape), "Reshape: -4 must be followed "
                                 "by two sizes, at most one of them -1")
            if d1 == -1:
                d1 = d0 // d2
            if d2 == -1:
                d2 = d0 // d1
            if d1 * d2 != d0:
                raise ShapeError(0, tuple(dshape), tuple(shape),
                                 "Reshape: -4 split %d into %d x %d" % (d0, d1, d2))
            out.extend([d1, d2])
        else:
            out.append(code)
            src += 1
        i += 1
    if infer >= 0:
        rest = prod(d for k, d in enumerate(out) if k != infer)
        out[infer] = prod(dshape) // rest if rest else 0
    if reverse:
        out = out[::-1]
    if prod(out) != prod(dshape) or any(d <= 0 for d in out):
        raise ShapeError(0, tuple(dshape), tuple(out),
                         "Reshape: target shape %s does not match %d elements"
                         % (tuple(shape), prod(dshape)))
    return tuple(out)


def _reshape_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    shape = p["shape"]
    if not shape and p["target_shape"]:       # deprecated form: 0 = infer
        shape = tuple(-1 if v == 0 else v for v in p["target_shape"])
        if p["keep_highest"]:
            shape = (d[0],) + shape
    return ins, [reshape_target(d, shape, p["reverse"])]


register(OpDef(
    "Reshape", aliases=("reshape",),
    params={"shape": Param(p_shape, (), ge=-4), "reverse": Param(p_bool, False),
            "target_shape": Param(p_shape, (), ge=0), "keep_highest": Param(p_bool, False)},
    shape=_reshape_shape, template="ops/copy.c.j2",
    reference=_reshaped(lambda p, d: _reshape_shape(p, [d])[1][0])))


def _expand_dims_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    a = _axis(p["axis"], len(d), extra=1)
    return ins, [tuple(d[:a]) + (1,) + tuple(d[a:])]


register(OpDef("expand_dims", params={"axis": Param(p_int)}, shape=_expand_dims_shape,
               template="ops/copy.c.j2",
               reference=_reshaped(lambda p, d: _expand_dims_shape(p, [d])[1][0])))

register(OpDef("Cast", aliases=("cast",), params={"dtype": Param(p_dtype)},
               shape=_same_shape, template="ops/copy.c.j2",
               reference=lambda p, arrays, train=False: [arrays[0].astype(p["dtype"])]))


def _transpose_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    axes = p["axes"] or tuple(range(len(d) - 1, -1, -1))
    axes = [_axis(a, len(d), "axes entry") for a in axes]
    if sorted(axes) != list(range(len(d))):
        raise ShapeError(0, tuple(d), tuple(axes), "transpose: axes must permute %d axes"
                         % len(d))
    return ins, [tuple(d[a] for a in axes)]


def _transpose_ref(p, arrays, train=False):
    return [np.ascontiguousarray(np.transpose(arrays[0], p["axes"] or None))]


register(OpDef("transpose", params={"axes": Param(p_shape, ())}, shape=_transpose_shape,
               template="ops/transpose.c.j2", reference=_transpose_ref))


def _concat_shape(p, ins):
    n = len(ins)
    if not all(known(s) for s in ins):
        return ins, [None]
    nd = len(ins[0])
    dim = _axis(p["dim"], nd, "dim")
    total = 0
    for k, s in enumerate(ins):
        if len(s) != nd or any(a != b for j, (a, b) in enumerate(zip(s, ins[0])) if j != dim):
            raise ShapeError(k, tuple(s), tuple(ins[0]),
                             "Concat: all dims except %d must match" % dim)
        total += s[dim]
    out = list(ins[0])
    out[dim] = total
    return ins[:n], [tuple(out)]


register(OpDef("Concat", aliases=("concat",),
               params={"num_args": Param(p_int, ge=1), "dim": Param(p_int, 1)},
               variable_inputs=True, shape=_concat_shape, template="ops/concat.c.j2",
               reference=lambda p, arrays, train=False: [np.concatenate(arrays, axis=p["dim"])]))


def _split_outputs(p):
    return ["output%d" % i for i in range(p["num_outputs"])]


def _split_shape(p, ins):
    d = ins[0]
    n = p["num_outputs"]
    if not known(d):
        return ins, [None] * n
    a = _axis(p["axis"], len(d))
    if d[a] % n:
        raise ShapeError(0, tuple(d), (), "SliceChannel: axis %d of size %d is not divisible "
                         "by num_outputs=%d" % (a, d[a], n))
    part = list(d)
    part[a] = d[a] // n
    if p["squeeze_axis"]:
        if part[a] != 1:
            raise ShapeError(0, tuple(d), (), "SliceChannel: squeeze_axis needs parts of "
                             "size 1 along axis %d" % a)
        del part[a]
    return ins, [tuple(part) if part else (1,)] * n


def _split_ref(p, x):
    parts = np.split(x, p["num_outputs"], axis=p["axis"])
    if p["squeeze_axis"]:
        parts = [np.squeeze(part, axis=p["axis"]) for part in parts]
    return [np.ascontiguousarray(part).reshape(part.shape or (1,)) for part in parts]


register(OpDef("SliceChannel", aliases=("split",),
               params={"num_outputs": Param(p_int, ge=1), "axis": Param(p_int, 1),
                       "squeeze_axis": Param(p_bool, False)},
               outputs=_split_outputs, shape=_split_shape, template="ops/split.c.j2",
               reference=lambda p, arrays, train=False: _split_ref(p, arrays[0])))


def slice_bounds(p, dim):
    """(begin, end) of slice_axis along a dimension of size `dim`."""
    b = p["begin"]
    e = dim if p["end"] is None else p["end"]
    b = b + dim if b < 0 else b
    e = e + dim if e < 0 else e
    return b, e


def _slice_axis_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    a = _axis(p["axis"], len(d))
    b, e = slice_bounds(p, d[a])
    if not 0 <= b < e <= d[a]:
        raise ShapeError(0, tuple(d), (), "slice_axis: [%s, %s) is empty or outside axis %d "
                         "of size %d" % (p["begin"], p["end"], a, d[a]))
    out = list(d)
    out[a] = e - b
    return ins, [tuple(out)]


def _slice_axis_ref(p, x):
    axis = _axis(p["axis"], x.ndim)
    begin, end = slice_bounds(p, x.shape[axis])
    return np.ascontiguousarray(np.take(x, np.arange(begin, end), axis=axis))


register(OpDef("slice_axis",
               params={"axis": Param(p_int), "begin": Param(p_int),
                       "end": Param(p_optional(p_int), None)},
               shape=_slice_axis_shape, template="ops/slice_axis.c.j2",
               reference=lambda p, arrays, train=False: [_slice_axis_ref(p, arrays[0])]))


def _one_hot_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    return ins, [tuple(d) + (p["depth"],)]


def _one_hot_ref(p, indices):
    """Rows of off_value with on_value at each index; indices outside [0, depth) stay off."""
    idx = indices.astype(np.int64)
    hot = idx[..., None] == np.arange(p["depth"])
    return np.where(hot, p["on_value"], p["off_value"]).astype(p["dtype"])


register(OpDef("one_hot", inputs=("indices",),
               params={"depth": Param(p_int, ge=1), "on_value": Param(p_float, 1.0),
                       "off_value": Param(p_float, 0.0), "dtype": Param(p_dtype, "float32")},
               shape=_one_hot_shape, no_grad_inputs=("indices",),
               template="ops/one_hot.c.j2", reference=lambda p, arrays, train=False:
               [_one_hot_ref(p, arrays[0])]))


# ---- broadcasting (the element-wise operators themselves are in elementwise.py) ---------

def broadcast_shape(a, b):
    """NumPy broadcasting of two shapes (right-aligned, size-1 dims stretch); a dimension
    unknown (0) in either shape is unknown in the result."""
    nd = max(len(a), len(b))
    a1 = (1,) * (nd - len(a)) + tuple(a)
    b1 = (1,) * (nd - len(b)) + tuple(b)
    out = []
    for x, y in zip(a1, b1):
        if x == 0 or y == 0:
            out.append(0)
            continue
        if x != y and x != 1 and y != 1:
            raise ShapeError(1, tuple(b), tuple(a), "operands cannot be broadcast together")
        out.append(max(x, y))
    return tuple(out)


# ---- reductions --------------------------------------------------------------------------------

def reduced_axes(p, ndim):
    """The axes a reduction removes (sorted), from axis / exclude."""
    axis = p["axis"]
    if not axis:
        return list(range(ndim))
    axes = sorted({_axis(a, ndim) for a in axis})
    if p["exclude"]:
        axes = [a for a in range(ndim) if a not in axes]
    return axes


def _reduce_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    axes = reduced_axes(p, len(d))
    if p["keepdims"]:
        out = tuple(1 if k in axes else s for k, s in enumerate(d))
    else:
        out = tuple(s for k, s in enumerate(d) if k not in axes)
    return ins, [out or (1,)]


_REDUCE_PARAMS = {"axis": Param(p_shape, ()), "keepdims": Param(p_bool, False),
                  "exclude": Param(p_bool, False)}
def _reducer(fn):
    def reference(p, arrays, train=False):
        x = arrays[0]
        out = fn(x, axis=tuple(reduced_axes(p, x.ndim)), keepdims=p["keepdims"])
        return [np.asarray(out, dtype=x.dtype).reshape(_reduce_shape(p, [x.shape])[1][0])]
    return reference


for _name, _aliases, _np in (("sum", ("sum_axis",), np.sum), ("mean", (), np.mean),
                             ("max", ("max_axis",), np.max), ("min", ("min_axis",), np.min)):
    register(OpDef(_name, params=_REDUCE_PARAMS, aliases=_aliases, shape=_reduce_shape,
                   template="ops/reduce.c.j2", reference=_reducer(_np)))


# ---- matrix products ---------------------------------------------------------------------------

def dot_dims(p, lhs, rhs):
    """(rows, inner, cols) of dot as a 2-D product, and the output shape."""
    ta, tb = p["transpose_a"], p["transpose_b"]
    if ta:
        l0, l1 = lhs[0], prod(lhs[1:])
        m, k, out_l = l1, l0, tuple(lhs[1:])
    else:
        l0, l1 = prod(lhs[:-1]), lhs[-1]
        m, k, out_l = l0, l1, tuple(lhs[:-1])
    if tb:
        r0, r1 = prod(rhs[:-1]), rhs[-1]
        k2, n, out_r = r1, r0, tuple(rhs[:-1])
    else:
        r0, r1 = rhs[0], prod(rhs[1:])
        k2, n, out_r = r0, r1, tuple(rhs[1:])
    if k != k2:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "dot: inner dimensions %d and %d differ"
                         % (k, k2))
    return (m, k, n), (out_l + out_r) or (1,)


def _dot_shape(p, ins):
    if not (known(ins[0]) and known(ins[1])):
        return ins, [None]
    return ins, [dot_dims(p, ins[0], ins[1])[1]]


_DOT_PARAMS = {"transpose_a": Param(p_bool, False), "transpose_b": Param(p_bool, False),
               "forward_stype": Param(p_optional(p_enum("default", "row_sparse", "csr")), None)}
def _dot_ref(p, arrays, train=False):
    """dot as the 2-D product of the flattened operands (dot_dims), reshaped."""
    lhs, rhs = arrays
    (m, k, n), out = dot_dims(p, lhs.shape, rhs.shape)
    a = lhs.reshape(k, m).T if p["transpose_a"] else lhs.reshape(m, k)
    b = rhs.reshape(n, k).T if p["transpose_b"] else rhs.reshape(k, n)
    return [np.ascontiguousarray(a @ b).reshape(out)]


register(OpDef("dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, shape=_dot_shape,
               template="ops/dot.c.j2", reference=_dot_ref))


def batch_dot_dims(p, lhs, rhs):
    if len(lhs) != 3 or len(rhs) != 3 or lhs[0] != rhs[0]:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "batch_dot: needs 3-D operands with the "
                         "same batch size")
    m, k = (lhs[2], lhs[1]) if p["transpose_a"] else (lhs[1], lhs[2])
    k2, n = (rhs[2], rhs[1]) if p["transpose_b"] else (rhs[1], rhs[2])
    if k != k2:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "batch_dot: inner dimensions %d and %d "
                         "differ" % (k, k2))
    return (lhs[0], m, k, n), (lhs[0], m, n)


def _batch_dot_shape(p, ins):
    if not (known(ins[0]) and known(ins[1])):
        return ins, [None]
    return ins, [batch_dot_dims(p, ins[0], ins[1])[1]]


def _batch_dot_ref(p, arrays, train=False):
    lhs, rhs = arrays
    a = lhs.transpose(0, 2, 1) if p["transpose_a"] else lhs
    b = rhs.transpose(0, 2, 1) if p["transpose_b"] else rhs
    return [np.ascontiguousarray(np.matmul(a, b))]


register(OpDef("batch_dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, shape=_batch_dot_shape,
               template="ops/dot.c.j2", reference=_batch_dot_ref))
