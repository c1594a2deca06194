"""FullyConnected + relu fusion in the plan, the packed GEMM behind it, and their results
against NumPy references (float32 forward, float64 gradients)."""
import numpy as np
import pytest

import mxc as mx
from mxc.compiler import codegen
from mxc.compiler.plan import make_plan
from mxc.executor import Executor


def _mlp(hidden=(64,), act="relu", out=26):
    net = mx.sym.Variable("data")
    for k, h in enumerate(hidden, 1):
        net = mx.sym.FullyConnected(net, num_hidden=h, name="fc%d" % k)
        net = mx.sym.Activation(net, act_type=act, name="relu%d" % k)
    net = mx.sym.FullyConnected(net, num_hidden=out, name="fc%d" % (len(hidden) + 1))
    return net


def test_fc_relu_is_fused_into_one_kernel():
    net = mx.sym.SoftmaxOutput(_mlp(), name="softmax")
    plan = make_plan(net, {"data": (32, 16), "softmax_label": (32,)}, ["data"],
                     ["softmax_label"])
    assert plan.fused == [("fc1", "relu1")]
    source = codegen.render(plan)[0]
    assert "static int fused_fc1_relu1_forward(" in source
    assert "relu1_forward(" not in source.replace("fused_fc1_relu1_forward(", "")
    assert "relu1_backward(" in source          # backward keeps its own kernel
    assert "fc1_output" not in plan.internals   # never materialised


def test_fuse_false_keeps_every_kernel_and_output():
    net = mx.sym.SoftmaxOutput(_mlp(), name="softmax")
    shapes = {"data": (32, 16), "softmax_label": (32,)}
    fused = make_plan(net, shapes, ["data"], ["softmax_label"])
    plan = make_plan(net, shapes, ["data"], ["softmax_label"], fuse=False)
    assert plan.fused == []
    assert "fc1_output" in plan.internals and "relu1_output" in plan.internals
    source = codegen.render(plan)[0]
    assert "fused_fc1_relu1_forward" not in source and "relu1_forward(" in source
    # parameters sit at the same offsets either way (optimizer states stay valid)
    assert [(a.name, a.value.offset) for a in plan.params] == \
        [(a.name, a.value.offset) for a in fused.params]


def test_no_fusion_when_intermediate_is_requested_or_shared():
    net = _mlp()
    internals = net.get_internals()
    plan = make_plan(internals, {"data": (4, 16)}, ["data"], [])
    assert plan.fused == []
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=8, name="fc")
    two = mx.sym.Activation(fc, act_type="relu", name="r") + fc
    assert make_plan(two, {"data": (4, 3)}, ["data"], []).fused == []
    sig = mx.sym.Activation(fc, act_type="sigmoid", name="s")
    assert make_plan(sig, {"data": (4, 3)}, ["data"], []).fused == []


def _reference(x, params, n_hidden):
    h = x
    acts = [h]
    for k in range(1, n_hidden + 1):
        h = np.maximum(h @ params["fc%d_weight" % k].T + params["fc%d_bias" % k], 0)
        acts.append(h)
    k = n_hidden + 1
    return h @ params["fc%d_weight" % k].T + params["fc%d_bias" % k], acts


@pytest.mark.parametrize("rows,hidden", [(3, (7,)), (32, (64,)), (130, (300, 33)),
                                         (97, (1100,))])
def test_fused_forward_and_gradients_match_numpy(rows, hidden):
    rng = np.random.default_rng(rows)
    net = _mlp(hidden, out=5)
    k_in = 257 if rows == 130 else 16
    ex = Executor(net, {"data": (rows, k_in)}, data_names=("data",), dtype="float64",
                  grad_req={"data": "write"})
    assert len(ex.plan.fused) == len(hidden)
    for a in ex.arg_arrays.values():
        a[...] = rng.standard_normal(a.shape)
    params = {k: v.copy() for k, v in ex.arg_arrays.items()}
    ex.forward(True)
    y, acts = _reference(params["data"], params, len(hidden))
    np.testing.assert_allclose(ex.outputs[0], y, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    ex.head_grads[0][...] = g
    ex.backward()
    n = len(hidden)
    gy = g
    for k in range(n + 1, 0, -1):
        np.testing.assert_allclose(ex.grad_arrays["fc%d_weight" % k], gy.T @ acts[k - 1],
                                   rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(ex.grad_arrays["fc%d_bias" % k], gy.sum(0),
                                   rtol=1e-11, atol=1e-11)
        gx = gy @ params["fc%d_weight" % k]
        gy = gx * (acts[k - 1] > 0) if k > 1 else gx
    np.testing.assert_allclose(ex.grad_arrays["data"], gy, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (33, 1100, 300), (200, 40, 600), (5, 70, 3)])
def test_gemm_layouts_through_fully_connected_float32(m, n, k):
    """nt (forward), nn (data gradient), tn (weight gradient) on blocked and edge shapes."""
    rng = np.random.default_rng(m * n)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=n, name="fc", no_bias=True)
    ex = Executor(fc, {"data": (m, k)}, data_names=("data",), grad_req={"data": "write"})
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    ex.arg_arrays["data"][...] = x
    ex.arg_arrays["fc_weight"][...] = w
    ex.forward(True)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    scale = np.sqrt(k)
    np.testing.assert_allclose(ex.outputs[0], x64 @ w64.T, atol=1e-5 * scale * 4, rtol=1e-5)
    g = rng.standard_normal((m, n)).astype(np.float32)
    ex.head_grads[0][...] = g
    ex.backward()
    g64 = g.astype(np.float64)
    np.testing.assert_allclose(ex.grad_arrays["data"], g64 @ w64,
                               atol=1e-5 * np.sqrt(n) * 4, rtol=1e-5)
    np.testing.assert_allclose(ex.grad_arrays["fc_weight"], g64.T @ x64,
                               atol=1e-5 * np.sqrt(m) * 4, rtol=1e-5)
