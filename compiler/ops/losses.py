"""Loss heads and gradient control: SoftmaxOutput, the regression outputs, SVMOutput,
MakeLoss, BlockGrad. A loss head's backward ignores the head gradient and writes its own."""
from math import prod

import numpy as np

from .base import (OpDef, Param, ShapeError, assign, known, merge_shape, ndim_known, out_list,
                   p_bool, p_enum, p_float, register, unify)


def _same_shape(p, ins, outs=None):
    """Input and output are one shape, inferred either way."""
    outs = out_list(outs, 1)
    unify(ins, outs, [0], [0])
    return ins, outs


# ---- SoftmaxOutput -------------------------------------------------------------------------

def _softmax_output_shape(p, ins, outs=None):
    """The output is data's shape (either way); the label is data without its last axis (the
    class axis, or (N, spatial...) for multi_output), unless it has data's own shape."""
    unify(ins, out_list(outs, 1), [0], [0])
    data, label = ins[0], ins[1]
    if not known(data):
        if ndim_known(data) and not ndim_known(label) and not p["multi_output"] \
                and len(data) > 1:
            ins[1] = tuple(data[:-1])
        return ins, [data if ndim_known(data) else None]
    if label is not None and len(label) > 0 and tuple(label) == tuple(data):
        return ins, [data]                       # probability / one-hot labels
    if p["multi_output"]:
        spatial = tuple(data[2:])
        forms = ((data[0],) + spatial, (data[0], 1) + spatial, (data[0], prod(spatial)))
        if ndim_known(label):                    # the first form a (partial) label fits
            fits = [f for f in (merge_shape(label, form) for form in forms) if f is not None]
            if not fits:
                raise ShapeError(1, tuple(label), forms[0])
            ins[1] = fits[0]
        else:
            ins[1] = forms[0]
    elif p["preserve_shape"]:
        assign(ins, 1, tuple(data[:-1]))
    else:
        want = tuple(data[:-1])
        if known(label) and prod(label) == prod(want) and label[0] == data[0]:
            pass                                 # e.g. (N, 1) labels for (N, K) data
        else:
            assign(ins, 1, want)
    return ins, [data]


def label_class(x):
    """The class MXNet's kernels take from label value x: C's (int) cast as x86 computes it
    (truncated toward zero; INT_MIN for NaN or a value an int cannot hold)."""
    x = float(x)
    return int(x) if -2147483649.0 < x < 2147483648.0 else -2 ** 31


def _softmax_output_geometry(p, shapes):
    """Softmax over C classes for each of R rows x S positions (data is R x C x S); `ignore` is
    the class of ignore_label."""
    data = shapes["data"]
    ignore = label_class(p["ignore_label"])
    if p["multi_output"]:
        return dict(R=data[0], C=data[1], S=prod(data[2:]), ignore=ignore)
    if p["preserve_shape"]:
        return dict(R=prod(data[:-1]), C=data[-1], S=1, ignore=ignore)
    return dict(R=data[0], C=prod(data[1:]), S=1, ignore=ignore)


def _softmax_output_ref(p, arrays, train=False):
    """Forward: the softmax over C of data seen as R x C x S (the label only shapes gradients)."""
    x = arrays[0]
    g = _softmax_output_geometry(p, {"data": x.shape})
    z = x.reshape(g["R"], g["C"], g["S"])
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return [(e / e.sum(axis=1, keepdims=True)).reshape(x.shape).astype(x.dtype)]


def softmax_output_backward(p, data, label, output_grad=None):
    """The gradient SoftmaxOutput's backward writes for `data` (MXNet's CPU kernels, mshadow's
    SoftmaxGrad / SmoothSoftmaxGrad): with labels of data's shape, (p - label) * grad_scale;
    otherwise (p - onehot(k)) * scale for k = label_class(label), where a k outside [0, C)
    matches no class (the gradient is p, less the smoothing), use_ignore zeroes the positions
    whose k is ignore_label's class, and scale is grad_scale divided by the batch size
    ('batch'), by the positions whose k is not ignore_label's class, at least 1 ('valid'), and
    by the spatial size for multi_output ('null', 'batch'); label smoothing only without
    multi_output. out_grad=True multiplies by the head gradient."""
    data = np.asarray(data, dtype=np.float64)
    prob = _softmax_output_ref(p, [data])[0]
    label = np.asarray(label, dtype=np.float64)
    if label.shape == data.shape:
        grad = (prob - label) * p["grad_scale"]
    else:
        g = _softmax_output_geometry(p, {"data": data.shape})
        R, C, S = g["R"], g["C"], g["S"]
        k = np.array([label_class(v) for v in label.reshape(-1)]).reshape(R, 1, S)
        alpha = p["smooth_alpha"] if not p["multi_output"] else 0.0
        hit = np.arange(C).reshape(1, C, 1) == k
        target = np.where(hit, 1.0 - alpha, alpha / (C - 1) if C > 1 else 0.0)
        grad = prob.reshape(R, C, S) - target
        if p["use_ignore"]:
            grad = np.where(k == g["ignore"], 0.0, grad)
        if p["normalization"] == "valid":
            scale = p["grad_scale"] / max(1, int((k != g["ignore"]).sum()))
        elif p["normalization"] == "batch":
            scale = p["grad_scale"] / (R * S)
        else:
            scale = p["grad_scale"] / (S if p["multi_output"] else 1)
        grad = (grad * scale).reshape(data.shape)
    if p["out_grad"] and output_grad is not None:
        grad = grad * output_grad
    return grad


