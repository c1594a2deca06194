"""Shape operators that move elements without arithmetic (SwapAxis, tile, repeat, broadcast_to /
_like / _axis, squeeze, reshape_like, flip, slice, slice_like, Crop), and the operators that
stack, sum or select whole tensors (stack, add_n, where).

Every "moving" operator is one gather: output element i reads input element src(i), where
src is a sum over the output coordinates c_k of ((c_k / div_k) % mod_k) * stride_k plus a base
offset (`map_geometry`). One template (ops/gather_map.c.j2) holds that loop for all of them;
backward scatters (or, when the map is one-to-one, assigns) the gradient back.
"""
from math import prod

import numpy as np

from .base import (OpDef, Param, ParamError, ShapeError, known, p_bool, p_int, p_optional,
                   p_shape, register)
from .base import _show, _text, _to_int, MAX_TUPLE


def _axis(axis, ndim, what="axis", extra=0, index=0):
    a = axis + ndim + extra if axis < 0 else axis
    if not 0 <= a < ndim + extra:
        raise ShapeError(index, (), (), "%s %d is out of range for %d dimensions"
                         % (what, axis, ndim))
    return a


def strides(shape):
    """Row-major element strides of `shape`."""
    out, acc = [], 1
    for d in reversed(tuple(shape)):
        out.append(acc)
        acc *= d
    return out[::-1]


def p_opt_tuple(s):
    """A tuple whose entries are integers or None: '(None, 2)', '[1, None, -1]', (0, None)."""
    if isinstance(s, (tuple, list)):
        if len(s) > MAX_TUPLE:
            raise ValueError("at most %d entries, got %d" % (MAX_TUPLE, len(s)))
        return tuple(None if v is None else p_int(v) for v in s)
    if isinstance(s, (int, float)) and not isinstance(s, bool):
        return (p_int(s),)
    t = _text(s)
    if t in ("", "None"):
        return ()
    if (t[:1], t[-1:]) in (("(", ")"), ("[", "]")):
        t = t[1:-1]
    items = t.split(",")
    if items and not items[-1].strip():
        items = items[:-1]
    if len(items) > MAX_TUPLE:
        raise ValueError("at most %d entries, got %d" % (MAX_TUPLE, len(items)))
    out = []
    for item in items:
        item = item.strip()
        if item == "None":
            out.append(None)
        else:
            try:
                out.append(_to_int(item))
            except ValueError:
                raise ValueError("expected a tuple of integers or None such as (None, 2), "
                                 "got %s" % _show(s)) from None
    return tuple(out)


# ---- the gather map ------------------------------------------------------------------------

def map_geometry(src, out_shape, in_shape, terms, base=0):
    """The template numbers of a gather: `terms` gives (div, mod, stride) per output dim (mod
    None: no wrap). Unit dims are dropped, wraps that cannot happen removed, and neighbouring
    dims that read contiguously merged, so a copy is one dim. dims are listed innermost first.
    """
    dims = []
    for size, (div, mod, stride) in reversed(list(zip(out_shape, terms))):
        if size == 1:
            continue
        if mod is not None and (size - 1) // div < mod:
            mod = None
        if div > 1 and mod is None and stride == 0:
            div = 1
        if dims:
            s0, d0, m0, t0 = dims[-1]
            if d0 == div == 1 and m0 is None and mod is None and stride == t0 * s0:
                dims[-1] = (s0 * size, 1, None, t0)
                continue
        dims.append((size, div, mod, stride))
    while dims and dims[-1][3] == 0:          # outermost broadcast dims need no arithmetic
        dims.pop()
    injective = all(d == 1 and m is None and t != 0 for _, d, m, t in dims) and \
        prod(s for s, _, _, _ in dims) == prod(out_shape)
    n_out, n_in = prod(out_shape), prod(in_shape)
    return {"src": src, "N": n_out, "M": n_in, "base": base, "dims": dims,
            "whole": prod(s for s, _, _, _ in dims) == n_out,
            "injective": injective, "onto": injective and n_out == n_in}


