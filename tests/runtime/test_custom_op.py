"""Custom operators (mx.operator, mx.sym.Custom, mx.nd.Custom): graphs split at Custom nodes,
checked against the same graphs with built-in operators, NumPy and central differences."""
import json

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.test_utils import check_numeric_gradient


# -- the operators under test --------------------------------------------------------------

class NumpySoftmax(mx.operator.CustomOp):
    """Softmax with its cross-entropy gradient (a loss: backward ignores out_grad)."""

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        y = np.exp(x - x.max(axis=1, keepdims=True))
        self.assign(out_data[0], req[0], mx.nd.array(y / y.sum(axis=1, keepdims=True)))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        label = in_data[1].asnumpy().ravel().astype(int)
        y = out_data[0].asnumpy()
        y[np.arange(label.shape[0]), label] -= 1.0
        self.assign(in_grad[0], req[0], mx.nd.array(y))


@mx.operator.register("test_softmax")
class NumpySoftmaxProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=False)

    def list_arguments(self):
        return ["data", "label"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return NumpySoftmax()


class ScaledSquare(mx.operator.CustomOp):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * in_data[0] * self.scale)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * in_data[0] * (2.0 * self.scale))


SEEN_KWARGS = []


@mx.operator.register("test_scaled_square")
class ScaledSquareProp(mx.operator.CustomOpProp):
    def __init__(self, scale="1.0"):
        super().__init__(need_top_grad=True)
        SEEN_KWARGS.append(scale)
        self.scale = float(scale)

    def create_operator(self, ctx, shapes, dtypes):
        return ScaledSquare(self.scale)


class SplitSigns(mx.operator.CustomOp):
    """Two outputs: max(x, 0) and x * 3."""

    def forward(self, is_train, req, in_data, out_data, aux):
        x = in_data[0].asnumpy()
        self.assign(out_data[0], req[0], mx.nd.array(np.maximum(x, 0), dtype=x.dtype))
        self.assign(out_data[1], req[1], mx.nd.array(3 * x, dtype=x.dtype))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        x = in_data[0].asnumpy()
        g = out_grad[0].asnumpy() * (x > 0) + 3 * out_grad[1].asnumpy()
        self.assign(in_grad[0], req[0], mx.nd.array(g, dtype=x.dtype))


@mx.operator.register("test_split_signs")
class SplitSignsProp(mx.operator.CustomOpProp):
    def list_outputs(self):
        return ["pos", "triple"]

    def create_operator(self, ctx, shapes, dtypes):
        return SplitSigns()


class RunningMean(mx.operator.CustomOp):
    """Identity whose aux state `mean` tracks the batch mean in training (momentum 0.5)."""

    def forward(self, is_train, req, in_data, out_data, aux):
        if is_train:
            aux[0][:] = 0.5 * aux[0].asnumpy() + 0.5 * in_data[0].asnumpy().mean(axis=0)
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])


@mx.operator.register("test_running_mean")
class RunningMeanProp(mx.operator.CustomOpProp):
    def list_auxiliary_states(self):
        return ["moving_mean"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]], [in_shape[0][1:]]

    def create_operator(self, ctx, shapes, dtypes):
        return RunningMean()


# -- graphs ----------------------------------------------------------------------------------

def classifier(custom, hidden=16, classes=4):
    data = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(data, name="fc1", num_hidden=hidden)
    h = mx.sym.Activation(h, act_type="tanh", name="act1")
    h = mx.sym.FullyConnected(h, name="fc2", num_hidden=classes)
    if custom:
        return mx.sym.Custom(data=h, name="softmax", op_type="test_softmax")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def quadrants(n, seed):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 5).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32) + 2 * (x[:, 1] > 0)
    return x, y


def module_grads(sym, params, batch):
    mod = mx.mod.Module(sym)
    mod.bind(data_shapes=[("data", batch.data[0].shape)],
             label_shapes=[("softmax_label", batch.label[0].shape)])
    mod.init_params(arg_params=params)
    mod.forward(batch, is_train=True)
    mod.backward()
    assert mod._exec.head_grads == [None]       # a loss output takes no head gradient
    grads = {n: mod._exec.grad_arrays[n].copy() for n in params}
    return mod.get_outputs()[0].asnumpy(), grads


