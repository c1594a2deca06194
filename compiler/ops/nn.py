"""Layers of real networks: FullyConnected, Activation, convolution, pooling, normalisation,
dropout, activations with parameters, the softmax family, embedding and resampling (the loss
heads are in losses.py, element-wise operators in elementwise.py).

Ops whose kernels need derived geometry carry a `geometry` rule (see OpDef) that the
templates call as `n.node.op.geometry(n)`, so the arithmetic lives in Python, once.
"""
import functools
import itertools
import math
from math import prod

import numpy as np

from .base import (OpDef, Param, ParamError, ShapeError, assign, dim_prod, known, ndim_known,
                   out_list, p_bool, p_dtype, p_enum, p_float, p_int, p_optional, p_shape,
                   register, unify)


def _same_shape(p, ins, outs=None):
    """Input and output are one shape, inferred either way."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0], [0])
    return ins, outs


# ---- FullyConnected, Activation --------------------------------------------------------

def _fc_inputs(p):
    return ["data", "weight"] if p["no_bias"] else ["data", "weight", "bias"]


def _fc_shape(p, ins, outs=None):
    """weight (num_hidden, K), K the flattened (or last) input dims; the output's batch
    (leading dims when flatten=False) fills the data's, as MXNet's FullyConnectedShape."""
    h = p["num_hidden"]
    if not p["no_bias"]:
        assign(ins, 2, (h,))
    out = out_list(outs, 1)[0]
    data = ins[0]
    if not ndim_known(data):
        return ins, [None]
    if ndim_known(out):
        lead = tuple(out[:1]) if p["flatten"] else tuple(out[:-1])
        if len(lead) == (1 if p["flatten"] else len(data) - 1):
            assign(ins, 0, lead + tuple(data[len(lead):]))
            data = ins[0]
    k = dim_prod(data[1:]) if p["flatten"] else data[-1]
    assign(ins, 1, (h, k))
    out = (data[0], h) if p["flatten"] else tuple(data[:-1]) + (h,)
    return ins, [out]


def _fc_ref(p, arrays, train=False):
    x, w = arrays[0], arrays[1]
    x2 = x.reshape(x.shape[0], -1) if p["flatten"] else x
    out = x2 @ w.T
    if not p["no_bias"]:
        out = out + arrays[2]
    return [np.ascontiguousarray(out, dtype=x.dtype)]


register(OpDef(
    "FullyConnected",
    params={"num_hidden": Param(p_int, ge=1), "no_bias": Param(p_bool, False),
            "flatten": Param(p_bool, True)},
    inputs=_fc_inputs, shape=_fc_shape, template="ops/fully_connected.c.j2",
    reference=_fc_ref))


ACTIVATIONS = {   # act_type: NumPy forward
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": lambda x: np.logaddexp(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def _activation_ref(p, arrays, train=False):
    x = arrays[0]
    with np.errstate(over="ignore"):
        return [np.asarray(ACTIVATIONS[p["act_type"]](x), dtype=x.dtype)]


register(OpDef(
    "Activation",
    params={"act_type": Param(p_enum("relu", "sigmoid", "tanh", "softrelu", "softsign",
                                     unsupported=("log_sigmoid", "mish")))},
    shape=_same_shape, template="ops/activation.c.j2", reference=_activation_ref))



def _bias_inputs(p):
    return ["data", "weight"] if p["no_bias"] else ["data", "weight", "bias"]


def _per_dim(values, nd, default, what):
    if len(values) == 0:
        return (default,) * nd
    if len(values) != nd:
        raise ShapeError(0, (), (), "%s has %d entries, kernel has %d" % (what, len(values), nd))
    return tuple(values)


def _spatial(p, nd):
    return (_per_dim(p["stride"], nd, 1, "stride"), _per_dim(p["dilate"], nd, 1, "dilate"),
            _per_dim(p["pad"], nd, 0, "pad"))


def _check_rank(p, data, op):
    nd = len(p["kernel"])
    if p["layout"] not in (None, "NCW", "NCHW", "NCDHW"):
        raise ShapeError(0, data or (), (), "%s layout=%s is not supported (NCW/NCHW/NCDHW)"
                         % (op, p["layout"]))
    if nd not in (1, 2, 3):
        raise ShapeError(0, data or (), (), "%s supports 1-D, 2-D and 3-D kernels, got kernel %s"
                         % (op, p["kernel"]))
    if data is not None and len(data) > 0 and len(data) != nd + 2:
        raise ShapeError(0, data, (), "%s with a %d-D kernel needs %d-D data (N, C, ...)"
                         % (op, nd, nd + 2))
    return nd


# ---- Convolution ---------------------------------------------------------------------------

def _conv_shape(p, ins, outs=None):
    """Output (N, num_filter, spatial...); unknown (0) dimensions stay unknown. As MXNet's
    ConvolutionShape, a known output fills the batch, and each spatial size whose stride is 1
    (the input size follows from the output's)."""
    nd = _check_rank(p, ins[0], "Convolution")
    data = ins[0]
    if not ndim_known(data):
        return ins, [None]
    s, d, pd = _spatial(p, nd)
    out = out_list(outs, 1)[0]
    if ndim_known(out) and len(out) == len(data):
        back = [out[0], data[1]]
        for x, o, k, si, di, pi in zip(data[2:], out[2:], p["kernel"], s, d, pd):
            x_back = o + di * (k - 1) - 2 * pi if o and si == 1 else 0
            back.append(x_back if x_back > 0 else x)
        assign(ins, 0, back)
        data = ins[0]
    c, f, g = data[1], p["num_filter"], p["num_group"]
    if c % g or f % g:
        raise ShapeError(0, data, (), "num_group=%d must divide channels %d and num_filter %d"
                         % (g, c, f))
    assign(ins, 1, (f, c // g) + tuple(p["kernel"]))
    if not p["no_bias"]:
        assign(ins, 2, (f,))
    shape = []
    for x, k, si, di, pi in zip(data[2:], p["kernel"], s, d, pd):
        o = (x + 2 * pi - di * (k - 1) - 1) // si + 1 if x else 0
        if x and o <= 0:
            raise ShapeError(0, data, (), "kernel %s (dilate %s) does not fit the padded input"
                             % (p["kernel"], d))
        shape.append(o)
    return ins, [(data[0], f) + tuple(shape)]


def _as3d(vals, fill):
    """1-D / 2-D geometry as 3-D with unit leading axes."""
    return (fill,) * (3 - len(vals)) + tuple(vals)


def _dims3(prefix, vals, fill):
    return dict(zip((prefix + "D", prefix + "H", prefix + "W"), _as3d(vals, fill)))


def _conv_geometry(p, shapes, transposed=False):
    """Normalised 3-D geometry of a (de)convolution: the 'image' side and the 'column' side."""
    nd = len(p["kernel"])
    s, d, pd = _spatial(p, nd)
    data, out = shapes["data"], shapes["output"]
    g = p["num_group"]
    img, cols = (out, data) if transposed else (data, out)
    if transposed:
        pd = _deconv_pads(p, data)[0]
    geo = dict(N=data[0], C=img[1], F=cols[1], G=g, CG=img[1] // g, FG=cols[1] // g)
    img_sp, col_sp = _as3d(img[2:], 1), _as3d(cols[2:], 1)
    geo.update(D=img_sp[0], H=img_sp[1], W=img_sp[2], OD=col_sp[0], OH=col_sp[1], OW=col_sp[2])
    geo.update(_dims3("K", p["kernel"], 1))
    geo.update(_dims3("S", s, 1))
    geo.update({"DD": _as3d(d, 1)[0], "DH": _as3d(d, 1)[1], "DW": _as3d(d, 1)[2]})
    geo.update(_dims3("P", pd, 0))
    return geo


CONV_MAX_THREADS = 8   # samples run in parallel, each thread with its own workspace slice


def _conv_slices(n):
    return max(1, min(n, CONV_MAX_THREADS))


def _conv_workspace(p, ins, outs):
    """Per thread: one column buffer, plus a weight-gradient accumulator."""
    data, out = ins[0], outs[0]
    g = p["num_group"]
    ck = (data[1] // g) * prod(p["kernel"])
    return _conv_slices(data[0]) * (ck * prod(out[2:]) + p["num_filter"] * ck)


def _conv_geometry_threads(p, shapes):
    geo = _conv_geometry(p, shapes)
    ck = geo["CG"] * prod(p["kernel"])
    geo.update(T=_conv_slices(geo["N"]), COL=ck * prod(shapes["output"][2:]),
               WACC=p["num_filter"] * ck)
    return geo


_LAYOUTS = {"NCW": 1, "NCHW": 2, "NCDHW": 3}          # channels first: what the kernels do
_p_layout = p_optional(p_enum(*_LAYOUTS, unsupported=("NWC", "NHWC", "NDHWC")))

_CONV_PARAMS = {
    "kernel": Param(p_shape, ge=1, lengths=(1, 2, 3)), "stride": Param(p_shape, (), ge=1),
    "dilate": Param(p_shape, (), ge=1), "pad": Param(p_shape, (), ge=0),
    "num_filter": Param(p_int, ge=1), "num_group": Param(p_int, 1, ge=1),
    "workspace": Param(p_int, 1024, ge=0), "no_bias": Param(p_bool, False),
    "cudnn_tune": Param(p_optional(p_enum("off", "limited_workspace", "fastest")), None),
    "cudnn_off": Param(p_bool, False), "layout": Param(_p_layout, None)}


def _check_per_dim(p, keys, nd, what="kernel"):
    """Each of `keys` is empty (the default) or has one entry per kernel dimension."""
    for key in keys:
        if len(p[key]) not in (0, nd):
            raise ParamError(key, "has %d entries, %s %s has %d"
                             % (len(p[key]), what, p[what], nd))


def _check_layout(p, nd):
    if p["layout"] is not None and _LAYOUTS[p["layout"]] != nd:
        raise ParamError("layout", "does not match the %d-D kernel %s" % (nd, p["kernel"]))


def _check_conv(p):
    nd = len(p["kernel"])
    _check_per_dim(p, ("stride", "dilate", "pad"), nd)
    _check_layout(p, nd)


def _check_deconv(p):
    _check_conv(p)
    _check_per_dim(p, ("adj", "target_shape"), len(p["kernel"]))


def _window(offset, step, count):
    """The slice taking `count` positions `step` apart from `offset`."""
    return slice(offset, offset + step * (count - 1) + 1, step)


def _kernel_offsets(p, nd):
    return itertools.product(*(range(k) for k in p["kernel"][:nd]))


def _conv_ref(p, arrays, train=False):
    """Correlation as one product per kernel offset: strided input windows times that tap."""
    x, w = arrays[0], arrays[1]
    nd = x.ndim - 2
    s, d, pd = _spatial(p, nd)
    out_sp = _conv_shape(p, [x.shape, None, None])[1][0][2:]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in pd])
    g, f = p["num_group"], p["num_filter"]
    cg, fg = x.shape[1] // g, f // g
    out = np.zeros((x.shape[0], f) + tuple(out_sp), dtype=np.result_type(x, w))
    for tap in _kernel_offsets(p, nd):
        win = (slice(None), slice(None)) + tuple(
            _window(t * di, si, o) for t, di, si, o in zip(tap, d, s, out_sp))
        patch = xp[win]
        for k in range(g):
            out[:, k * fg:(k + 1) * fg] += np.einsum(
                "nc...,fc->nf...", patch[:, k * cg:(k + 1) * cg],
                w[(slice(k * fg, (k + 1) * fg), slice(None)) + tap])
    if not p["no_bias"]:
        out += arrays[2].reshape((1, f) + (1,) * nd)
    return [out.astype(x.dtype, copy=False)]


register(OpDef(
    "Convolution", params=_CONV_PARAMS, check=_check_conv, inputs=_bias_inputs,
    shape=_conv_shape,
    geometry=_conv_geometry_threads, workspace=_conv_workspace,
    template="ops/convolution.c.j2", reference=_conv_ref))


# ---- Deconvolution -------------------------------------------------------------------------

def _deconv_pads(p, data):
    """(pad, adj) per spatial dim; target_shape overrides them as MXNet's InferPad does."""
    nd = len(p["kernel"])
    s, d, pd = _spatial(p, nd)
    adj = _per_dim(p["adj"], nd, 0, "adj")
    if p["target_shape"] and any(t > 0 for t in p["target_shape"]):
        tgt = _per_dim(p["target_shape"], nd, 0, "target_shape")
        pads, adjs = [], []
        for x, k, si, di, t in zip(data[2:], p["kernel"], s, d, tgt):
            total = si * (x - 1) + di * (k - 1) + 1 - t
            adjs.append(total % 2)
            pads.append((total + 1) // 2)
        return tuple(pads), tuple(adjs)
    return pd, adj


def _deconv_shape(p, ins):
    """Output (N, num_filter, spatial...); the batch may be unknown (0), as in MXNet's."""
    nd = _check_rank(p, ins[0], "Deconvolution")
    data = ins[0]
    if not (ndim_known(data) and known(data[1:])):
        return ins, [None]
    s, d, _ = _spatial(p, nd)
    pads, adjs = _deconv_pads(p, data)
    c, f, g = data[1], p["num_filter"], p["num_group"]
    if c % g or f % g:
        raise ShapeError(0, data, (), "num_group=%d must divide channels %d and num_filter %d"
                         % (g, c, f))
    for a, si in zip(adjs, s):      # the adj in use: target_shape replaces the parameter
        if a >= si:
            raise ShapeError(0, data, (), "adj %s must be smaller than stride %s"
                             % (p["adj"], s))
    assign(ins, 1, (c, f // g) + tuple(p["kernel"]))
    if not p["no_bias"]:
        assign(ins, 2, (f,))
    out = []
    for x, k, si, di, pi, a in zip(data[2:], p["kernel"], s, d, pads, adjs):
        o = si * (x - 1) + di * (k - 1) + 1 - 2 * pi + a
        if o <= 0:
            raise ShapeError(0, data, (), "Deconvolution output size %d is not positive" % o)
        out.append(o)
    return ins, [(data[0], f) + tuple(out)]


def _deconv_workspace(p, ins, outs):
    """Per thread: one column buffer, plus a weight-gradient accumulator."""
    data = ins[0]
    g = p["num_group"]
    ck = (p["num_filter"] // g) * prod(p["kernel"])
    return _conv_slices(data[0]) * (ck * prod(data[2:]) + data[1] * ck)


def _deconv_geometry(p, shapes):
    geo = dict(_conv_geometry(p, shapes, transposed=True), bias=not p["no_bias"])
    ck = geo["CG"] * prod(p["kernel"])
    geo.update(T=_conv_slices(geo["N"]), COL=ck * prod(shapes["data"][2:]),
               WACC=shapes["data"][1] * ck)
    return geo


def _deconv_ref(p, arrays, train=False):
    """Transposed convolution: every input position scatters its kernel-weighted values."""
    x, w = arrays[0], arrays[1]
    nd = x.ndim - 2
    s, d, _ = _spatial(p, nd)
    pads, adjs = _deconv_pads(p, x.shape)
    g, f = p["num_group"], p["num_filter"]
    cg, fg = x.shape[1] // g, f // g
    in_sp = x.shape[2:]
    full_sp = [si * (n - 1) + di * (k - 1) + 1 + a
               for n, k, si, di, a in zip(in_sp, p["kernel"], s, d, adjs)]
    full = np.zeros((x.shape[0], f) + tuple(full_sp), dtype=np.result_type(x, w))
    for tap in _kernel_offsets(p, nd):
        win = (slice(None), slice(None)) + tuple(
            _window(t * di, si, n) for t, di, si, n in zip(tap, d, s, in_sp))
        for k in range(g):
            contrib = np.einsum("nc...,cf->nf...", x[:, k * cg:(k + 1) * cg],
                                w[(slice(k * cg, (k + 1) * cg), slice(None)) + tap])
            full[(slice(None), slice(k * fg, (k + 1) * fg)) + win[2:]] += contrib
    out = full[(slice(None), slice(None)) + tuple(
        slice(q, n - q) for q, n in zip(pads, full_sp))]
    if not p["no_bias"]:
        out = out + arrays[2].reshape((1, f) + (1,) * nd)
    return [np.ascontiguousarray(out, dtype=x.dtype)]


register(OpDef(
    "Deconvolution",
    params=dict(_CONV_PARAMS, adj=Param(p_shape, (), ge=0),
                target_shape=Param(p_shape, (), ge=0), workspace=Param(p_int, 512, ge=0),
                no_bias=Param(p_bool, True)),
    check=_check_deconv, inputs=_bias_inputs, shape=_deconv_shape,
    geometry=_deconv_geometry,
    workspace=_deconv_workspace, template="ops/deconvolution.c.j2", reference=_deconv_ref))


# ---- Pooling -------------------------------------------------------------------------------

def _pool_dims(p, data):
    """(kernel, stride, pad) per spatial dim, global_pool applied."""
    nd = len(data) - 2
    if p["global_pool"]:
        return tuple(data[2:]), (1,) * nd, (0,) * nd
    if len(p["kernel"]) != nd:
        raise ShapeError(0, data, (), "Pooling kernel %s does not match %d-D data"
                         % (p["kernel"], len(data)))
    # as MXNet's Pooling, entries of stride / pad past the kernel's dimensions are not read
    return (tuple(p["kernel"]), _per_dim(tuple(p["stride"])[:nd], nd, 1, "stride"),
            _per_dim(tuple(p["pad"])[:nd], nd, 0, "pad"))


def _pool_shape(p, ins):
    """Pooled spatial sizes; the batch and channels may be unknown (0), as in MXNet's."""
    data = ins[0]
    if not ndim_known(data):
        return ins, [None]
    if len(data) not in (3, 4, 5):
        raise ShapeError(0, data, (), "Pooling supports 3-D, 4-D and 5-D data (N, C, ...)")
    if not known(data[2:]):
        return ins, [None]
    k, s, pd = _pool_dims(p, data)
    out = []
    for x, ki, si, pi in zip(data[2:], k, s, pd):
        if ki > x + 2 * pi:
            raise ShapeError(0, data, (), "Pooling kernel %s is larger than the padded input"
                             % (k,))
        if p["global_pool"]:
            out.append(1)
        elif p["pooling_convention"] == "full":
            out.append(1 + (x + 2 * pi - ki + si - 1) // si)
        elif p["pooling_convention"] == "same":       # ceil(x / stride) windows, the last clipped
            out.append((x + 2 * pi + si - 1) // si)
        else:
            out.append(1 + (x + 2 * pi - ki) // si)
    return ins, [tuple(data[:2]) + tuple(out)]


def _pool_geometry(p, shapes):
    data, out = shapes["data"], shapes["output"]
    k, s, pd = _pool_dims(p, data)
    cip = p["count_include_pad"]
    geo = dict(NC=data[0] * data[1], include_pad=True if cip is None else cip)
    isp, osp = _as3d(data[2:], 1), _as3d(out[2:], 1)
    geo.update(D=isp[0], H=isp[1], W=isp[2], OD=osp[0], OH=osp[1], OW=osp[2])
    geo.update(_dims3("K", k, 1))
    geo.update(_dims3("S", s, 1))
    geo.update(_dims3("P", pd, 0))
    return geo


def _check_pool(p):
    if p["pool_type"] == "lp" and p["p_value"] not in (1, 2, 3):
        raise ParamError("p_value", "pool_type=lp needs p_value 1, 2 or 3")
    if p["global_pool"]:
        return
    if not p["kernel"]:
        raise ParamError("kernel", "is required unless global_pool=True")
    nd = len(p["kernel"])
    for key in ("stride", "pad"):       # MXNet's Pooling reads the first nd entries
        if 0 < len(p[key]) < nd:
            raise ParamError(key, "has %d entries, kernel %s has %d"
                             % (len(p[key]), p["kernel"], nd))
    _check_layout(p, nd)
    if p["pooling_convention"] == "same":
        if nd != 1:
            raise ParamError("pooling_convention", "'same' supports 1-D pooling only "
                             "(data (batch, channel, x)), as in MXNet")
        if any(p["pad"]):
            raise ParamError("pad", "must be 0 with pooling_convention='same' (it pads "
                             "itself)")


def _window_counts(x, k, s, q, o, include_pad):
    """Per output position along one axis: how many positions its window averages over."""
    start = np.arange(o) * s - q
    end = np.minimum(start + k, x + q)
    if include_pad:
        return end - start
    return np.minimum(end, x) - np.maximum(start, 0)


def _pool_ref(p, arrays, train=False):
    """Windows clipped to the padded input (to the input for max / sum / lp and uncounted pad)."""
    x = arrays[0]
    nd = x.ndim - 2
    k, s, pd = _pool_dims(p, x.shape)
    out_sp = _pool_shape(p, [x.shape])[1][0][2:]
    kind = p["pool_type"]
    fill = -np.inf if kind == "max" else 0.0
    hi = [max(0, (o - 1) * si + ki - n - q)
          for o, si, ki, n, q in zip(out_sp, s, k, x.shape[2:], pd)]
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(q, h) for q, h in zip(pd, hi)],
                constant_values=fill)
    if kind == "lp":
        xp = np.abs(xp) ** p["p_value"]
    acc = np.full(x.shape[:2] + tuple(out_sp), fill)
    for tap in itertools.product(*(range(ki) for ki in k)):
        win = xp[(slice(None), slice(None)) + tuple(
            _window(t, si, o) for t, si, o in zip(tap, s, out_sp))]
        acc = np.maximum(acc, win) if kind == "max" else acc + win
    if kind == "avg":
        cip = p["count_include_pad"]
        counts = [_window_counts(n, ki, si, q, o, True if cip is None else cip)
                  for n, ki, si, q, o in zip(x.shape[2:], k, s, pd, out_sp)]
        acc = acc / functools.reduce(np.multiply, np.ix_(*counts))
    elif kind == "lp":
        acc = acc ** (1.0 / p["p_value"])
    return [acc.astype(x.dtype)]


register(OpDef(
    "Pooling",
    params={"kernel": Param(p_shape, (), ge=1, lengths=(0, 1, 2, 3)),
            "pool_type": Param(p_enum("max", "avg", "sum", "lp"), "max"),
            "global_pool": Param(p_bool, False), "cudnn_off": Param(p_bool, False),
            "pooling_convention": Param(p_enum("valid", "full", "same"), "valid"),
            "stride": Param(p_shape, (), ge=1), "pad": Param(p_shape, (), ge=0),
            "p_value": Param(p_optional(p_int), None),
            "count_include_pad": Param(p_optional(p_bool), None),
            "layout": Param(_p_layout, None)},
    check=_check_pool, shape=_pool_shape, geometry=_pool_geometry, template="ops/pooling.c.j2",
    reference=_pool_ref))


# ---- BatchNorm -----------------------------------------------------------------------------

def _channel_axis(p, data):
    ax = p.get("axis", 1)
    ax = ax + len(data) if ax < 0 else ax
    if not 0 <= ax < len(data):
        raise ShapeError(0, data, (), "axis %d is out of range for data %s" % (p["axis"], data))
    return ax


def _bn_shape(p, ins, outs=None):
    """data and output are one shape; gamma, beta, the moving statistics and the mean / var
    outputs are (C,), C the channel dimension of data, which any of them may give."""
    outs = out_list(outs, 3)
    unify(ins, outs, [0], [0])
    data = ins[0]
    if not ndim_known(data):
        return ins, [None, None, None]
    ax = _channel_axis(p, data)
    vectors = [(ins[i] if i < len(ins) else None) for i in (1, 2, 3, 4)] + outs[1:3]
    c = data[ax] or next((v[0] for v in vectors if ndim_known(v) and len(v) == 1 and v[0]), 0)
    for i in range(1, len(ins)):
        assign(ins, i, (c,))
    if c and not data[ax]:
        assign(ins, 0, tuple(c if j == ax else v for j, v in enumerate(data)))
    return ins, [tuple(ins[0]), (c,), (c,)]


def _bn_geometry(p, shapes):
    data = shapes["data"]
    ax = _channel_axis(p, data)
    return dict(OUTER=prod(data[:ax]), C=data[ax], INNER=prod(data[ax + 1:]))


def _bn_ref(p, arrays, train=False):
    """Batch statistics in training (unless use_global_stats), moving ones otherwise; `var`
    holds 1/sqrt(var + eps). Training updates moving_mean / moving_var in place."""
    x, gamma, beta, moving_mean, moving_var = arrays
    ax = _channel_axis(p, x.shape)
    axes = tuple(i for i in range(x.ndim) if i != ax)
    bshape = [1] * x.ndim
    bshape[ax] = x.shape[ax]
    if train and not p["use_global_stats"]:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        m = p["momentum"]
        moving_mean[...] = moving_mean * m + mean * (1 - m)
        moving_var[...] = moving_var * m + var * (1 - m)
    else:
        mean, var = moving_mean, moving_var
    istd = 1 / np.sqrt(var + p["eps"])
    scale = istd if p["fix_gamma"] else gamma * istd
    out = (x - mean.reshape(bshape)) * scale.reshape(bshape) + beta.reshape(bshape)
    return [out.astype(x.dtype), np.array(mean, dtype=x.dtype), istd.astype(x.dtype)]


def _bn_dtype(p, ins, outs):
    """data and output share a dtype; gamma, beta, the moving statistics and the mean / var
    outputs are float32 for float16 data, else data's type (MXNet's BatchNormType)."""
    d = ins[0] or outs[0]
    if d is None:
        return ins, outs
    acc = "float32" if d == "float16" else d
    return [d] + [acc] * (len(ins) - 1), [d] + [acc] * (len(outs) - 1)


register(OpDef(
    "BatchNorm",
    params={"eps": Param(p_float, 0.0010000000474974513, gt=0),
            "momentum": Param(p_float, 0.9),
            "fix_gamma": Param(p_bool, True), "use_global_stats": Param(p_bool, False),
            "output_mean_var": Param(p_bool, False), "axis": Param(p_int, 1),
            "cudnn_off": Param(p_bool, False),
            "min_calib_range": Param(p_optional(p_float), None),
            "max_calib_range": Param(p_optional(p_float), None)},
    inputs=("data", "gamma", "beta"), aux=("moving_mean", "moving_var"),
    outputs=("output", "mean", "var"),
    visible_outputs=lambda p: 3 if p["output_mean_var"] else 1,
    input_init={"moving_mean": '["zero", {}]', "moving_var": '["one", {}]'},
    shape=_bn_shape, geometry=_bn_geometry, template="ops/batch_norm.c.j2",
    reference=_bn_ref, dtype_rule=_bn_dtype))


def _check_bn_v1(p):
    if p["output_mean_var"]:
        raise ParamError("output_mean_var", "is not built for BatchNorm_v1 (its var output "
                         "is the variance, BatchNorm's is what mxc computes); use BatchNorm")


# MXNet's first BatchNorm: channels on axis 1, the same normalisation and gradients
register(OpDef(
    "BatchNorm_v1",
    params={"eps": Param(p_float, 0.0010000000474974513, gt=0),
            "momentum": Param(p_float, 0.9),
            "fix_gamma": Param(p_bool, True), "use_global_stats": Param(p_bool, False),
            "output_mean_var": Param(p_bool, False)},
    check=_check_bn_v1,
    inputs=("data", "gamma", "beta"), aux=("moving_mean", "moving_var"),
    outputs=("output", "mean", "var"), visible_outputs=lambda p: 1,
    input_init={"moving_mean": '["zero", {}]', "moving_var": '["one", {}]'},
    shape=_bn_shape, geometry=_bn_geometry, template="ops/batch_norm.c.j2",
    reference=_bn_ref, dtype_rule=_bn_dtype))


# ---- Dropout -------------------------------------------------------------------------------

def _dropout_shape(p, ins, outs=None):
    """data, output and mask are one shape, inferred from any of them."""
    outs = out_list(outs, 2)
    d = unify(ins, outs, [0], [0, 1])
    if ndim_known(d):
        for a in p["axes"]:
            if not -len(d) <= a < len(d):
                raise ShapeError(0, tuple(d), (), "Dropout axes entry %d is out of range for "
                                 "%d dimensions" % (a, len(d)))
    return ins, outs


def _dropout_geometry(p, shapes):
    data = shapes["data"]
    axes = {a + len(data) if a < 0 else a for a in p["axes"]}
    mshape = tuple(1 if i in axes else d for i, d in enumerate(data))
    strides, acc = [], 1
    for d in reversed(mshape):
        strides.append(acc)
        acc *= d
    strides = list(reversed(strides))
    dstr, acc = [], 1
    for d in reversed(data):
        dstr.append(acc)
        acc *= d
    dstr = list(reversed(dstr))
    return dict(shared=bool(axes), mask_size=prod(mshape),
                dims=[(data[i], dstr[i], 0 if i in axes else strides[i])
                      for i in range(len(data))])


def _dropout_ref(p, arrays, train=False):
    """Active in training or mode=always: keep with 1 - p (one draw per position of the mask,
    shared along `axes`, from NumPy's global generator), scaled by 1/(1-p)."""
    x = arrays[0]
    if not (train or p["mode"] == "always") or p["p"] == 0:
        return [x.copy(), np.ones_like(x)]
    axes = {a + x.ndim if a < 0 else a for a in p["axes"]}
    mshape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    keep = 1 - p["p"]
    mask = np.where(np.random.uniform(size=mshape) < keep, 1 / keep, 0).astype(x.dtype)
    mask = np.broadcast_to(mask, x.shape).copy()
    return [x * mask, mask]


register(OpDef(
    "Dropout",
    # MXNet's range is [0, 1], but p=1 scales the kept values by 1/0: refused here
    params={"p": Param(p_float, 0.5, ge=0, lt=1),
            "mode": Param(p_enum("training", "always"), "training"),
            "axes": Param(p_shape, ()), "cudnn_off": Param(p_optional(p_bool), False)},
    outputs=("output", "mask"), visible_outputs=lambda p: 1, uses_rng=True,
    shape=_dropout_shape, geometry=_dropout_geometry, template="ops/dropout.c.j2",
    reference=_dropout_ref))


# ---- LeakyReLU -----------------------------------------------------------------------------

def _leaky_inputs(p):
    return ["data", "gamma"] if p["act_type"] == "prelu" else ["data"]


def _leaky_outputs(p):
    return ["output", "mask"] if p["act_type"] == "rrelu" else ["output"]


def _leaky_shape(p, ins):
    data = ins[0]
    nout = 2 if p["act_type"] == "rrelu" else 1
    if not known(data):
        return ins, [None] * nout
    if p["act_type"] == "prelu":
        g = ins[1]
        leading = g is not None and 1 < len(g) <= len(data) and known(g)
        if leading and tuple(g) != tuple(data[:len(g)]):
            raise ShapeError(1, tuple(g), tuple(data[:len(g)]),
                             "prelu: a gamma of several dimensions covers the leading "
                             "dimensions of data %s" % (tuple(data),))
        if not leading and not (g is not None and len(g) > 0 and tuple(g) == (1,)):
            assign(ins, 1, (data[1] if len(data) > 1 else 1,))
    return ins, [tuple(data)] * nout


def _leaky_geometry(p, shapes):
    """prelu's data as OUTER x C x INNER, C the entries of gamma: 1 for a shared gamma, the
    channels (axis 1) for a vector, the leading dimensions it covers for a gamma of several
    dimensions (MXNet broadcasts such a gamma with trailing 1s)."""
    data = shapes["data"]
    g = shapes.get("gamma")
    if g is None or tuple(g) == (1,) or len(data) < 2:
        return dict(OUTER=1, C=1, INNER=prod(data))
    if len(g) > 1:
        return dict(OUTER=1, C=prod(data[:len(g)]), INNER=prod(data[len(g):]))
    return dict(OUTER=data[0], C=data[1], INNER=prod(data[2:]))


SELU_LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def _leaky_ref(p, arrays, train=False):
    """rrelu draws its slopes in [lower, upper) in training, uses their mean otherwise; the
    hidden mask output holds those slopes."""
    x, kind = arrays[0], p["act_type"]
    neg = x <= 0
    if kind == "leaky":
        out = np.where(neg, p["slope"] * x, x)
    elif kind == "elu":
        out = np.where(neg, p["slope"] * np.expm1(np.minimum(x, 0)), x)
    elif kind == "selu":
        out = SELU_LAMBDA * np.where(neg, SELU_ALPHA * np.expm1(np.minimum(x, 0)), x)
    elif kind == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        out = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    elif kind == "prelu":
        geo = _leaky_geometry(p, {"data": x.shape, "gamma": arrays[1].shape})
        slope = arrays[1].reshape(1, geo["C"], 1)
        x3 = x.reshape(geo["OUTER"], geo["C"], geo["INNER"])
        out = np.where(x3 > 0, x3, slope * x3).reshape(x.shape)
    else:
        lo, hi = p["lower_bound"], p["upper_bound"]
        slopes = (np.random.uniform(lo, hi, size=x.shape) if train
                  else np.full(x.shape, (lo + hi) / 2)).astype(x.dtype)
        return [np.where(neg, slopes * x, x).astype(x.dtype), slopes]
    return [np.asarray(out, dtype=x.dtype)]


register(OpDef(
    "LeakyReLU",
    params={"act_type": Param(p_enum("elu", "gelu", "leaky", "prelu", "rrelu", "selu"), "leaky"),
            "slope": Param(p_float, 0.25), "lower_bound": Param(p_float, 0.125),
            "upper_bound": Param(p_float, 0.334)},
    inputs=_leaky_inputs, outputs=_leaky_outputs,
    input_init={"gamma": '["Constant", {"value": 0.25}]'}, uses_rng=True,
    shape=_leaky_shape, geometry=_leaky_geometry, template="ops/leaky_relu.c.j2",
    reference=_leaky_ref))


# ---- softmax family ------------------------------------------------------------------------

def _axis_geometry(p, shapes):
    data = shapes["data"]
    ax = p["axis"] + len(data) if p["axis"] < 0 else p["axis"]
    if not 0 <= ax < len(data):
        raise ValueError("axis %d is out of range for data %s" % (p["axis"], data))
    return dict(OUTER=prod(data[:ax]), C=data[ax], INNER=prod(data[ax + 1:]),
                T=1.0 if p.get("temperature") is None else p["temperature"])


def _softmax_inputs(p):
    return ["data", "length"] if p["use_length"] else ["data"]


def _softmax_shape(p, ins, outs=None):
    d = ins[0]
    if ndim_known(d) and not -len(d) <= p["axis"] < len(d):
        raise ShapeError(0, d, (), "axis %d is out of range for data %s" % (p["axis"], d))
    if not p["use_length"]:
        return _same_shape(p, ins, outs)
    ins_d, outs_d = _same_shape(p, ins[:1], outs)
    ins = [ins_d[0], ins[1]]
    if known(ins[0]):       # the length tensor: the data's shape without the axis
        ax = p["axis"] % len(ins[0])
        assign(ins, 1, tuple(s for k, s in enumerate(ins[0]) if k != ax))
    return ins, outs_d


_SOFTMAX_PARAMS = {"axis": Param(p_int, -1),
                   "temperature": Param(p_optional(p_float), None),
                   "dtype": Param(p_optional(p_enum("float16", "float32", "float64")), None),
                   "use_length": Param(p_bool, False)}

def _check_softmax(p):
    if p["temperature"] == 0:
        raise ParamError("temperature", "must not be 0 (the inputs are divided by it)")


def softmax_along(x, axis, temperature=1.0, log=False):
    """(log-)softmax of x / temperature along `axis`, shifted by the maximum."""
    z = (x - x.max(axis=axis, keepdims=True)) / temperature
    with np.errstate(divide="ignore"):
        lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z - lse if log else np.exp(z - lse)


def _softmax_dtype(p, ins, outs):
    """The output has the `dtype` parameter's type when given, else the input's."""
    if p["dtype"]:
        return ins, [p["dtype"]]
    d = ins[0] or outs[0]
    return [d] + list(ins[1:]), [d]     # a length input keeps its own (integer) type


def _softmax_ref(log):
    def reference(p, arrays, train=False):
        x = arrays[0]
        t = 1.0 if p["temperature"] is None else p["temperature"]
        if not p["use_length"]:
            return [softmax_along(x, p["axis"], t, log).astype(p["dtype"] or x.dtype)]
        ax = p["axis"] % x.ndim
        lengths = np.clip(np.trunc(np.nan_to_num(np.asarray(arrays[1], np.float64))),
                          0, x.shape[ax]).astype(np.int64)
        xm = np.moveaxis(x, ax, -1)
        out = np.zeros(xm.shape, dtype=np.result_type(x.dtype, np.float32))
        for idx in np.ndindex(*xm.shape[:-1]):
            n = lengths[idx]
            if n:
                out[idx][:n] = softmax_along(xm[idx][:n].astype(out.dtype), -1, t, log)
        return [np.moveaxis(out, -1, ax).astype(p["dtype"] or x.dtype)]
    return reference


for _name in ("softmax", "log_softmax"):
    register(OpDef(
        _name, params=_SOFTMAX_PARAMS, check=_check_softmax, shape=_softmax_shape,
        inputs=_softmax_inputs, no_grad_inputs=("length",), dtype_rule=_softmax_dtype,
        geometry=_axis_geometry, template="ops/softmax.c.j2",
        reference=_softmax_ref(_name == "log_softmax")))


def _softmax_act_geometry(p, shapes):
    data = shapes["data"]
    if p["mode"] == "channel":
        return dict(OUTER=data[0], C=data[1], INNER=prod(data[2:]), T=1.0)
    return dict(OUTER=data[0], C=prod(data[1:]), INNER=1, T=1.0)


def _softmax_act_shape(p, ins, outs=None):
    if p["mode"] == "channel" and ndim_known(ins[0]) and len(ins[0]) < 3:
        raise ShapeError(0, ins[0], (), "SoftmaxActivation mode=channel needs 3-D or more")
    return _same_shape(p, ins, outs)


def _grouped_softmax(p, x):
    geo = _softmax_act_geometry(p, {"data": x.shape})
    x3 = x.reshape(geo["OUTER"], geo["C"], geo["INNER"])
    return softmax_along(x3, 1).reshape(x.shape).astype(x.dtype)


register(OpDef(
    "SoftmaxActivation", params={"mode": Param(p_enum("instance", "channel"), "instance")},
    shape=_softmax_act_shape, geometry=_softmax_act_geometry, template="ops/softmax.c.j2",
    reference=lambda p, arrays, train=False: [_grouped_softmax(p, arrays[0])]))


# ---- Embedding -----------------------------------------------------------------------------

def _embedding_shape(p, ins, outs=None):
    """weight (input_dim, output_dim); output = data's shape + (output_dim,), the data's
    unknown dimensions unknown in it, and filled back from a known output."""
    assign(ins, 1, (p["input_dim"], p["output_dim"]))
    out = out_list(outs, 1)[0]
    if ndim_known(out) and len(out) > 1:
        assign(ins, 0, tuple(out[:-1]))
    data = ins[0]
    if not ndim_known(data):
        return ins, [None]
    return ins, [tuple(data) + (p["output_dim"],)]


# _contrib_SparseEmbedding (mx.sym.contrib.SparseEmbedding) is MXNet's Embedding with a
# row_sparse weight gradient; with dense computation it is the same operator
register(OpDef(
    "Embedding", aliases=("_contrib_SparseEmbedding",),
    params={"input_dim": Param(p_int, ge=1), "output_dim": Param(p_int, ge=1),
            "dtype": Param(p_dtype, "float32"), "sparse_grad": Param(p_bool, False)},
    inputs=("data", "weight"), shape=_embedding_shape, no_grad_inputs=("data",),
    dtype_rule=lambda p, ins, outs: ([ins[0], p["dtype"]], [p["dtype"]]),
    template="ops/embedding.c.j2", reference=lambda p, arrays, train=False: [
        arrays[1][np.clip(arrays[0].astype(np.int64), 0, p["input_dim"] - 1)]]))


# ---- L2Normalization, LRN ------------------------------------------------------------------

def _l2_geometry(p, shapes):
    d = shapes["data"]
    if p["mode"] == "instance":
        return dict(OUTER=d[0], C=prod(d[1:]), INNER=1)
    if p["mode"] == "channel":
        return dict(OUTER=d[0], C=d[1], INNER=prod(d[2:]))
    return dict(OUTER=d[0] * d[1], C=prod(d[2:]), INNER=1)


def _l2_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None, None]
    if p["mode"] != "instance" and len(d) < 3:
        raise ShapeError(0, d, (), "L2Normalization mode=%s needs 3-D or more" % p["mode"])
    norm = {"instance": (d[0],), "channel": (d[0],) + tuple(d[2:]),
            "spatial": (d[0], d[1])}[p["mode"]]
    return ins, [tuple(d), norm]


def _l2_ref(p, arrays, train=False):
    x = arrays[0]
    geo = _l2_geometry(p, {"data": x.shape})
    x3 = x.reshape(geo["OUTER"], geo["C"], geo["INNER"])
    norm = np.sqrt((x3 * x3).sum(axis=1, keepdims=True) + p["eps"])
    out_norm = _l2_shape(p, [x.shape])[1][1]
    return [(x3 / norm).reshape(x.shape).astype(x.dtype), norm.reshape(out_norm).astype(x.dtype)]


register(OpDef(
    "L2Normalization",
    params={"eps": Param(p_float, 1e-10, gt=0),
            "mode": Param(p_enum("instance", "channel", "spatial"), "instance")},
    outputs=("output", "norm"), visible_outputs=lambda p: 1, shape=_l2_shape,
    geometry=_l2_geometry, template="ops/l2_normalization.c.j2", reference=_l2_ref))


def _lrn_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None, None]
    if len(d) < 3:
        raise ShapeError(0, d, (), "LRN needs data with channels on axis 1 (N, C, ...)")
    return ins, [tuple(d), tuple(d)]


def _check_lrn(p):
    if p["nsize"] % 2 == 0:
        raise ParamError("nsize", "the window must have an odd width (a centre channel)")


def _lrn_ref(p, arrays, train=False):
    """norm = knorm + alpha/nsize * sum of x^2 over nsize channels centred on c (clipped)."""
    x = arrays[0]
    sq = np.pad(x * x, [(0, 0), (p["nsize"] // 2,) * 2] + [(0, 0)] * (x.ndim - 2))
    window = sum(sq[:, i:i + x.shape[1]] for i in range(p["nsize"]))
    norm = p["knorm"] + p["alpha"] / p["nsize"] * window
    return [(x * norm ** -p["beta"]).astype(x.dtype), norm.astype(x.dtype)]


register(OpDef(
    "LRN",
    params={"alpha": Param(p_float, 1e-4), "beta": Param(p_float, 0.75),
            "knorm": Param(p_float, 2.0), "nsize": Param(p_int, ge=1)},
    check=_check_lrn, outputs=("output", "tmp_norm"), visible_outputs=lambda p: 1, shape=_lrn_shape,
    geometry=lambda p, sh: dict(N=sh["data"][0], C=sh["data"][1], INNER=prod(sh["data"][2:])),
    template="ops/lrn.c.j2", reference=_lrn_ref))


# ---- UpSampling (nearest), Pad -------------------------------------------------------------

def _bilinear_params(p, channels):
    """UpSampling bilinear is a depthwise Deconvolution with a fixed kernel size and pad."""
    s = p["scale"]
    k = 2 * s - s % 2
    pad = s // 2                     # ceil((s - 1) / 2)
    return {"kernel": (k, k), "stride": (s, s), "pad": (pad, pad), "dilate": (), "adj": (),
            "target_shape": (), "num_group": channels, "num_filter": channels,
            "no_bias": True, "layout": None}


def _upsampling_shape(p, ins):
    first = ins[0]
    if not known(first):
        return ins, [None]
    if len(first) != 4:
        raise ShapeError(0, first, (), "UpSampling needs 4-D data (N, C, H, W)")
    s = p["scale"]
    oh, ow = first[2] * s, first[3] * s
    if p["sample_type"] == "bilinear":
        c = first[1]
        if p["num_filter"] not in (0, c):
            raise ShapeError(0, first, (), "UpSampling bilinear needs num_filter equal to the "
                             "channels (%d), got %d" % (c, p["num_filter"]))
        k = _bilinear_params(p, c)["kernel"][0]
        assign(ins, 1, (c, 1, k, k))
        return ins, [(first[0], c, oh, ow)]
    chans = 0
    for i, d in enumerate(ins):
        if not known(d):
            return ins, [None]
        if len(d) != 4 or d[0] != first[0] or oh % d[2] or ow % d[3] or \
                oh // d[2] != ow // d[3]:
            raise ShapeError(i, tuple(d), (), "UpSampling input %d cannot be scaled to %s"
                             % (i, (oh, ow)))
        if p["multi_input_mode"] == "sum" and d[1] != first[1]:
            raise ShapeError(i, tuple(d), tuple(first), "sum mode needs equal channels")
        chans += d[1]
    c = first[1] if p["multi_input_mode"] == "sum" else chans
    return ins, [(first[0], c, oh, ow)]


class UpSamplingOp(OpDef):
    """Nearest: variable inputs arg0..; bilinear: data and a depthwise deconvolution weight."""

    def input_names(self, params, num_args=None):
        if params["sample_type"] == "bilinear":
            return ["data", "weight"]
        return super().input_names(params, num_args)

    def geometry(self, n):
        if n.p["sample_type"] != "bilinear":
            return {}
        return _deconv_geometry(_bilinear_params(n.p, n.shape["data"][1]), n.shape)


def _upsampling_ref(p, arrays, train=False):
    """Nearest: each input repeated up to the first's size times scale, then concatenated or
    summed; bilinear: the depthwise Deconvolution with the given weight."""
    first = arrays[0]
    if p["sample_type"] == "bilinear":
        dp = _bilinear_params(p, first.shape[1])
        return _deconv_ref(dp, arrays[:2])
    oh, ow = first.shape[2] * p["scale"], first.shape[3] * p["scale"]
    ups = [a.repeat(oh // a.shape[2], axis=2).repeat(ow // a.shape[3], axis=3) for a in arrays]
    out = sum(ups[1:], ups[0]) if p["multi_input_mode"] == "sum" else np.concatenate(ups, 1)
    return [np.ascontiguousarray(out, dtype=first.dtype)]


register(UpSamplingOp(
    "UpSampling",
    params={"scale": Param(p_int, ge=1, le=1000), "num_filter": Param(p_int, 0, ge=0),
            "sample_type": Param(p_enum("nearest", "bilinear")),
            "multi_input_mode": Param(p_enum("concat", "sum"), "concat"),
            "num_args": Param(p_int, 1, ge=1), "workspace": Param(p_int, 512, ge=0)},
    variable_inputs=True, shape=_upsampling_shape, input_init={"weight": '["bilinear", {}]'},
    workspace=lambda p, ins, outs: _deconv_workspace(_bilinear_params(p, ins[0][1]), ins, outs)
    if p["sample_type"] == "bilinear" else 0,
    template="ops/upsampling.c.j2", reference=_upsampling_ref))


def _pad_shape(p, ins):
    d = ins[0]
    if not known(d):
        return ins, [None]
    w = p["pad_width"]
    if len(d) not in (4, 5) or len(w) != 2 * len(d):
        raise ShapeError(0, d, (), "Pad needs 4-D or 5-D data and 2 widths per axis, got "
                         "pad_width %s" % (w,))
    if any(w[:4]):
        raise ShapeError(0, d, (), "Pad cannot pad the first two axes (pad_width %s)" % (w,))
    out = tuple(x + w[2 * i] + w[2 * i + 1] for i, x in enumerate(d))
    if p["mode"] == "reflect" and any(w[2 * i] >= x or w[2 * i + 1] >= x
                                      for i, x in enumerate(d) if i >= 2):
        raise ShapeError(0, d, (), "reflect padding must be smaller than the axis")
    return ins, [out]


def _pad_ref(p, arrays, train=False):
    x, w = arrays[0], p["pad_width"]
    widths = [(w[2 * i], w[2 * i + 1]) for i in range(x.ndim)]
    if p["mode"] == "constant":
        return [np.pad(x, widths, constant_values=p["constant_value"])]
    return [np.pad(x, widths, mode=p["mode"])]


register(OpDef(
    "Pad", aliases=("pad",),
    params={"mode": Param(p_enum("constant", "edge", "reflect")),
            "pad_width": Param(p_shape, ge=0, lengths=(8, 10)),
            "constant_value": Param(p_float, 0.0)},
    shape=_pad_shape, template="ops/pad.c.j2", reference=_pad_ref))
