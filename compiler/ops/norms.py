"""Normalisation layers that use each sample's own statistics: LayerNorm, InstanceNorm,
GroupNorm (MXNet's nn/layer_norm.cc, instance_norm.cc, nn/group_norm.cc).

Each normalises ROWS groups of M elements (row r's element e at
(r / INNER) * M * INNER + r % INNER + e * INNER), then scales and shifts by gamma / beta,
indexed by the element's position in the row (LayerNorm: the normalised axis) or by the row
(r % CG: InstanceNorm's channel, GroupNorm's group). The kernels (ops/norms.c.j2, shared by C
and CUDA) keep the row statistics as the hidden outputs MXNet has (mean and std; InstanceNorm:
mean and var), which the backward reads. Like MXNet, the backward uses the gradient of the
normalised output only, not gradients flowing into the mean / std outputs.
"""
from math import prod

import numpy as np

from .base import OpDef, Param, ShapeError, assign, known, p_bool, p_float, p_int, register


def _norm_inputs(p):
    return ["data", "gamma", "beta"]


def _visible(p):
    return 3 if p.get("output_mean_var") else 1


def _axis(p, d):
    a = p["axis"] + len(d) if p["axis"] < 0 else p["axis"]
    if not 0 <= a < len(d):
        raise ShapeError(0, tuple(d), (), "axis %d is out of range for %d dimensions"
                         % (p["axis"], len(d)))
    return a


def _layout(op, p, d):
    """(ROWS, M, INNER, CG, PER_ROW, moments shape) of data shape d."""
    if op == "LayerNorm":
        a = _axis(p, d)
        inner = prod(d[a + 1:])
        moments = tuple(1 if k == a else s for k, s in enumerate(d))
        return prod(d[:a]) * inner, d[a], inner, d[a], False, moments
    if len(d) < 3:
        raise ShapeError(0, tuple(d), (), "%s needs data of 3 or more dimensions "
                         "(batch, channel, ...)" % op)
    spatial = prod(d[2:])
    if op == "InstanceNorm":
        return d[0] * d[1], spatial, 1, d[1], True, (d[0], d[1])
    g = p["num_groups"]
    if d[1] % g:
        raise ShapeError(0, tuple(d), (), "GroupNorm: %d channels are not divisible by "
                         "num_groups=%d" % (d[1], g))
    return d[0] * g, d[1] // g * spatial, 1, g, True, (d[0], g)


def _shape_rule(op):
    def rule(p, ins):
        d = ins[0]
        if not known(d):
            return ins, [None, None, None]
        rows, m, inner, cg, per_row, moments = _layout(op, p, d)
        assign(ins, 1, (cg,))
        assign(ins, 2, (cg,))
        return ins, [tuple(d), moments, moments]
    return rule


def _geometry(op):
    def geometry(p, shapes):
        rows, m, inner, cg, per_row, _ = _layout(op, p, shapes["data"])
        return dict(ROWS=rows, M=m, INNER=inner, CG=cg, PER_ROW=per_row, EPS=p["eps"],
                    STORE_VAR=op == "InstanceNorm")
    return geometry


def _reference(op):
    """The layer in NumPy, written from the definition: rows of M elements normalised by their
    mean and biased variance, then gamma * x_hat + beta."""
    def reference(p, arrays, train=False):
        x, gamma, beta = arrays
        rows, m, inner, cg, per_row, moments = _layout(op, p, x.shape)
        v = x.reshape(rows // inner, m, inner)
        mean = v.mean(axis=1, keepdims=True)
        var = ((v - mean) ** 2).mean(axis=1, keepdims=True)
        std = np.sqrt(var + p["eps"])
        xhat = (v - mean) / std
        if per_row:
            g = np.tile(gamma, rows // cg).reshape(rows, 1, 1)
            b = np.tile(beta, rows // cg).reshape(rows, 1, 1)
        else:
            g, b = gamma.reshape(1, m, 1), beta.reshape(1, m, 1)
        out = (xhat * g + b).reshape(x.shape).astype(x.dtype)
        second = var if op == "InstanceNorm" else std
        return [out, mean.reshape(moments).astype(x.dtype),
                second.reshape(moments).astype(x.dtype)]
    return reference


def _register(op, params, outputs):
    register(OpDef(op, params=params, inputs=_norm_inputs, outputs=outputs,
                   visible_outputs=_visible if "output_mean_var" in params else (lambda p: 1),
                   shape=_shape_rule(op), geometry=_geometry(op), template="ops/norms.c.j2",
                   reference=_reference(op)))


_register("LayerNorm", {"axis": Param(p_int, -1), "eps": Param(p_float, 1e-5, ge=0),
                        "output_mean_var": Param(p_bool, False)}, ("output", "mean", "std"))
_register("InstanceNorm", {"eps": Param(p_float, 1e-3, ge=0)}, ("output", "mean", "var"))
_register("GroupNorm", {"num_groups": Param(p_int, 1, ge=1), "eps": Param(p_float, 1e-5, ge=0),
                        "output_mean_var": Param(p_bool, False)}, ("output", "mean", "std"))