def test_softmax_loss_gradients_equal_softmax_output():
    x, y = quadrants(20, 0)
    rng = np.random.RandomState(3)
    params = {"fc1_weight": rng.randn(16, 5) * 0.3, "fc1_bias": rng.randn(16) * 0.1,
              "fc2_weight": rng.randn(4, 16) * 0.3, "fc2_bias": rng.randn(4) * 0.1}
    params = {k: mx.nd.array(v) for k, v in params.items()}
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    out_c, grads_c = module_grads(classifier(True), params, batch)
    out_b, grads_b = module_grads(classifier(False), params, batch)
    np.testing.assert_allclose(out_c, out_b, atol=1e-6)
    for name in params:
        assert np.abs(grads_b[name]).max() > 1e-3
        np.testing.assert_allclose(grads_c[name], grads_b[name], atol=1e-5, err_msg=name)


def test_softmax_loss_trains_like_softmax_output():
    x, y = quadrants(400, 1)
    acc = {}
    for custom in (True, False):
        mx.random.seed(7)
        it = mx.io.NDArrayIter(x, y, 20, label_name="softmax_label")
        mod = mx.mod.Module(classifier(custom))
        mod.fit(it, num_epoch=10, optimizer="sgd", initializer=mx.init.Xavier(),
                optimizer_params={"learning_rate": 1.0})
        acc[custom] = dict(mod.score(it, "acc"))["accuracy"]
        pred = mod.predict(it).asnumpy()
        assert pred.shape == (400, 4)
        np.testing.assert_allclose(pred.sum(axis=1), 1, rtol=1e-5)
    assert acc[False] > 0.9
    assert abs(acc[True] - acc[False]) <= 0.02, acc


def mid_graph(custom, shared=False):
    data = mx.sym.Variable("data")
    w = mx.sym.Variable("w") if shared else None
    h = mx.sym.FullyConnected(data, name="fc1", num_hidden=6, weight=w, no_bias=shared)
    if custom:
        h = mx.sym.Custom(h, op_type="test_scaled_square", scale=0.5, name="sq")
    else:
        h = (h * h) * 0.5
    return mx.sym.FullyConnected(h, name="fc2", num_hidden=6 if shared else 3, weight=w,
                                 no_bias=shared)


def test_mid_graph_gradient_central_differences():
    rng = np.random.RandomState(2)
    loc = {"data": rng.randn(4, 5), "fc1_weight": rng.randn(6, 5) * 0.4,
           "fc1_bias": rng.randn(6) * 0.1, "fc2_weight": rng.randn(3, 6) * 0.4,
           "fc2_bias": rng.randn(3) * 0.1}
    check_numeric_gradient(mid_graph(True), loc, numeric_eps=1e-5, rtol=1e-5, atol=1e-7)


def test_shared_weight_across_segments_central_differences():
    rng = np.random.RandomState(4)
    loc = {"data": rng.randn(3, 6), "w": rng.randn(6, 6) * 0.4}
    sym = mid_graph(True, shared=True)
    assert sym.list_arguments() == ["data", "w"]
    check_numeric_gradient(sym, loc, numeric_eps=1e-5, rtol=1e-5, atol=1e-7)


def test_mid_graph_equals_builtin_ops_with_softmax_output():
    rng = np.random.RandomState(5)
    args = {"data": rng.randn(4, 5), "fc1_weight": rng.randn(6, 5) * 0.4,
            "fc1_bias": rng.randn(6) * 0.1, "fc2_weight": rng.randn(3, 6) * 0.4,
            "fc2_bias": rng.randn(3) * 0.1, "softmax_label": np.array([0, 1, 2, 1.0])}
    res = []
    for custom in (True, False):
        sym = mx.sym.SoftmaxOutput(mid_graph(custom), name="softmax")
        ex = sym.simple_bind(mx.cpu(), type_dict={"data": np.float64}, data=(4, 5))
        for k, v in args.items():
            ex.arg_dict[k][:] = v
        ex.forward(is_train=True)
        ex.backward()
        res.append((ex.outputs[0].asnumpy(), {k: ex.grad_dict[k].asnumpy() for k in args}))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    for k in args:
        if k != "softmax_label":
            assert np.abs(res[1][1][k]).max() > 1e-4
        np.testing.assert_allclose(res[0][1][k], res[1][1][k], rtol=1e-10, atol=1e-12)
    assert SEEN_KWARGS and all(isinstance(s, str) for s in SEEN_KWARGS)
    assert "0.5" in SEEN_KWARGS