class MapOp(OpDef):
    """An operator computed by the gather template: `terms(p, shapes)` -> (base, terms)."""

    def __init__(self, name, terms, src="data", **kw):
        kw.setdefault("template", "ops/gather_map.c.j2")
        super().__init__(name, **kw)
        self._terms, self._src = terms, src
        self._geometry = self._map

    def _map(self, p, shapes):
        base, terms = self._terms(p, shapes)
        return map_geometry(self._src, shapes["output"], shapes[self._src], terms, base)


def _identity_terms(p, shapes):
    st = strides(shapes["output"])
    return 0, [(1, None, s) for s in st]


def _ref1(fn):
    return lambda p, arrays, train=False: [np.ascontiguousarray(fn(p, *arrays))]


# ---- SwapAxis --------------------------------------------------------------------------------

def _swap_dims(p, ndim):
    return _axis(p["dim1"], ndim, "dim1"), _axis(p["dim2"], ndim, "dim2")


def _swap_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    a, b = _swap_dims(p, len(d))
    out = list(d)
    out[a], out[b] = out[b], out[a]
    return ins, [tuple(out)]


def _swap_terms(p, shapes):
    d = shapes["data"]
    a, b = _swap_dims(p, len(d))
    st = strides(d)
    st[a], st[b] = st[b], st[a]
    return 0, [(1, None, s) for s in st]


register(MapOp("SwapAxis", _swap_terms, aliases=("swapaxes",),
               params={"dim1": Param(p_int, 0), "dim2": Param(p_int, 0)}, shape=_swap_shape,
               reference=_ref1(lambda p, x: np.swapaxes(x, *_swap_dims(p, x.ndim)))))


# ---- tile / repeat ---------------------------------------------------------------------------

def _tile_dims(p, d):
    reps = tuple(p["reps"]) or (1,) * len(d)
    nd = max(len(d), len(reps))
    return (1,) * (nd - len(d)) + tuple(d), (1,) * (nd - len(reps)) + reps


def _tile_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    dd, rr = _tile_dims(p, d)
    return ins, [tuple(a * r for a, r in zip(dd, rr))]


def _tile_terms(p, shapes):
    dd, _ = _tile_dims(p, shapes["data"])
    return 0, [(1, a, s if a > 1 else 0) for a, s in zip(dd, strides(dd))]


register(MapOp("tile", _tile_terms, params={"reps": Param(p_shape, ge=1)},
               shape=_tile_shape,
               reference=_ref1(lambda p, x: np.tile(x, tuple(p["reps"]) or 1))))


def _repeat_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    if p["axis"] is None:
        return ins, [(prod(d) * p["repeats"],)]
    a = _axis(p["axis"], len(d))
    out = list(d)
    out[a] *= p["repeats"]
    return ins, [tuple(out)]


def _repeat_terms(p, shapes):
    d = shapes["data"]
    if p["axis"] is None:
        return 0, [(p["repeats"], None, 1)]
    a = _axis(p["axis"], len(d))
    return 0, [(p["repeats"] if k == a else 1, None, s) for k, s in enumerate(strides(d))]


register(MapOp("repeat", _repeat_terms,
               params={"repeats": Param(p_int, ge=1), "axis": Param(p_optional(p_int), None)},
               shape=_repeat_shape,
               reference=_ref1(lambda p, x: np.repeat(x, p["repeats"], axis=p["axis"]))))


# ---- broadcast_to / broadcast_axis / broadcast_like -------------------------------------------

def _broadcast_terms(p, shapes, src="data"):
    d, o = shapes[src], shapes["output"]
    return 0, [(1, None, 0 if a == 1 and b > 1 else s) for a, b, s in zip(d, o, strides(d))]