def _identity_ref(p, arrays, train=False):
    return [arrays[0].copy()]


register(OpDef(
    "SoftmaxOutput", aliases=("Softmax",),
    params={"grad_scale": Param(p_float, 1.0), "ignore_label": Param(p_float, -1.0),
            "multi_output": Param(p_bool, False), "use_ignore": Param(p_bool, False),
            "preserve_shape": Param(p_bool, False),
            "normalization": Param(p_enum("null", "batch", "valid"), "null"),
            "out_grad": Param(p_bool, False), "smooth_alpha": Param(p_float, 0.0, ge=0, le=1)},
    inputs=("data", "label"), shape=_softmax_output_shape, loss=True,
    no_grad_inputs=("label",), geometry=_softmax_output_geometry,
    template="ops/softmax_output.c.j2", reference=_softmax_output_ref))


# ---- regression / loss heads ---------------------------------------------------------------

def _regression_shape(p, ins, outs=None):
    """The output is data's shape (either way); the label has data's size and batch."""
    unify(ins, out_list(outs, 1), [0], [0])
    data, label = ins[0], ins[1]
    if not known(data):
        return ins, [data if ndim_known(data) else None]
    if label is not None and len(label) > 0 and all(d > 0 for d in label):
        if label[0] != data[0] or prod(label) != prod(data):
            raise ShapeError(1, tuple(label), tuple(data))
    elif len(data) == 2 and data[1] == 1:
        ins[1] = (data[0],)
    else:
        assign(ins, 1, tuple(data))
    return ins, [tuple(data)]


def _logistic_ref(p, arrays, train=False):
    x = arrays[0]
    with np.errstate(over="ignore"):
        return [(1 / (1 + np.exp(-x))).astype(x.dtype)]


for _name, _kind, _ref in (("LinearRegressionOutput", "linear", _identity_ref),
                           ("LogisticRegressionOutput", "logistic", _logistic_ref),
                           ("MAERegressionOutput", "mae", _identity_ref)):
    register(OpDef(
        _name, params={"grad_scale": Param(p_float, 1.0)}, inputs=("data", "label"),
        shape=_regression_shape, loss=True, no_grad_inputs=("label",),
        geometry=lambda p, sh, _k=_kind: dict(kind=_k),
        template="ops/regression_output.c.j2", reference=_ref))


def _svm_shape(p, ins, outs=None):
    unify(ins, out_list(outs, 1), [0], [0])
    data = ins[0]
    if not known(data):
        return ins, [data if ndim_known(data) else None]
    assign(ins, 1, (data[0],))
    return ins, [tuple(data)]


register(OpDef(
    "SVMOutput",
    params={"margin": Param(p_float, 1.0), "regularization_coefficient": Param(p_float, 1.0),
            "use_linear": Param(p_bool, False)},
    inputs=("data", "label"), shape=_svm_shape, loss=True, no_grad_inputs=("label",),
    template="ops/svm_output.c.j2", reference=_identity_ref))

register(OpDef(
    "MakeLoss",
    params={"grad_scale": Param(p_float, 1.0), "valid_thresh": Param(p_float, 0.0),
            "normalization": Param(p_enum("null", "batch", "valid"), "null")},
    shape=_same_shape, loss=True, template="ops/make_loss.c.j2", reference=_identity_ref))

register(OpDef(
    "make_loss", outputs=("loss",), shape=_same_shape, loss=True,
    template="ops/make_loss.c.j2", reference=_identity_ref))

register(OpDef(
    "BlockGrad", aliases=("stop_gradient",), shape=_same_shape, differentiable=False,
    template="ops/identity.c.j2", reference=_identity_ref))