def test_multiple_outputs_heads_and_consumers():
    data = mx.sym.Variable("data")
    parts = mx.sym.Custom(data, op_type="test_split_signs", name="split")
    assert parts.list_outputs() == ["split_pos", "split_triple"]
    mixed = mx.sym.FullyConnected(parts[0] + parts[1], num_hidden=2, name="fc", no_bias=True)
    sym = mx.sym.Group([mixed, parts[1]])
    rng = np.random.RandomState(6)
    x, w = rng.randn(3, 4), rng.randn(2, 4)
    g_out, g_triple = rng.randn(3, 2), rng.randn(3, 4)
    ex = sym.simple_bind(mx.cpu(), type_dict={"data": np.float64}, data=(3, 4))
    ex.arg_dict["data"][:] = x
    ex.arg_dict["fc_weight"][:] = w
    outs = ex.forward(is_train=True)
    np.testing.assert_allclose(outs[0].asnumpy(), (np.maximum(x, 0) + 3 * x) @ w.T)
    np.testing.assert_allclose(outs[1].asnumpy(), 3 * x)
    ex.backward([mx.nd.array(g_out, dtype=np.float64), mx.nd.array(g_triple, dtype=np.float64)])
    dh = g_out @ w
    want = dh * (x > 0) + 3 * dh + 3 * g_triple
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), want, rtol=1e-12)
    np.testing.assert_allclose(ex.grad_dict["fc_weight"].asnumpy(),
                               g_out.T @ (np.maximum(x, 0) + 3 * x), rtol=1e-12)


def test_aux_states_update_in_training_only():
    data = mx.sym.Variable("data")
    h = mx.sym.Custom(mx.sym.FullyConnected(data, num_hidden=3, name="fc"),
                      op_type="test_running_mean", name="rm")
    sym = mx.sym.MakeLoss(mx.sym.sum(h * h))
    assert sym.list_auxiliary_states() == ["rm_moving_mean"]
    _, _, aux_shapes = sym.infer_shape(data=(5, 2))
    assert aux_shapes == [(3,)]
    rng = np.random.RandomState(8)
    x = rng.randn(5, 2).astype(np.float32)
    mod = mx.mod.Module(sym, label_names=None)
    mod.bind(data_shapes=[("data", (5, 2))])
    mod.init_params(initializer=mx.init.Uniform(0.5), arg_params={},
                    aux_params={"rm_moving_mean": mx.nd.zeros((3,))}, allow_missing=True)
    arg, aux = mod.get_params()
    assert np.all(aux["rm_moving_mean"].asnumpy() == 0)
    h_ref = x @ arg["fc_weight"].asnumpy().T + arg["fc_bias"].asnumpy()
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=True)
    mean1 = 0.5 * h_ref.mean(axis=0)
    np.testing.assert_allclose(mod.get_params()[1]["rm_moving_mean"].asnumpy(), mean1, rtol=1e-5)
    mod.backward()
    np.testing.assert_allclose(mod._exec.grad_arrays["fc_weight"], (2 * h_ref).T @ x,
                               rtol=1e-4)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    np.testing.assert_allclose(mod.get_params()[1]["rm_moving_mean"].asnumpy(), mean1, rtol=1e-5)


class TopGradPlusOne(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] + 1)


@mx.operator.register("test_no_top_grad")
class NoTopGradProp(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=False)

    def create_operator(self, ctx, shapes, dtypes):
        return TopGradPlusOne()


def test_need_top_grad_false_gets_no_out_grad():
    # declare_backward_dependency leaves out_grad out: backward sees zeros, not the 5s
    sym = mx.sym.Custom(mx.sym.Variable("data"), op_type="test_no_top_grad") * 2
    ex = sym.simple_bind(mx.cpu(), data=(2, 3))
    ex.forward(is_train=True, data=mx.nd.ones((2, 3)))
    ex.backward(mx.nd.ones((2, 3)) * 2.5)
    np.testing.assert_array_equal(ex.grad_dict["data"].asnumpy(), np.ones((2, 3)))


