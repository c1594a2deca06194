"""Constant-producing operators (_zeros, _ones, _full) and the identity (_copy).

A constant's `shape` may hold unknown dimensions (0), as `mx.rnn` cells' begin states do
(`mx.sym.zeros(shape=(0, H))`): shape inference fills them from the node's consumers.
"""
import re

import numpy as np

from .base import (OpDef, Param, ShapeError, merge_shape, ndim_known, out_list, p_dtype,
                   p_float, p_shape, register, unify)

_CTX = re.compile(r"(cpu|gpu|cpu_pinned|cpu_shared)\(\s*[0-9]{1,4}\s*\)\Z")


def p_ctx(s):
    """MXNet's ctx parameter of creation ops: '' or cpu(n) / gpu(n) / cpu_pinned(n)
    (only used by imperative calls; kept so that files round-trip)."""
    t = str(s).strip()
    if t == "" or _CTX.match(t):
        return t
    raise ValueError("expected a context such as cpu(0) or gpu(1), got %r" % t[:40])


def _constant_shape(p, ins, outs=None):
    """The output is the `shape` parameter, its unknown dimensions (0, or -1 as MXNet's
    InitShape also reads it) filled from what the consumers require of the output."""
    out = out_list(outs, 1)[0]
    given = tuple(0 if d < 0 else d for d in p["shape"])
    if not ndim_known(given):
        return ins, [out]
    merged = merge_shape(given, out)
    if merged is None:                       # the consumers want another shape
        raise ShapeError(0, given, tuple(out), "constant of shape %s cannot be used where a "
                         "tensor of shape %s is needed" % (given, tuple(out)))
    return ins, [merged]


def _constant_params(value=None):
    params = {"shape": Param(p_shape, (), ge=-1), "ctx": Param(p_ctx, ""),
              "dtype": Param(p_dtype, "float32")}
    if value is not None:
        params["value"] = value
    return params


def _filled(value_of):
    def reference(p, arrays, train=False):
        return [np.full(tuple(p["shape"]), value_of(p), dtype=np.dtype(p["dtype"]))]
    return reference


class ConstantOp(OpDef):
    """A creation operator: no inputs; its kernel writes `fill(p)` into every element."""

    def __init__(self, name, fill, **kw):
        super().__init__(name, inputs=(), shape=_constant_shape, template="ops/fill.c.j2",
                         differentiable=False, reference=_filled(fill),
                         dtype_rule=lambda p, ins, outs: (ins, [p["dtype"]]), **kw)
        self.fill = fill


register(ConstantOp("_zeros", lambda p: 0.0, params=_constant_params()))
register(ConstantOp("_ones", lambda p: 1.0, params=_constant_params()))
register(ConstantOp("_full", lambda p: p["value"], params=_constant_params(Param(p_float))))


def _identity_shape(p, ins, outs=None):
    outs = out_list(outs, 1)
    unify(ins, outs, [0], [0])
    return ins, outs


register(OpDef("_copy", aliases=("identity",), shape=_identity_shape,
               template="ops/copy.c.j2",
               reference=lambda p, arrays, train=False: [arrays[0].copy()]))


def _like_rhs_shape(p, ins, outs=None):
    """lhs, rhs and the output are one shape: the rhs only lends its shape (MXNet's
    _identity_with_attr_like_rhs, which lets inference flow back into the lhs)."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0, 1], [0])
    return ins, outs


register(OpDef("_identity_with_attr_like_rhs", inputs=("lhs", "rhs"), shape=_like_rhs_shape,
               no_grad_inputs=("rhs",), template="ops/copy_lhs.c.j2",
               reference=lambda p, arrays, train=False: [arrays[0].copy()]))