def _broadcast_to_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    want = p["shape"]
    if len(want) != len(d):
        raise ShapeError(0, tuple(d), tuple(want), "broadcast_to: the target shape must have "
                         "as many dimensions as the data")
    out = []
    for a, b in zip(d, want):
        b = a if b == 0 else b
        if a != b and a != 1:
            raise ShapeError(0, tuple(d), tuple(want), "broadcast_to: a dimension of size %d "
                             "cannot be broadcast to %d" % (a, b))
        out.append(b)
    return ins, [tuple(out)]


register(MapOp("broadcast_to", _broadcast_terms, params={"shape": Param(p_shape, (), ge=0)},
               shape=_broadcast_to_shape,
               reference=lambda p, arrays, train=False: [np.ascontiguousarray(np.broadcast_to(
                   arrays[0], _broadcast_to_shape(p, [arrays[0].shape])[1][0]))]))


def _broadcast_axis_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    if len(p["axis"]) != len(p["size"]):
        raise ShapeError(0, tuple(d), (), "broadcast_axis: axis %s and size %s must have the "
                         "same length" % (p["axis"], p["size"]))
    out = list(d)
    for axis, size in zip(p["axis"], p["size"]):
        a = _axis(axis, len(d))
        if d[a] != 1:
            raise ShapeError(0, tuple(d), (), "broadcast_axis: axis %d has size %d, only "
                             "size-1 axes can be broadcast" % (a, d[a]))
        out[a] = size
    return ins, [tuple(out)]


register(MapOp("broadcast_axis", _broadcast_terms, aliases=("broadcast_axes",),
               params={"axis": Param(p_shape, ()), "size": Param(p_shape, (), ge=1)},
               shape=_broadcast_axis_shape,
               reference=lambda p, arrays, train=False: [np.ascontiguousarray(np.broadcast_to(
                   arrays[0], _broadcast_axis_shape(p, [arrays[0].shape])[1][0]))]))


def _broadcast_like_shape(p, ins):
    lhs, rhs = ins[0], ins[1]
    if not (known(lhs) and known(rhs)):
        return ins, [None]
    la, ra = p["lhs_axes"], p["rhs_axes"]
    if la is None and ra is None:
        if len(lhs) != len(rhs):
            raise ShapeError(1, tuple(rhs), tuple(lhs), "broadcast_like: lhs and rhs must have "
                             "the same number of dimensions")
        pairs = list(zip(range(len(lhs)), rhs))
    else:
        if la is None or ra is None or len(la) != len(ra):
            raise ShapeError(1, tuple(rhs), tuple(lhs), "broadcast_like: lhs_axes and "
                             "rhs_axes must both be given, with the same length")
        pairs = [(_axis(a, len(lhs), "lhs_axes entry"),
                  rhs[_axis(b, len(rhs), "rhs_axes entry", index=1)]) for a, b in zip(la, ra)]
    out = list(lhs)
    for a, size in pairs:
        if lhs[a] != size and lhs[a] != 1:
            raise ShapeError(1, tuple(rhs), tuple(lhs), "broadcast_like: lhs axis %d of size "
                             "%d cannot be broadcast to %d" % (a, lhs[a], size))
        out[a] = size
    return ins, [tuple(out)]


register(MapOp("broadcast_like", lambda p, s: _broadcast_terms(p, s, "lhs"), src="lhs",
               inputs=("lhs", "rhs"), no_grad_inputs=("rhs",),
               params={"lhs_axes": Param(p_optional(p_shape), None),
                       "rhs_axes": Param(p_optional(p_shape), None)},
               shape=_broadcast_like_shape,
               reference=lambda p, arrays, train=False: [np.ascontiguousarray(np.broadcast_to(
                   arrays[0], _broadcast_like_shape(p, [a.shape for a in arrays])[1][0]))]))


# ---- squeeze / reshape_like --------------------------------------------------------------------

def _squeeze_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    if p["axis"] is None:
        drop = {k for k, s in enumerate(d) if s == 1}
    else:
        drop = {_axis(a, len(d)) for a in p["axis"]}
        for a in sorted(drop):
            if d[a] != 1:
                raise ShapeError(0, tuple(d), (), "squeeze: axis %d has size %d, not 1"
                                 % (a, d[a]))
    return ins, [tuple(s for k, s in enumerate(d) if k not in drop) or (1,)]