def test_grad_req_add_accumulates():
    # `data` reaches the custom operator directly (a gradient of the executor's own) and
    # fc_weight lives in a compiled segment
    data = mx.sym.Variable("data")
    sq = mx.sym.Custom(data, op_type="test_scaled_square", scale=2, name="sq")
    sym = mx.sym.FullyConnected(sq, num_hidden=2, name="fc", no_bias=True)
    rng = np.random.RandomState(9)
    x, w, g = rng.randn(3, 4), rng.randn(2, 4), rng.randn(3, 2)
    grads = {"data": mx.nd.zeros((3, 4), dtype=np.float64),
             "fc_weight": mx.nd.zeros((2, 4), dtype=np.float64)}
    ex = sym.bind(mx.cpu(), {"data": mx.nd.array(x, dtype=np.float64),
                             "fc_weight": mx.nd.array(w, dtype=np.float64)},
                  args_grad=grads, grad_req="add")
    for _ in range(2):
        ex.forward(is_train=True)
        ex.backward(mx.nd.array(g, dtype=np.float64))
    np.testing.assert_allclose(grads["data"].asnumpy(), 2 * (g @ w) * 4 * x, rtol=1e-12)
    np.testing.assert_allclose(grads["fc_weight"].asnumpy(), 2 * g.T @ (2 * x * x),
                               rtol=1e-12)


def test_assign_honours_req():
    op = mx.operator.CustomOp()
    dst = mx.nd.array([1.0, 2.0])
    src = mx.nd.array([10.0, 20.0])
    op.assign(dst, "null", src)
    np.testing.assert_array_equal(dst.asnumpy(), [1, 2])
    op.assign(dst, "add", src)
    np.testing.assert_array_equal(dst.asnumpy(), [11, 22])
    op.assign(dst, "write", src)
    np.testing.assert_array_equal(dst.asnumpy(), [10, 20])
    op.assign(dst, "inplace", mx.nd.array([3.0, 4.0]))
    np.testing.assert_array_equal(dst.asnumpy(), [3, 4])
    with pytest.raises(MXNetError, match="req"):
        op.assign(dst, "overwrite", src)


def test_unregistered_op_type_is_named():
    with pytest.raises(MXNetError, match="'no_such_custom_op'.*not registered"):
        mx.sym.Custom(mx.sym.Variable("data"), op_type="no_such_custom_op")
    doc = {"nodes": [{"op": "null", "name": "data", "inputs": []},
                     {"op": "Custom", "name": "c", "attrs": {"op_type": "missing_op_xyz"},
                      "inputs": [[0, 0, 0]]}],
           "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]],
           "attrs": {"mxnet_version": ["int", 10901]}}
    with pytest.raises(MXNetError, match="missing_op_xyz"):
        mx.sym.load_json(json.dumps(doc))


