"""The tutorial's layers: FullyConnected, Activation, SoftmaxOutput."""
from math import prod

from .base import (OpDef, Param, ShapeError, assign, known, p_bool, p_enum, p_float, p_int,
                   register)


def _fc_inputs(p):
    return ["data", "weight"] if p["no_bias"] else ["data", "weight", "bias"]


def _fc_shape(p, ins):
    data = ins[0]
    h = p["num_hidden"]
    if not known(data):
        return ins, [None]
    k = prod(data[1:]) if p["flatten"] else data[-1]
    assign(ins, 1, (h, k))
    if not p["no_bias"]:
        assign(ins, 2, (h,))
    out = (data[0], h) if p["flatten"] else tuple(data[:-1]) + (h,)
    return ins, [out]


register(OpDef(
    "FullyConnected",
    params={"num_hidden": Param(p_int, ge=1), "no_bias": Param(p_bool, False),
            "flatten": Param(p_bool, True)},
    inputs=_fc_inputs, shape=_fc_shape, template="ops/fully_connected.c.j2"))


def _same_shape(p, ins):
    return ins, [ins[0] if known(ins[0]) else None]


register(OpDef(
    "Activation",
    params={"act_type": Param(p_enum("relu", "sigmoid", "tanh", "softrelu", "softsign",
                                     unsupported=("log_sigmoid", "mish")))},
    shape=_same_shape, template="ops/activation.c.j2"))


def _softmax_output_shape(p, ins):
    data, label = ins[0], ins[1]
    if not known(data):
        return ins, [None]
    if label is not None and len(label) > 0 and tuple(label) == tuple(data):
        return ins, [data]                       # probability / one-hot labels
    if p["multi_output"]:
        spatial = tuple(data[2:])
        if label is not None and len(label) > 0:
            ok = tuple(label) in ((data[0],) + spatial, (data[0], 1) + spatial,
                                  (data[0], prod(spatial)))
            if not ok:
                raise ShapeError(1, tuple(label), (data[0],) + spatial)
        else:
            ins[1] = (data[0],) + spatial
    elif p["preserve_shape"]:
        assign(ins, 1, tuple(data[:-1]))
    else:
        want = tuple(data[:-1])
        if label is not None and len(label) > 0 and prod(label) == prod(want) \
                and label[0] == data[0]:
            pass                                 # e.g. (N, 1) labels for (N, K) data
        else:
            assign(ins, 1, want)
    return ins, [data]


register(OpDef(
    "SoftmaxOutput", aliases=("Softmax",),
    params={"grad_scale": Param(p_float, 1.0), "ignore_label": Param(p_float, -1.0),
            "multi_output": Param(p_bool, False), "use_ignore": Param(p_bool, False),
            "preserve_shape": Param(p_bool, False),
            "normalization": Param(p_enum("null", "batch", "valid"), "null"),
            "out_grad": Param(p_bool, False), "smooth_alpha": Param(p_float, 0.0, ge=0, le=1)},
    inputs=("data", "label"), shape=_softmax_output_shape, loss=True,
    no_grad_inputs=("label",), template="ops/softmax_output.c.j2"))
