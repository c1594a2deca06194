"""Generated C holds only what the graph uses: the bound optimizer's kernel, no training entry
points in inference exports, one function per distinct kernel, named tensor pointers."""
import re

import numpy as np

import mxc as mx
from mxc.compiler import codegen, export
from mxc.compiler.plan import make_plan
from mxc.executor import Executor

SHAPES_MLP = {"data": (32, 16), "softmax_label": (32,)}
SHAPES_LENET = {"data": (100, 1, 28, 28), "softmax_label": (100,)}


def _mlp():
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=64)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=26)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _lenet():
    net = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(5, 5), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu3")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _source(sym, shapes, kinds, **kw):
    plan = make_plan(sym, shapes, ["data"], ["softmax_label"])
    label = [a for a in plan.args if a.role == "label"][0]
    return codegen.render(plan, kinds=kinds, metric_io=(plan.outputs[0], label), **kw)[0]


def _kernel_comments_ok(src):
    """Every kernel function has a comment line right above it (or its callers line)."""
    lines = src.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"static int \w+_(forward|backward|im2col|col2im)\(", line):
            above = lines[i - 1]
            assert above.startswith("/* ") and above.endswith("*/"), (line, above)


def test_line_budgets_with_sgd_bound():
    tut = _source(_mlp(), SHAPES_MLP, ["sgd"])
    lenet = _source(_lenet(), SHAPES_LENET, ["sgd"])
    assert tut.count("\n") <= 700, tut.count("\n")
    assert lenet.count("\n") <= 1300, lenet.count("\n")
    for src in (tut, lenet):
        _kernel_comments_ok(src)
    assert "fused_fc1_relu1_forward(" in tut and "conv2_backward(" in lenet
    # im2col is one function per convolution geometry, which forward and backward hand to the
    # shared convolution kernel
    assert len(re.findall(r"^static int \w+_im2col\(", lenet, re.M)) == 2
    assert lenet.count("conv2_im2col") >= 3
    assert lenet.count("mxc_convolve(&g, ") == 2 and lenet.count("mxc_convolve_grad(&g, ") == 2


def test_sgd_library_has_no_other_optimizer_kernel():
    src = _source(_mlp(), SHAPES_MLP, ["sgd"])
    assert "update_sgd(" in src
    assert "update_adam" not in src and "update_sgd_mom" not in src
    assert "update_adam(" in _source(_mlp(), SHAPES_MLP, ["adam"])


def test_named_pointers_in_entry_points():
    src = _source(_mlp(), SHAPES_MLP, ["sgd"])
    forward = src[src.index("int mxc_forward("):]
    forward = forward[:forward.index("\n}\n")]
    assert re.search(r"real\* const fc1_weight = mem \+ \d+;", forward)
    assert "fused_fc1_relu1_forward(data, fc1_weight, fc1_bias, relu1_output, is_train)" \
        in forward
    assert not re.search(r"_forward\([^)]*mem \+", forward)


def test_module_binds_only_the_optimizer_it_uses():
    x = np.random.RandomState(0).randn(64, 16).astype(np.float32)
    y = (np.arange(64) % 26).astype(np.float32)
    mod = mx.mod.Module(_mlp())
    mod.fit(mx.io.NDArrayIter(x, y, 32), num_epoch=1, optimizer="adam",
            optimizer_params={"learning_rate": 0.01})
    assert mod._exec.optimizer_kinds == ["adam"]
    mod = mx.mod.Module(_mlp())
    mod.bind(data_shapes=[("data", (32, 16))], label_shapes=[("softmax_label", (32,))])
    mod.init_params()
    assert mod._exec.optimizer_kinds == ["sgd"]
    mod.init_optimizer(optimizer="rmsprop")          # a second library, same arena
    assert mod._exec.optimizer_kinds == ["rmsprop"]
    w = mod._exec.arg_arrays["fc1_weight"].copy()
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x[:32])], [mx.nd.array(y[:32])]))
    mod.update()
    assert not np.array_equal(w, mod._exec.arg_arrays["fc1_weight"])


def test_inference_export_has_no_training_entry_points(tmp_path):
    sym = _mlp()
    rng = np.random.RandomState(0)
    args = {"fc1_weight": rng.randn(64, 16), "fc1_bias": rng.randn(64),
            "fc2_weight": rng.randn(26, 64), "fc2_bias": rng.randn(26)}
    out = export.export(sym, args, {}, {"data": (4, 16)}, str(tmp_path), name="net")
    c = open(out.files["net.c"]).read()
    h = open(out.files["net.h"]).read()
    for text in (c, h):
        assert "net_backward" not in text and "net_update" not in text
        assert "net_train_step" not in text and "net_train_epoch" not in text
        assert "update_sgd" not in text
    assert "softmax_label" not in h
    table = c[c.index("mxc_inputs["):]
    table = table[:table.index("};")]
    assert '"data"' in table and "softmax_label" not in table


def _two_blocks():
    net = mx.sym.Variable("data")
    for i in (1, 2):
        net = mx.sym.FullyConnected(net, num_hidden=16, name="fc%d" % i)
        net = mx.sym.Activation(net, act_type="tanh", name="act%d" % i)
    net = mx.sym.FullyConnected(net, num_hidden=3, name="out")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def test_identical_blocks_share_one_kernel():
    shapes = {"data": (8, 16), "softmax_label": (8,)}
    src = _source(_two_blocks(), shapes, ["sgd"])
    assert len(re.findall(r"^static int fc1_forward\(", src, re.M)) == 1
    assert not re.search(r"^static int fc2_forward\(", src, re.M)
    assert not re.search(r"^static int act2_(forward|backward)\(", src, re.M)
    assert "/* called for fc1, fc2 */" in src
    body = src[src.index("int mxc_forward("):]
    assert body.count("fc1_forward(") == 2 and body.count("act1_forward(") == 2
    # the shared kernels compute what separate ones would: gradients against float64 numpy
    x = np.random.RandomState(1).randn(8, 16)
    ex = Executor(_two_blocks(), shapes, ["data"], ["softmax_label"], dtype="float64")
    rng = np.random.RandomState(2)
    for name, arr in ex.arg_arrays.items():
        if name not in ("data", "softmax_label"):
            arr[...] = rng.randn(*arr.shape) * 0.3
    ex.arg_arrays["data"][...] = x
    ex.arg_arrays["softmax_label"][...] = np.arange(8) % 3
    ex.forward(True)
    p = ex.arg_arrays
    h = x
    for i in (1, 2):
        h = np.tanh(h @ p["fc%d_weight" % i].T + p["fc%d_bias" % i])
    z = h @ p["out_weight"].T + p["out_bias"]
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(ex.outputs[0], e / e.sum(1, keepdims=True), rtol=1e-10)
