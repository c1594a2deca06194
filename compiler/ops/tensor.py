"""Tensor operators: shape manipulation, broadcasting shapes, reductions, matrix products,
indexing helpers (reference sections 1.6, 11.4, 11.5)."""
from math import prod

import numpy as np

from .base import (OpDef, Param, ShapeError, assign, dim_prod, known, merge_shape, ndim_known,
                   out_list, p_bool, p_dtype, p_enum, p_float, p_int, p_optional, p_shape,
                   register, unify)


def _same_shape(p, ins, outs=None):
    """Input and output are one shape, inferred either way."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0], [0])
    return ins, outs


def _axis(axis, ndim, what="axis", extra=0):
    """Normalise a possibly negative axis for `ndim` dimensions (+extra valid positions)."""
    a = axis + ndim + extra if axis < 0 else axis
    if not 0 <= a < ndim + extra:
        raise ShapeError(0, (), (), "%s %d is out of range for %d dimensions"
                         % (what, axis, ndim))
    return a


# ---- shape manipulation ------------------------------------------------------------------------

def _flatten_shape(p, ins, outs=None):
    """(N, product of the rest); the output's N fills the data's."""
    out = out_list(outs, 1)[0]
    d = ins[0]
    if not ndim_known(d):
        return ins, [None]
    if ndim_known(out) and len(out) == 2:
        assign(ins, 0, (out[0],) + tuple(d[1:]))
        d = ins[0]
    return ins, [(d[0], dim_prod(d[1:]))]


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


def _reshape_codes(p, d):
    shape = p["shape"]
    if not shape and p["target_shape"]:       # deprecated form: 0 = infer
        shape = tuple(-1 if v == 0 else v for v in p["target_shape"])
        if p["keep_highest"]:
            shape = (d[0],) + shape
    return shape


def _reshape_partial(d, shape, reverse):
    """The target of MXNet's codes over data with unknown (0) dimensions: a dimension is
    unknown where it depends on one (-1 then stays unknown too)."""
    d, shape = list(d), list(shape)
    if reverse:
        d, shape = d[::-1], shape[::-1]
    out, src, i = [], 0, 0
    while i < len(shape):
        code = shape[i]
        if code in (0, -3, -4) and src + (2 if code == -3 else 1) > len(d):
            raise ShapeError(0, tuple(d), tuple(shape), "Reshape: code %d at position %d "
                             "refers past the %d input dimensions" % (code, i, len(d)))
        if code == 0:
            out.append(d[src])
            src += 1
        elif code == -1:
            out.append(0)
            src += 1
        elif code == -2:
            out.extend(d[src:])
            src = len(d)
        elif code == -3:
            out.append(d[src] * d[src + 1])
            src += 2
        elif code == -4:
            if i + 2 >= len(shape):
                raise ShapeError(0, tuple(d), tuple(shape), "Reshape: -4 needs two values")
            d1, d2 = shape[i + 1], shape[i + 2]
            out.extend([0 if d1 < 0 else d1, 0 if d2 < 0 else d2])
            src += 1
            i += 2
        else:
            out.append(code)
            src += 1
        i += 1
    return tuple(out[::-1] if reverse else out)


def _reshape_shape(p, ins, outs=None):
    """MXNet's Reshape codes; with an unknown input dimension the output is partial, and a
    fully known output fills a single unknown input dimension (ReverseReshapeInferShape)."""
    out = out_list(outs, 1)[0]
    d = ins[0]
    if not ndim_known(d):
        return ins, [None]
    if not known(d):
        if known(out) and sum(1 for v in d if v == 0) == 1:
            rest = dim_prod(v for v in d if v)
            if rest and prod(out) % rest == 0:
                assign(ins, 0, tuple(v or prod(out) // rest for v in d))
                d = ins[0]
    if not known(d):
        return ins, [_reshape_partial(d, _reshape_codes(p, d), p["reverse"])]
    return ins, [reshape_target(d, _reshape_codes(p, d), p["reverse"])]


register(OpDef(
    "Reshape", aliases=("reshape",),
    params={"shape": Param(p_shape, (), ge=-4), "reverse": Param(p_bool, False),
            "target_shape": Param(p_shape, (), ge=0), "keep_highest": Param(p_bool, False)},
    shape=_reshape_shape, template="ops/copy.c.j2",
    reference=_reshaped(lambda p, d: _reshape_shape(p, [d])[1][0])))


def _expand_dims_shape(p, ins, outs=None):
    """A 1 inserted at `axis`; the other dimensions of a known output fill the input's."""
    out = out_list(outs, 1)[0]
    d = ins[0]
    if not ndim_known(d):
        if not ndim_known(out):
            return ins, [None]
        a = _axis(p["axis"], len(out) - 1, extra=1)
        return [tuple(out[:a]) + tuple(out[a + 1:])] + list(ins[1:]), [out]
    a = _axis(p["axis"], len(d), extra=1)
    if ndim_known(out) and len(out) == len(d) + 1:
        assign(ins, 0, tuple(out[:a]) + tuple(out[a + 1:]))
        d = ins[0]
    return ins, [tuple(d[:a]) + (1,) + tuple(d[a:])]


