"""FullyConnected, Activation, SoftmaxOutput: forward against NumPy, gradients against central
finite differences on a float64 build of the same generated C."""
import numpy as np
import pytest

import mxc as mx
from mxc.compiler import ops
from mxc.compiler.ops.nn import ACTIVATIONS as ACTS   # the registry's NumPy forwards
from mxc.executor import Executor
from mxc.test_utils import central_difference


def _fc(x, w, b, flatten=True):
    """FullyConnected by the registry's NumPy reference."""
    op = ops.get("FullyConnected")
    p = op.parse_params({"num_hidden": w.shape[0], "no_bias": b is None, "flatten": flatten})
    return op.reference(p, [x, w] + ([] if b is None else [b]))[0]


EPS = 1e-6      # half-width of the central differences on float64 builds


def _bind(sym, shapes, data_names, label_names=(), dtype="float64", req=None):
    return Executor(sym, shapes, data_names=list(data_names), label_names=list(label_names),
                    grad_req=req or {}, dtype=dtype)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_fc_activation_forward_and_gradients(act):
    rng = np.random.RandomState(3)
    x = mx.sym.Variable("x")
    y = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=5, name="fc"), act_type=act,
                          name="act")
    shapes = {"x": (3, 2, 3)}
    ex = _bind(y, shapes, ["x"], req={"x": "write"})
    vals = {"x": rng.randn(3, 2, 3), "fc_weight": rng.randn(5, 6), "fc_bias": rng.randn(5)}
    for k, v in vals.items():
        ex.arg_arrays[k][...] = v
    head = rng.randn(3, 5)
    ex.head_grads[0][...] = head
    ex.forward(True)
    want = ACTS[act](_fc(vals["x"], vals["fc_weight"], vals["fc_bias"]))
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-12)
    ex.backward()

    def objective():
        ex.forward(True)
        return float((ex.outputs[0] * head).sum())
    for name in ("x", "fc_weight", "fc_bias"):
        analytic = ex.grad_arrays[name].copy()
        numeric = central_difference(objective, ex.arg_arrays[name], EPS)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_fc_no_bias_and_no_flatten():
    rng = np.random.RandomState(0)
    x = mx.sym.Variable("data")
    y = mx.sym.FullyConnected(x, num_hidden=4, no_bias=True, flatten=False, name="fc")
    assert y.list_arguments() == ["data", "fc_weight"]
    ex = _bind(y, {"data": (2, 3, 5)}, ["data"], req={"data": "write"})
    xv, wv = rng.randn(2, 3, 5), rng.randn(4, 5)
    ex.arg_arrays["data"][...] = xv
    ex.arg_arrays["fc_weight"][...] = wv
    head = rng.randn(2, 3, 4)
    ex.head_grads[0][...] = head
    ex.forward(True)
    np.testing.assert_allclose(ex.outputs[0], xv @ wv.T, rtol=1e-12)
    ex.backward()
    np.testing.assert_allclose(ex.grad_arrays["data"], head @ wv, rtol=1e-12)
    np.testing.assert_allclose(ex.grad_arrays["fc_weight"],
                               np.einsum("abh,abk->hk", head, xv), rtol=1e-12)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_output_gradient_is_cross_entropy_gradient():
    rng = np.random.RandomState(1)
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=4, name="fc"),
                               name="softmax")
    ex = _bind(net, {"data": (6, 3), "softmax_label": (6,)}, ["data"], ["softmax_label"],
               req={"data": "write"})
    vals = {"data": rng.randn(6, 3), "fc_weight": rng.randn(4, 3), "fc_bias": rng.randn(4)}
    for k, v in vals.items():
        ex.arg_arrays[k][...] = v
    label = np.array([0, 3, 1, 2, 3, 0], dtype=np.float64)
    ex.arg_arrays["softmax_label"][...] = label
    ex.forward(True)
    p = _softmax(_fc(vals["data"], vals["fc_weight"], vals["fc_bias"]))
    np.testing.assert_allclose(ex.outputs[0], p, rtol=1e-12)
    ex.backward()

    def cross_entropy():
        ex.forward(True)
        return float(-np.log(ex.outputs[0][np.arange(6), label.astype(int)]).sum())
    for name in ("data", "fc_weight", "fc_bias"):
        analytic = ex.grad_arrays[name].copy()
        numeric = central_difference(cross_entropy, ex.arg_arrays[name], EPS)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kwargs,scale", [
    ({}, lambda lab, n: 1.0),
    ({"grad_scale": 2.5}, lambda lab, n: 1.0),
    ({"normalization": "batch"}, lambda lab, n: 1.0 / n),
    ({"use_ignore": True, "ignore_label": 1, "normalization": "valid"},
     lambda lab, n: 1.0 / max(1, int((lab != 1).sum()))),
])
def test_softmax_output_options(kwargs, scale):
    rng = np.random.RandomState(2)
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(x, name="sm", **kwargs)
    ex = _bind(net, {"data": (5, 4), "sm_label": (5,)}, ["data"], ["sm_label"],
               req={"data": "write"})
    z = rng.randn(5, 4)
    lab = np.array([1, 0, 3, 1, 2], dtype=np.float64)
    ex.arg_arrays["data"][...] = z
    ex.arg_arrays["sm_label"][...] = lab
    ex.forward(True)
    ex.backward()
    p = _softmax(z)
    want = p - np.eye(4)[lab.astype(int)]
    if kwargs.get("use_ignore"):
        want[lab == kwargs["ignore_label"]] = 0
    want *= scale(lab, 5) * kwargs.get("grad_scale", 1.0)
    np.testing.assert_allclose(ex.grad_arrays["data"], want, rtol=1e-12, atol=1e-14)