def test_json_round_trip_and_mxnet_layout():
    sym = mx.sym.SoftmaxOutput(mid_graph(True), name="softmax")
    text = sym.tojson()
    nodes = json.loads(text)["nodes"]
    custom = [n for n in nodes if n["op"] == "Custom"]
    assert custom == [{"op": "Custom", "name": "sq",
                       "attrs": {"op_type": "test_scaled_square", "scale": "0.5"},
                       "inputs": [[3, 0, 0]]}]
    back = mx.sym.load_json(text)
    assert back.tojson() == text
    assert back.list_arguments() == sym.list_arguments()
    # a document as MXNet writes it (the layout above) binds and runs like the original
    rng = np.random.RandomState(10)
    vals = {"data": rng.randn(4, 5), "fc1_weight": rng.randn(6, 5), "fc1_bias": rng.randn(6),
            "fc2_weight": rng.randn(3, 6), "fc2_bias": rng.randn(3)}
    outs = []
    for s in (sym, back):
        ex = s.simple_bind(mx.cpu(), data=(4, 5), grad_req="null")
        outs.append(ex.forward(**vals)[0].asnumpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_nd_custom_runs_forward():
    x = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    y = mx.nd.Custom(mx.nd.array(x), op_type="test_scaled_square", scale="3")
    np.testing.assert_allclose(y.asnumpy(), 3 * x * x, rtol=1e-6)
    pos, triple = mx.nd.Custom(mx.nd.array(x), op_type="test_split_signs")
    np.testing.assert_allclose(pos.asnumpy(), np.maximum(x, 0))
    np.testing.assert_allclose(triple.asnumpy(), 3 * x)
    with pytest.raises(MXNetError, match="not_registered_nd"):
        mx.nd.Custom(mx.nd.array(x), op_type="not_registered_nd")


def test_legacy_python_ops_refused_and_register_checks():
    for cls in (mx.operator.NumpyOp, mx.operator.NDArrayOp, mx.operator.PythonOp):
        with pytest.raises(MXNetError, match="CustomOp"):
            cls()
    with pytest.raises(MXNetError, match="CustomOpProp"):
        mx.operator.register("bad_prop")(object)
    assert "test_softmax" in mx.operator.get_all_registered_operators()


def test_operator_errors_name_the_node():
    class Broken(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            raise RuntimeError("boom")

    @mx.operator.register("test_broken")
    class BrokenProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Broken()

    sym = mx.sym.Custom(mx.sym.Variable("data"), op_type="test_broken", name="oops")
    ex = sym.simple_bind(mx.cpu(), data=(2, 2))
    with pytest.raises(MXNetError, match="test_broken.*'oops'.*forward.*boom"):
        ex.forward()
    with pytest.raises(MXNetError, match="'test_broken'.*forward.*boom"):
        mx.nd.Custom(mx.nd.zeros((2, 2)), op_type="test_broken")


def test_mnist_mlp_with_custom_softmax_loss():
    """MXNet's custom-softmax example, bounded: an MLP on 6000 MNIST digits, its loss a NumPy
    custom operator, trained by Module.fit with a batch-end callback, scored on 2000 test
    digits, and compared with the same MLP and SoftmaxOutput."""
    try:
        mnist = mx.test_utils.get_mnist()
    except MXNetError as err:
        pytest.skip("MNIST not available: %s" % err)
    x = mnist["train_data"][:6000].reshape(6000, 784)
    y = mnist["train_label"][:6000]
    acc = {}
    for custom in (True, False):
        mx.random.seed(11)
        train = mx.io.NDArrayIter(x, y, 100, shuffle=True, label_name="softmax_label")
        val = mx.io.NDArrayIter(mnist["test_data"][:2000].reshape(2000, 784),
                                mnist["test_label"][:2000], 100, label_name="softmax_label")
        data = mx.sym.Variable("data")
        h = mx.sym.Activation(mx.sym.FullyConnected(data, name="fc1", num_hidden=128),
                              act_type="relu")
        h = mx.sym.Activation(mx.sym.FullyConnected(h, name="fc2", num_hidden=64),
                              act_type="relu")
        h = mx.sym.FullyConnected(h, name="fc3", num_hidden=10)
        mlp = mx.sym.Custom(data=h, name="softmax", op_type="test_softmax") if custom \
            else mx.sym.SoftmaxOutput(h, name="softmax")
        mod = mx.mod.Module(mlp, context=mx.cpu())
        batches = []
        mod.fit(train, eval_data=val, optimizer="sgd", num_epoch=3,
                initializer=mx.init.Xavier(magnitude=2.24),
                optimizer_params={"learning_rate": 0.1, "momentum": 0.9, "wd": 0.00001},
                batch_end_callback=lambda p: batches.append(p.nbatch))
        assert len(batches) == 3 * 60
        acc[custom] = dict(mod.score(val, "acc"))["accuracy"]
    assert acc[True] > 0.85 and abs(acc[True] - acc[False]) <= 0.01, acc


def test_compiled_updates_per_segment_equal_python_updates():
    # parameters in two segments (fc1 before the custom operator, fc2 after): the compiled
    # Adam step runs per segment on its part of the optimizer state
    sym = mx.sym.SoftmaxOutput(mid_graph(True), name="softmax")
    x, y = quadrants(12, 12)
    y = y % 3
    params = {}
    for compiled in (True, False):
        mx.random.seed(5)
        it = mx.io.NDArrayIter(x, y, 6, label_name="softmax_label")
        mod = mx.mod.Module(sym)
        mod._kernel_hint = "adam"   # as fit() does: bind compiles the Adam kernel in
        mod.bind(it.provide_data, it.provide_label)
        if not compiled:            # the executor offers no kernel: updates run in Python
            mod._exec.use_optimizer = lambda kind: False
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.05})
        assert (mod._opt_kernel is not None) == compiled
        for _ in range(3):
            it.reset()
            for batch in it:
                mod.forward_backward(batch)
                mod.update()
        params[compiled] = mod.get_params()[0]
    a, b = params[True], params[False]
    assert sorted(a) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]
    for k in a:
        np.testing.assert_allclose(a[k].asnumpy(), b[k].asnumpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)