register(OpDef("expand_dims", params={"axis": Param(p_int)}, shape=_expand_dims_shape,
               template="ops/copy.c.j2",
               reference=_reshaped(lambda p, d: _expand_dims_shape(p, [d])[1][0])))

def output_dtype(p, ins, outs):
    """dtype rule of operators whose output type is their `dtype` parameter (inputs free)."""
    return ins, [p["dtype"]] + list(outs[1:])


register(OpDef("Cast", aliases=("cast",), params={"dtype": Param(p_dtype)},
               shape=_same_shape, template="ops/copy.c.j2", dtype_rule=output_dtype,
               reference=lambda p, arrays, train=False: [arrays[0].astype(p["dtype"])]))

# amp_cast: the Cast that MXNet's automatic mixed precision inserts (the same conversion,
# to a floating type; the gradient goes back unchanged)
register(OpDef("amp_cast", params={"dtype": Param(p_enum("float16", "float32", "float64"))},
               shape=_same_shape, template="ops/copy.c.j2", dtype_rule=output_dtype,
               reference=lambda p, arrays, train=False: [arrays[0].astype(p["dtype"])]))


def _transpose_shape(p, ins, outs=None):
    """The permuted dimensions, inferred either way (MXNet's TransposeShape)."""
    out = out_list(outs, 1)[0]
    d = ins[0]
    if not ndim_known(d) and not ndim_known(out):
        return ins, [None]
    nd = len(d) if ndim_known(d) else len(out)
    if ndim_known(d) and ndim_known(out) and len(out) != nd:
        raise ShapeError(0, tuple(d), tuple(out), "transpose: input and output ranks differ")
    axes = p["axes"] or tuple(range(nd - 1, -1, -1))
    axes = [_axis(a, nd, "axes entry") for a in axes]
    if sorted(axes) != list(range(nd)):
        raise ShapeError(0, tuple(d or ()), tuple(axes), "transpose: axes must permute %d axes"
                         % nd)
    if ndim_known(out):
        back = [0] * nd
        for i, a in enumerate(axes):
            back[a] = out[i]
        assign(ins, 0, back)
        d = ins[0]
    return ins, [tuple(d[a] for a in axes)]


def _transpose_ref(p, arrays, train=False):
    return [np.ascontiguousarray(np.transpose(arrays[0], p["axes"] or None))]


register(OpDef("transpose", params={"axes": Param(p_shape, ())}, shape=_transpose_shape,
               template="ops/transpose.c.j2", reference=_transpose_ref))


def _concat_shape(p, ins, outs=None):
    """Every dimension but `dim` is shared by the inputs and the output (inferred in every
    direction, MXNet's ConcatShape); the output's `dim` is the sum of the inputs' once they
    are known, and a known sum fills a single unknown input `dim`."""
    out = out_list(outs, 1)[0]
    ranks = {len(s) for s in list(ins) + [out] if ndim_known(s)}
    if not ranks:
        return ins, [None]
    if len(ranks) > 1:
        first = next(k for k, s in enumerate(ins) if ndim_known(s))
        bad = next((k for k, s in enumerate(ins) if ndim_known(s)
                    and len(s) != len(ins[first])), first)
        raise ShapeError(bad, tuple(ins[bad]), tuple(ins[first] if bad != first else out),
                         "Concat: inputs and output must have the same number of dimensions")
    nd = ranks.pop()
    dim = _axis(p["dim"], nd, "dim")
    common = ()
    for k, s in enumerate(list(ins) + [out]):
        if ndim_known(s):
            masked = tuple(0 if j == dim else v for j, v in enumerate(s))
            merged = merge_shape(common, masked)
            if merged is None:
                k = min(k, len(ins) - 1)
                raise ShapeError(k, tuple(s), tuple(common),
                                 "Concat: all dims except %d must match" % dim)
            common = merged
    sizes = [s[dim] if ndim_known(s) else 0 for s in ins]
    for k in range(len(ins)):
        assign(ins, k, tuple(sizes[k] if j == dim else v for j, v in enumerate(common)))
    total = sum(sizes) if all(sizes) else 0
    if ndim_known(out) and out[dim] and not total and sizes.count(0) == 1:
        k = sizes.index(0)
        rest = out[dim] - sum(sizes)
        if rest <= 0:
            raise ShapeError(k, tuple(ins[k]), tuple(out), "Concat: the output's dim %d is "
                             "too small for the other inputs" % dim)
        assign(ins, k, tuple(rest if j == dim else v for j, v in enumerate(ins[k])))
        total = out[dim]
    return ins, [tuple(total if j == dim else v for j, v in enumerate(common))]


register(OpDef("Concat", aliases=("concat",),
               params={"num_args": Param(p_int, ge=1), "dim": Param(p_int, 1)},
               variable_inputs=True, shape=_concat_shape, template="ops/concat.c.j2",
               reference=lambda p, arrays, train=False: [np.concatenate(arrays, axis=p["dim"])]))


def _split_outputs(p):
    return ["output%d" % i for i in range(p["num_outputs"])]