register(MapOp("squeeze", _identity_terms, params={"axis": Param(p_optional(p_shape), None)},
               shape=_squeeze_shape,
               reference=lambda p, arrays, train=False: [arrays[0].reshape(
                   _squeeze_shape(p, [arrays[0].shape])[1][0])]))


def _span(begin, end, ndim, what):
    b = 0 if begin is None else (begin + ndim if begin < 0 else begin)
    e = ndim if end is None else (end + ndim if end < 0 else end)
    if not 0 <= b <= e <= ndim:
        raise ShapeError(0, (), (), "reshape_like: %s_begin / %s_end select [%s, %s), outside "
                         "%d dimensions" % (what, what, begin, end, ndim))
    return b, e


def _reshape_like_shape(p, ins):
    lhs, rhs = ins[0], ins[1]
    if not (known(lhs) and known(rhs)):
        return ins, [None]
    lb, le = _span(p["lhs_begin"], p["lhs_end"], len(lhs), "lhs")
    rb, re_ = _span(p["rhs_begin"], p["rhs_end"], len(rhs), "rhs")
    out = tuple(lhs[:lb]) + tuple(rhs[rb:re_]) + tuple(lhs[le:])
    if prod(out) != prod(lhs):
        raise ShapeError(1, tuple(rhs), tuple(lhs), "reshape_like: the new shape %s holds %d "
                         "elements, lhs holds %d" % (out, prod(out), prod(lhs)))
    return ins, [out or (1,)]


register(MapOp("reshape_like", _identity_terms, src="lhs", inputs=("lhs", "rhs"),
               no_grad_inputs=("rhs",),
               params={k: Param(p_optional(p_int), None)
                       for k in ("lhs_begin", "lhs_end", "rhs_begin", "rhs_end")},
               shape=_reshape_like_shape,
               reference=lambda p, arrays, train=False: [arrays[0].reshape(
                   _reshape_like_shape(p, [a.shape for a in arrays])[1][0])]))


# ---- flip / slice / slice_like / Crop ------------------------------------------------------------

def _flip_axes(p, ndim):
    return sorted({_axis(a, ndim) for a in p["axis"]})


def _flip_terms(p, shapes):
    d = shapes["data"]
    st, base = strides(d), 0
    axes = _flip_axes(p, len(d))
    for a in axes:
        base += (d[a] - 1) * st[a]
    return base, [(1, None, -s if k in axes else s) for k, s in enumerate(st)]


def _flip_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    _flip_axes(p, len(d))
    return ins, [tuple(d)]


register(MapOp("reverse", _flip_terms, aliases=("flip",), params={"axis": Param(p_shape)},
               shape=_flip_shape,
               reference=_ref1(lambda p, x: np.flip(x, axis=tuple(_flip_axes(p, x.ndim))))))


def slice_ranges(p, d):
    """[(begin, step, count)] per data dimension, as MXNet's slice resolves begin/end/step."""
    begin, end, step = p["begin"], p["end"], p["step"]
    if len(begin) > len(d) or len(end) != len(begin) or (step and len(step) != len(begin)):
        raise ShapeError(0, tuple(d), (), "slice: begin %s, end %s and step %s must have the "
                         "same length, at most %d" % (begin, end, step, len(d)))
    out = []
    for k, n in enumerate(d):
        if k >= len(begin):
            out.append((0, 1, n))
            continue
        s = step[k] if step and step[k] is not None else 1
        if s == 0:
            raise ShapeError(0, tuple(d), (), "slice: step[%d] cannot be 0" % k)
        if n == 0:                              # unknown (partial inference): stays unknown
            out.append((0, s, 0))
            continue
        b = begin[k] if begin[k] is not None else (n - 1 if s < 0 else 0)
        e = end[k] if end[k] is not None else (-1 if s < 0 else n)
        b = b + n if b < 0 else b
        e = e + n if (e < 0 and end[k] is not None) else e
        b = 0 if (b < 0 and s > 0) else b
        b = n - 1 if (b > n - 1 and s < 0) else b
        b = -1 if (b < 0 or b > n - 1) else b
        e = max(min(e, n), -1)
        if e == b or b < 0:
            count = 0
        elif s > 0:
            count = (e - b - 1) // s + 1 if e > b else 0
        else:
            count = (b - e - 1) // (-s) + 1 if e < b else 0
        if count <= 0:
            raise ShapeError(0, tuple(d), (), "slice: axis %d of size %d selects no element "
                             "(begin %s, end %s, step %d)" % (k, n, begin[k], end[k], s))
        out.append((b, s, count))
    return out