def test_softmax_output_multi_output():
    rng = np.random.RandomState(4)
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(x, name="sm", multi_output=True)
    _, _, _ = net.infer_shape(data=(2, 3, 4))
    ex = _bind(net, {"data": (2, 3, 4)}, ["data"], ["sm_label"], req={"data": "write"})
    assert ex.arg_arrays["sm_label"].shape == (2, 4)
    z = rng.randn(2, 3, 4)
    lab = rng.randint(0, 3, size=(2, 4)).astype(np.float64)
    ex.arg_arrays["data"][...] = z
    ex.arg_arrays["sm_label"][...] = lab
    ex.forward(True)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ex.outputs[0], p, rtol=1e-12)
    ex.backward()
    onehot = np.moveaxis(np.eye(3)[lab.astype(int)], -1, 1)
    np.testing.assert_allclose(ex.grad_arrays["data"], (p - onehot) / 4, rtol=1e-12)


def test_softmax_label_out_of_range_is_no_class():
    # as MXNet's SoftmaxGrad: label 3 of 3 classes matches none, its row's gradient is p
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(x, name="mysoftmax")
    ex = _bind(net, {"data": (2, 3)}, ["data"], ["mysoftmax_label"], dtype="float32",
               req={"data": "write"})
    ex.arg_arrays["mysoftmax_label"][...] = [0, 3]
    ex.forward(True)
    ex.backward()
    p = ex.outputs[0]
    np.testing.assert_allclose(ex.grad_arrays["data"], p - [[1, 0, 0], [0, 0, 0]], rtol=1e-6)


def test_shared_weight_gradients_are_summed():
    """A parameter used by two nodes gets the sum of both gradients."""
    rng = np.random.RandomState(5)
    x = mx.sym.Variable("x")
    w = mx.sym.Variable("w")
    a = mx.sym.FullyConnected(x, weight=w, num_hidden=3, no_bias=True, name="a")
    b = mx.sym.FullyConnected(a, weight=w, num_hidden=3, no_bias=True, name="b")
    ex = _bind(b, {"x": (2, 3)}, ["x"])
    xv, wv = rng.randn(2, 3), rng.randn(3, 3)
    ex.arg_arrays["x"][...] = xv
    ex.arg_arrays["w"][...] = wv
    head = rng.randn(2, 3)
    ex.head_grads[0][...] = head
    ex.forward(True)
    np.testing.assert_allclose(ex.outputs[0], (xv @ wv.T) @ wv.T, rtol=1e-12)
    ex.backward()

    def objective():
        ex.forward(True)
        return float((ex.outputs[0] * head).sum())
    numeric = central_difference(objective, ex.arg_arrays["w"], EPS)
    np.testing.assert_allclose(ex.grad_arrays["w"], numeric, rtol=1e-6, atol=1e-8)


def test_softmax_output_propagates_nan_like_mxnet():
    """NaN in the data is not checked (MXNet's behaviour): the row holding it comes out NaN,
    the other rows are untouched."""
    import mxc as mx
    net = mx.sym.SoftmaxOutput(mx.sym.Variable("data"), name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(data_shapes=[("data", (3, 40))], label_shapes=[("softmax_label", (3,))],
             for_training=False)
    mod.init_params()
    x = np.random.RandomState(1).randn(3, 40).astype(np.float32)
    x[1, 7] = np.nan
    x[2, 3] = np.inf
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((3,))]), is_train=False)
    y = mod.get_outputs()[0].asnumpy()
    e = np.exp(x[0] - x[0].max())
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-5)
    assert np.isnan(y[1]).all()
    assert not np.isnan(y[0]).any()