def _split_shape(p, ins, outs=None):
    """Equal parts along `axis`; the parts share one shape, and a known part fills the
    data's other dimensions (and `axis`: num_outputs parts), as MXNet's SliceChannel."""
    d = ins[0]
    n = p["num_outputs"]
    outs = out_list(outs, n)
    if not ndim_known(d):
        return ins, [None] * n
    a = _axis(p["axis"], len(d))
    if d[a] % n:
        raise ShapeError(0, tuple(d), (), "SliceChannel: axis %d of size %d is not divisible "
                         "by num_outputs=%d" % (a, d[a], n))
    squeeze = p["squeeze_axis"]
    if squeeze and d[a] and d[a] != n:
        raise ShapeError(0, tuple(d), (), "SliceChannel: squeeze_axis needs parts of "
                         "size 1 along axis %d" % a)
    part = list(d)
    part[a] = d[a] // n
    if squeeze and len(d) > 1:
        del part[a]
    part = tuple(part) if part else (1,)
    parts = [part] + list(outs)
    try:
        unify(parts, None, list(range(n + 1)))
    except ShapeError as err:
        raise ShapeError(0, tuple(d), (), "SliceChannel: output %d has shape %s, the parts of "
                         "this input are %s" % (err.index - 1, err.provided, err.inferred)) \
            from None
    part = parts[0]
    if squeeze and len(d) > 1:
        back = tuple(part[:a]) + (n,) + tuple(part[a:])
    else:
        back = tuple(v * n if j == a else v for j, v in enumerate(part))
    if len(back) == len(d):
        assign(ins, 0, back)
    return ins, [part] * n


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
    if not d:
        return ins, [None]
    a = _axis(p["axis"], len(d))
    if d[a] == 0:                       # unknown (partial inference): stays unknown
        return ins, [tuple(d)]
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
    if not ndim_known(d):
        return ins, [None]
    return ins, [tuple(d) + (p["depth"],)]


def _one_hot_ref(p, indices):
    """Rows of off_value with on_value at each index; indices outside [0, depth) stay off."""
    idx = indices.astype(np.int64)
    hot = idx[..., None] == np.arange(p["depth"])
    return np.where(hot, p["on_value"], p["off_value"]).astype(p["dtype"])


register(OpDef("one_hot", inputs=("indices",),
               params={"depth": Param(p_int, ge=0), "on_value": Param(p_float, 1.0),
                       "off_value": Param(p_float, 0.0), "dtype": Param(p_dtype, "float32")},
               shape=_one_hot_shape, no_grad_inputs=("indices",), dtype_rule=output_dtype,
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
    if not ndim_known(d):                    # unknown (0) dims that stay stay unknown
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
    """dot's output; dimensions unknown (0) in an operand stay unknown in the output, as in
    MXNet's DotShape (the inner sizes are compared once both are known)."""
    lhs, rhs = ins
    if not (ndim_known(lhs) and ndim_known(rhs)):
        return ins, [None]
    if known(lhs) and known(rhs):
        return ins, [dot_dims(p, lhs, rhs)[1]]
    ta, tb = p["transpose_a"], p["transpose_b"]
    k, out_l = (lhs[0], tuple(lhs[1:])) if ta else (lhs[-1], tuple(lhs[:-1]))
    k2, out_r = (rhs[-1], tuple(rhs[:-1])) if tb else (rhs[0], tuple(rhs[1:]))
    if k and k2 and k != k2:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "dot: inner dimensions %d and %d differ"
                         % (k, k2))
    return ins, [(out_l + out_r) or (1,)]


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
    """batch_dot's output; with unknown dimensions it is inferred (partially) only when the
    lhs's last and the rhs's second dimension are known, as in MXNet's BatchDotShape."""
    lhs, rhs = ins
    if not (ndim_known(lhs) and ndim_known(rhs)):
        return ins, [None]
    if known(lhs) and known(rhs):
        return ins, [batch_dot_dims(p, lhs, rhs)[1]]
    if len(lhs) != 3 or len(rhs) != 3:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "batch_dot: needs 3-D operands")
    if not (lhs[2] and rhs[1]):
        return ins, [None]
    batch = merge_shape((lhs[0],), (rhs[0],))
    if batch is None:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "batch_dot: needs 3-D operands with the "
                         "same batch size")
    m, k = (lhs[2], lhs[1]) if p["transpose_a"] else (lhs[1], lhs[2])
    k2, n = (rhs[2], rhs[1]) if p["transpose_b"] else (rhs[1], rhs[2])
    if k and k2 and k != k2:
        raise ShapeError(1, tuple(rhs), tuple(lhs), "batch_dot: inner dimensions %d and %d "
                         "differ" % (k, k2))
    return ins, [(batch[0], m, n)]


def _batch_dot_ref(p, arrays, train=False):
    lhs, rhs = arrays
    a = lhs.transpose(0, 2, 1) if p["transpose_a"] else lhs
    b = rhs.transpose(0, 2, 1) if p["transpose_b"] else rhs
    return [np.ascontiguousarray(np.matmul(a, b))]


register(OpDef("batch_dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, shape=_batch_dot_shape,
               template="ops/dot.c.j2", reference=_batch_dot_ref))