def _slice_shape(p, ins):
    d = ins[0]
    if not d:
        return ins, [None]
    return ins, [tuple(c for _, _, c in slice_ranges(p, d))]


def _slice_terms(p, shapes):
    d = shapes["data"]
    st = strides(d)
    ranges = slice_ranges(p, d)
    base = sum(b * s for (b, _, _), s in zip(ranges, st))
    return base, [(1, None, step * s) for (_, step, _), s in zip(ranges, st)]


def _slice_ref(p, x):
    ranges = slice_ranges(p, x.shape)
    return x[np.ix_(*[b + step * np.arange(c) for b, step, c in ranges])]


register(MapOp("slice", _slice_terms, aliases=("crop",),
               params={"begin": Param(p_opt_tuple), "end": Param(p_opt_tuple),
                       "step": Param(p_opt_tuple, ())},
               shape=_slice_shape, reference=_ref1(_slice_ref)))


def _slice_like_axes(p, d, like):
    if not p["axes"]:
        if len(like) != len(d):
            raise ShapeError(1, tuple(like), tuple(d), "slice_like: without axes, shape_like "
                             "must have as many dimensions as data")
        return list(range(len(d)))
    axes = []
    for a in p["axes"]:
        k = _axis(a, len(d))
        if k >= len(like):
            raise ShapeError(1, tuple(like), tuple(d), "slice_like: axis %d is outside "
                             "shape_like's %d dimensions" % (a, len(like)))
        axes.append(k)
    return axes


def _slice_like_shape(p, ins):
    d, like = ins[0], ins[1]
    if not (known(d) and known(like)):
        return ins, [None]
    out = list(d)
    for a in _slice_like_axes(p, d, like):
        if like[a] > d[a]:
            raise ShapeError(1, tuple(like), tuple(d), "slice_like: shape_like's axis %d (%d) "
                             "is longer than data's (%d)" % (a, like[a], d[a]))
        out[a] = like[a]
    return ins, [tuple(out)]


def _slice_like_ref(p, x, like):
    out = _slice_like_shape(p, [x.shape, like.shape])[1][0]
    return x[tuple(slice(0, n) for n in out)]


register(MapOp("slice_like", lambda p, s: (0, [(1, None, t) for t in strides(s["data"])]),
               inputs=("data", "shape_like"), no_grad_inputs=("shape_like",),
               params={"axes": Param(p_shape, ())}, shape=_slice_like_shape,
               reference=_ref1(_slice_like_ref)))


def _crop_hw(p, ins):
    d = ins[0]
    if len(d) != 4:
        raise ShapeError(0, tuple(d), (), "Crop: data must be 4-D (batch, channel, height, "
                         "width)")
    if p["num_args"] == 2:
        like = ins[1]
        if len(like) != 4:
            raise ShapeError(1, tuple(like), (), "Crop: crop_like must be 4-D")
        h, w = like[2], like[3]
    else:
        h, w = p["h_w"]
    if not (0 < h <= d[2] and 0 < w <= d[3]):
        raise ShapeError(0, tuple(d), (), "Crop: the crop (%d, %d) must be positive and fit "
                         "in (%d, %d)" % (h, w, d[2], d[3]))
    if p["center_crop"]:
        y, x = (d[2] - h) // 2, (d[3] - w) // 2
    else:
        y, x = p["offset"]
        if y > d[2] - h or x > d[3] - w:
            raise ShapeError(0, tuple(d), (), "Crop: offset %s leaves no room for a (%d, %d) "
                             "crop of (%d, %d)" % (p["offset"], h, w, d[2], d[3]))
    return h, w, y, x


