"""Correlation (FlowNet's correlation layer, MXNet's src/operator/correlation.cc): for every
output position and displacement, the mean over a kernel window and the channels of
data1 * data2 at the displaced position (is_multiply) or of |data1 - data2|. Inputs are
zero-padded by pad_size; the hidden outputs tmp1 / tmp2 are those padded copies (N, H, W, C)
as MXNet keeps them.
"""
import math

import numpy as np

from .base import OpDef, Param, ParamError, ShapeError, known, p_bool, p_int, register


def _check(p):
    if p["kernel_size"] % 2 != 1:
        raise ParamError("kernel_size", "must be an odd number, got %d" % p["kernel_size"])


def _dims(p, data):
    """Geometry of data (N, C, H, W): padded sizes, output sizes, displacement grid."""
    n, c, h, w = data
    kr = (p["kernel_size"] - 1) // 2
    border = p["max_displacement"] + kr
    ph, pw = h + 2 * p["pad_size"], w + 2 * p["pad_size"]
    th = int(math.ceil((ph - 2 * border) / float(p["stride1"])))
    tw = int(math.ceil((pw - 2 * border) / float(p["stride1"])))
    gr = p["max_displacement"] // p["stride2"]
    gw = 2 * gr + 1
    return dict(N=n, C=c, H=h, W=w, PH=ph, PW=pw, TH=th, TW=tw, GR=gr, GW=gw, TC=gw * gw,
                K=p["kernel_size"], MD=p["max_displacement"], S1=p["stride1"],
                S2=p["stride2"], PAD=p["pad_size"], SUM=p["kernel_size"] ** 2 * c)


def _shape(p, ins):
    d1, d2 = ins
    given = d1 if known(d1) else d2
    if not known(given):
        return ins, [None, None, None]
    if len(given) != 4:
        raise ShapeError(0, tuple(given), (), "Correlation needs 4-D data (N, C, H, W)")
    for k, d in enumerate(ins):
        if known(d) and tuple(d) != tuple(given):
            raise ShapeError(k, tuple(d), tuple(given), "data1 and data2 must have one shape")
    g = _dims(p, given)
    if g["TH"] < 1 or g["TW"] < 1:
        raise ShapeError(0, tuple(given), (), "Correlation cannot be done with these settings: "
                         "the neighborhood and kernel do not fit in the padded input")
    padded = (g["N"], g["PH"], g["PW"], g["C"])
    return [tuple(given), tuple(given)], [(g["N"], g["TC"], g["TH"], g["TW"]), padded, padded]


def _geometry(p, shapes):
    return _dims(p, shapes["data1"])


def _reference(p, arrays, train=False):
    a, b = (np.asarray(x, dtype=np.float64) for x in arrays)
    g = _dims(p, a.shape)
    pad = ((0, 0), (0, 0), (g["PAD"],) * 2, (g["PAD"],) * 2)
    ap, bp = np.pad(a, pad), np.pad(b, pad)
    out = np.zeros((g["N"], g["TC"], g["TH"], g["TW"]))
    k = g["K"]
    for tc in range(g["TC"]):
        dx = (tc % g["GW"] - g["GR"]) * g["S2"]
        dy = (tc // g["GW"] - g["GR"]) * g["S2"]
        for i in range(g["TH"]):
            for j in range(g["TW"]):
                y1, x1 = i * g["S1"] + g["MD"], j * g["S1"] + g["MD"]
                w1 = ap[:, :, y1:y1 + k, x1:x1 + k]
                w2 = bp[:, :, y1 + dy:y1 + dy + k, x1 + dx:x1 + dx + k]
                prod = w1 * w2 if p["is_multiply"] else np.abs(w1 - w2)
                out[:, tc, i, j] = prod.sum(axis=(1, 2, 3)) / g["SUM"]
    dtype = arrays[0].dtype
    return [out.astype(dtype), ap.transpose(0, 2, 3, 1).astype(dtype),
            bp.transpose(0, 2, 3, 1).astype(dtype)]


register(OpDef(
    "Correlation",
    params={"kernel_size": Param(p_int, 1, ge=1), "max_displacement": Param(p_int, 1, ge=0),
            "stride1": Param(p_int, 1, ge=1), "stride2": Param(p_int, 1, ge=1),
            "pad_size": Param(p_int, 0, ge=0), "is_multiply": Param(p_bool, True)},
    check=_check, inputs=("data1", "data2"), outputs=("output", "tmp1", "tmp2"),
    visible_outputs=lambda p: 1, shape=_shape, geometry=_geometry,
    template="ops/correlation.c.j2", reference=_reference))