def test_checkpoint_load_predict_and_monitor(tmp_path):
    x, y = quadrants(40, 13)
    it = mx.io.NDArrayIter(x, y, 20, label_name="softmax_label")
    mx.random.seed(1)
    mod = mx.mod.Module(classifier(True))
    mod.fit(it, num_epoch=2, optimizer="sgd", optimizer_params={"learning_rate": 0.3})
    want = mod.predict(it).asnumpy()
    prefix = str(tmp_path / "custom")
    mod.save_checkpoint(prefix, 2)
    loaded = mx.mod.Module.load(prefix, 2)
    loaded.bind(it.provide_data, it.provide_label, for_training=False)
    np.testing.assert_allclose(loaded.predict(it).asnumpy(), want, rtol=1e-6)
    seen = {}
    mon = mx.mon.Monitor(1, stat_func=lambda a: a.copy(), pattern=".*")
    loaded.install_monitor(mon)
    mon.tic()
    loaded.forward(mx.io.DataBatch([mx.nd.array(x[:20])], [mx.nd.array(y[:20])]),
                   is_train=False)
    for _, name, value in mon.toc():
        seen[name] = value
    assert {"act1_output", "fc2_output", "softmax_output", "fc1_weight"} <= set(seen)
    internals = loaded._exec.internals
    np.testing.assert_allclose(internals["softmax_output"], want[:20], rtol=1e-6)
    z = internals["fc2_output"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), want[:20], rtol=1e-5)


class ChannelScale(mx.operator.CustomOp):
    """out[:, j] = data[:, j] * weight[j]: a custom operator with a learnable input."""

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * in_data[1].reshape((1, -1)))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        g, x, w = out_grad[0].asnumpy(), in_data[0].asnumpy(), in_data[1].asnumpy()
        self.assign(in_grad[0], req[0], mx.nd.array(g * w[None, :], dtype=x.dtype))
        self.assign(in_grad[1], req[1], mx.nd.array((g * x).sum(axis=0), dtype=x.dtype))


@mx.operator.register("test_channel_scale")
class ChannelScaleProp(mx.operator.CustomOpProp):
    def list_arguments(self):
        return ["data", "weight"]

    def infer_shape(self, in_shape):
        return [in_shape[0], (in_shape[0][1],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return ChannelScale()


def channel_scaled_net():
    h = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=4)
    h = mx.sym.Custom(h, op_type="test_channel_scale", name="cs")
    return mx.sym.FullyConnected(h, name="fc2", num_hidden=3)


def test_parameter_read_only_by_custom_op():
    sym = channel_scaled_net()
    assert sym.list_arguments() == ["data", "fc1_weight", "fc1_bias", "cs_weight",
                                    "fc2_weight", "fc2_bias"]
    rng = np.random.RandomState(14)
    loc = {"data": rng.randn(3, 5), "fc1_weight": rng.randn(4, 5) * 0.5,
           "fc1_bias": rng.randn(4) * 0.1, "cs_weight": rng.randn(4),
           "fc2_weight": rng.randn(3, 4) * 0.5, "fc2_bias": rng.randn(3) * 0.1}
    check_numeric_gradient(sym, loc, numeric_eps=1e-5, rtol=1e-5, atol=1e-7)
    # in a Module its update runs in Python (with every other parameter's): one SGD step
    net = mx.sym.SoftmaxOutput(sym, name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([("data", (3, 5))], [("softmax_label", (3,))])
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in loc.items() if k != "data"})
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    assert mod._opt_kernel is None
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(loc["data"])],
                                         [mx.nd.array([0, 2, 1])]))
    grads = {k: mod._exec.grad_arrays[k].copy() for k in mod._param_names}
    assert np.abs(grads["cs_weight"]).max() > 1e-3
    mod.update()
    after = mod.get_params()[0]
    for k, g in grads.items():
        np.testing.assert_allclose(after[k].asnumpy(), loc[k] - 0.5 / 3 * g, rtol=1e-5,
                                   atol=1e-6, err_msg=k)


def test_bad_infer_shape_names_the_node():
    @mx.operator.register("test_bad_shapes")
    class BadShapesProp(mx.operator.CustomOpProp):
        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0], in_shape[0]], []     # one output is declared

    sym = mx.sym.Custom(mx.sym.Variable("data"), op_type="test_bad_shapes", name="bad")
    with pytest.raises(MXNetError, match="'bad' \\(Custom\\).*2 output"):
        sym.infer_shape(data=(2, 3))
    with pytest.raises(MXNetError, match="'bad'"):
        sym.simple_bind(mx.cpu(), data=(2, 3))