def _crop_shape(p, ins):
    if not all(known(s) for s in ins):
        return ins, [None]
    h, w, _, _ = _crop_hw(p, ins)
    return ins, [(ins[0][0], ins[0][1], h, w)]


def _crop_terms(p, shapes):
    ins = [shapes["arg%d" % k] for k in range(p["num_args"])]
    _, _, y, x = _crop_hw(p, ins)
    st = strides(ins[0])
    return y * st[2] + x * st[3], [(1, None, s) for s in st]


def _crop_ref(p, arrays, train=False):
    h, w, y, x = _crop_hw(p, [a.shape for a in arrays])
    return [np.ascontiguousarray(arrays[0][:, :, y:y + h, x:x + w])]


def _crop_check(p):
    if p["num_args"] == 1 and 0 in p["h_w"]:
        raise ParamError("h_w", "with one input, h_w must give the crop's height and width")


register(MapOp("Crop", _crop_terms, src="arg0", variable_inputs=True, no_grad_inputs=("arg1",),
               params={"num_args": Param(p_int, ge=1, le=2),
                       "offset": Param(p_shape, (0, 0), ge=0, lengths=(2,)),
                       "h_w": Param(p_shape, (0, 0), ge=0, lengths=(2,)),
                       "center_crop": Param(p_bool, False)},
               check=_crop_check, shape=_crop_shape, reference=_crop_ref))


# ---- stack / add_n / where ---------------------------------------------------------------------

def _same_inputs(ins, what):
    first = next((s for s in ins if known(s)), None)
    if first is None:
        return None
    for k, s in enumerate(ins):
        if known(s) and tuple(s) != tuple(first):
            raise ShapeError(k, tuple(s), tuple(first), "%s: every input must have the same "
                             "shape" % what)
    return tuple(first)


def _stack_shape(p, ins):
    d = _same_inputs(ins, "stack")
    if d is None:
        return ins, [None]
    a = _axis(p["axis"], len(d), extra=1)
    return [d] * len(ins), [tuple(d[:a]) + (len(ins),) + tuple(d[a:])]


def _stack_geometry(p, shapes):
    d = shapes["arg0"]
    a = _axis(p["axis"], len(d), extra=1)
    return {"inner": prod(d[a:]), "M": prod(d), "K": p["num_args"]}


register(OpDef("stack", variable_inputs=True,
               params={"num_args": Param(p_int, ge=1), "axis": Param(p_int, 0)},
               shape=_stack_shape, template="ops/stack.c.j2", geometry=_stack_geometry,
               reference=lambda p, arrays, train=False: [np.stack(arrays, axis=p["axis"])]))


def _add_n_shape(p, ins):
    d = _same_inputs(ins, "add_n")
    return ([d] * len(ins), [d]) if d is not None else (ins, [None])


register(OpDef("add_n", aliases=("ElementWiseSum", "_sparse_ElementWiseSum"),
               variable_inputs=True,
               params={"num_args": Param(p_int, ge=1)}, shape=_add_n_shape,
               template="ops/add_n.c.j2",
               reference=lambda p, arrays, train=False: [sum(arrays[1:], arrays[0].copy())]))


def _where_shape(p, ins):
    cond, x, y = ins
    if not known(cond):                      # MXNet's WhereOpShape waits for the condition
        return ins, [None]
    d = _same_inputs([x, y], "where")
    if d is None:
        return ins, [None]
    ins = [cond, d, d]
    if known(cond) and tuple(cond) != d and tuple(cond) != (d[0],):
        raise ShapeError(0, tuple(cond), d, "where: condition must have the shape of x, or be "
                         "1-D with x's first dimension")
    return ins, [d]


def _where_ref(p, arrays, train=False):
    cond, x, y = arrays
    if cond.shape != x.shape:
        cond = cond.reshape(cond.shape + (1,) * (x.ndim - 1))
    return [np.where(cond != 0, x, y)]


register(OpDef("where", inputs=("condition", "x", "y"), no_grad_inputs=("condition",),
               shape=_where_shape, template="ops/where.c.j2",
               geometry=lambda p, s: {"inner": prod(s["x"]) // prod(s["condition"])},
               reference=_where_ref))


# ---- _split_v2 (mx.sym.split_v2) ---------------------------------------------------------------

def split_v2_parts(p, d):
    """(axis, [(begin, width)] per output) of _split_v2 on data of shape `d`."""
    a = _axis(p["axis"], len(d))
    n = d[a]
    if p["sections"] > 0:
        k = p["sections"]
        big, rest = n // k + 1, n % k
        bounds = [0]
        for i in range(k):
            bounds.append(big * (i + 1) if i < rest else bounds[-1] + n // k)
        bounds = bounds[:-1]
    else:
        bounds = list(p["indices"])
        if not bounds:
            raise ShapeError(0, tuple(d), (), "_split_v2: give indices or sections")
    parts = []
    for i, b in enumerate(bounds):
        e = bounds[i + 1] if i + 1 < len(bounds) else n
        if not 0 <= b < e <= n:
            raise ShapeError(0, tuple(d), (), "_split_v2: part %d [%d, %d) is empty or outside "
                             "axis %d of size %d" % (i, b, e, a, n))
        if p["squeeze_axis"] and e - b != 1:
            raise ShapeError(0, tuple(d), (), "_split_v2: squeeze_axis needs parts of size 1, "
                             "part %d has %d" % (i, e - b))
        parts.append((b, e - b))
    return a, parts


def _split_v2_count(p):
    return p["sections"] if p["sections"] > 0 else len(p["indices"])


def _split_v2_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None] * _split_v2_count(p)
    a, parts = split_v2_parts(p, d)
    outs = []
    for _, w in parts:
        s = list(d)
        s[a] = w
        if p["squeeze_axis"]:
            del s[a]
        outs.append(tuple(s) or (1,))
    return ins, outs


def _split_v2_geometry(p, shapes):
    d = shapes["data"]
    a, parts = split_v2_parts(p, d)
    return {"outer": prod(d[:a]), "inner": prod(d[a + 1:]), "A": d[a], "parts": parts,
            "covered": parts[0][0] == 0}


def _split_v2_ref(p, arrays, train=False):
    x = arrays[0]
    a, parts = split_v2_parts(p, x.shape)
    outs = _split_v2_shape(p, [x.shape])[1]
    return [np.ascontiguousarray(np.take(x, np.arange(b, b + w), axis=a)).reshape(s)
            for (b, w), s in zip(parts, outs)]


register(OpDef("_split_v2",
               params={"indices": Param(p_shape, (), ge=0), "axis": Param(p_int, 1),
                       "squeeze_axis": Param(p_bool, False), "sections": Param(p_int, 0, ge=0)},
               outputs=lambda p: ["output%d" % i for i in range(_split_v2_count(p))],
               shape=_split_v2_shape, template="ops/split_v2.c.j2", geometry=_split_v2_geometry,
               reference=_split_v2_ref))


def split_v2_params(indices_or_sections):
    """_split_v2's indices / sections from split_v2's indices_or_sections, as MXNet's wrapper
    reads them (a tuple of split points gets a leading 0)."""
    if isinstance(indices_or_sections, int) and not isinstance(indices_or_sections, bool):
        return {"indices": (), "sections": indices_or_sections}
    if isinstance(indices_or_sections, tuple):
        return {"indices": (0,) + tuple(indices_or_sections), "sections": 0}
    raise ValueError("indices_or_sections must either int or tuple of ints")
