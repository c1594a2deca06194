"""BucketingModule, SequentialModule, PythonLossModule and the BaseModule helpers, against
NumPy references and hand-driven single Modules."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

VOCAB, EMBED, HIDDEN, CLASSES, BATCH = 7, 4, 5, 3, 4


# ---- a bucketed sequence model: an unrolled tanh RNN whose weights every length shares -----
def rnn_sym_gen(seq_len):
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    i2h_w, i2h_b = mx.sym.Variable("i2h_weight"), mx.sym.Variable("i2h_bias")
    h2h_w = mx.sym.Variable("h2h_weight")
    embed = mx.sym.Embedding(data, input_dim=VOCAB, output_dim=EMBED, name="embed")
    h = None
    for t in range(seq_len):
        x_t = mx.sym.Reshape(mx.sym.slice_axis(embed, axis=1, begin=t, end=t + 1),
                             shape=(-1, EMBED))
        pre = mx.sym.FullyConnected(x_t, weight=i2h_w, bias=i2h_b, num_hidden=HIDDEN,
                                    name="i2h_t%d" % t)
        if h is not None:
            pre = pre + mx.sym.FullyConnected(h, weight=h2h_w, no_bias=True,
                                              num_hidden=HIDDEN, name="h2h_t%d" % t)
        h = mx.sym.Activation(pre, act_type="tanh")
    out = mx.sym.FullyConnected(h, num_hidden=CLASSES, name="out")
    return mx.sym.SoftmaxOutput(out, label, name="softmax"), ("data",), ("softmax_label",)


def init_params(seed=0):
    rng = np.random.RandomState(seed)
    shapes = {"embed_weight": (VOCAB, EMBED), "i2h_weight": (HIDDEN, EMBED),
              "i2h_bias": (HIDDEN,), "h2h_weight": (HIDDEN, HIDDEN),
              "out_weight": (CLASSES, HIDDEN), "out_bias": (CLASSES,)}
    return {k: rng.uniform(-0.5, 0.5, s).astype(np.float32) for k, s in shapes.items()}


class BucketIter(mx.io.DataIter):
    """Batches of token sequences, each batch one length (its bucket_key)."""

    def __init__(self, keys, default_key, seed=1):
        super().__init__(BATCH)
        rng = np.random.RandomState(seed)
        self.batches = [(k, rng.randint(0, VOCAB, (BATCH, k)).astype(np.float32),
                         rng.randint(0, CLASSES, (BATCH,)).astype(np.float32)) for k in keys]
        self.default_key = default_key
        self.cursor = 0

    @property
    def provide_data(self):
        return [mx.io.DataDesc("data", (BATCH, self.default_key))]

    @property
    def provide_label(self):
        return [mx.io.DataDesc("softmax_label", (BATCH,))]

    def reset(self):
        self.cursor = 0

    def next(self):
        if self.cursor == len(self.batches):
            raise StopIteration
        key, x, y = self.batches[self.cursor]
        self.cursor += 1
        return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)], pad=0, bucket_key=key,
                               provide_data=[mx.io.DataDesc("data", x.shape)],
                               provide_label=[mx.io.DataDesc("softmax_label", y.shape)])


def reference_training(data_iter, params, lr, momentum, wd, num_epoch):
    """Per-bucket Modules give the gradients; NumPy applies MXNet's SGD with momentum."""
    mods = {}
    w = {k: v.copy() for k, v in params.items()}
    mom = {k: np.zeros_like(v) for k, v in params.items()}
    for _epoch in range(num_epoch):
        data_iter.reset()
        for batch in data_iter:
            key = batch.bucket_key
            if key not in mods:
                sym, dn, ln = rnn_sym_gen(key)
                mods[key] = mx.mod.Module(sym, dn, ln)
                mods[key].bind(batch.provide_data, batch.provide_label)
                mods[key].init_params(arg_params={k: mx.nd.array(v) for k, v in w.items()})
            mod = mods[key]
            mod.set_params({k: mx.nd.array(v) for k, v in w.items()}, {})
            mod.forward_backward(batch)
            for name in w:
                grad = mod._exec.grad_arrays[name] / BATCH
                decay = wd if name.endswith("_weight") else 0.0      # MXNet's wd_mult
                mom[name] = momentum * mom[name] - lr * (grad + decay * w[name])
                w[name] = w[name] + mom[name]
    return w


def test_bucketing_fit_matches_shared_parameter_reference():
    keys = [3, 5, 3, 5, 5, 3]
    params = init_params()
    mod = mx.mod.BucketingModule(rnn_sym_gen, default_bucket_key=5)
    mod.fit(BucketIter(keys, 5), num_epoch=2, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3},
            arg_params={k: mx.nd.array(v) for k, v in params.items()}, eval_metric="acc",
            eval_data=BucketIter([4, 5], 5, seed=2))         # a bucket only scoring sees
    got, _ = mod.get_params()
    want = reference_training(BucketIter(keys, 5), params, 0.1, 0.9, 1e-3, 2)
    assert sorted(mod._buckets) == [3, 4, 5]
    for name in want:
        assert not np.allclose(want[name], params[name]), name     # training moved it
        np.testing.assert_allclose(got[name].asnumpy(), want[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_switch_bucket_reuses_modules_and_compiled_libraries():
    params = {k: mx.nd.array(v) for k, v in init_params().items()}
    mod = mx.mod.BucketingModule(rnn_sym_gen, default_bucket_key=4)
    mod.bind([("data", (BATCH, 4))], [("softmax_label", (BATCH,))])
    mod.init_params(arg_params=params)
    mod.switch_bucket(2, [("data", (BATCH, 2))], [("softmax_label", (BATCH,))])
    first = {k: m._exec for k, m in mod._buckets.items()}
    mod.switch_bucket(4, None)
    mod.switch_bucket(2, None)
    assert {k: m._exec for k, m in mod._buckets.items()} == first
    assert mod._curr_bucket_key == 2
    np.testing.assert_allclose(mod.get_params()[0]["h2h_weight"].asnumpy(),
                               params["h2h_weight"].asnumpy())
    # a second module over the same sym_gen finds both libraries in the build cache
    again = mx.mod.BucketingModule(rnn_sym_gen, default_bucket_key=4)
    again.bind([("data", (BATCH, 4))], [("softmax_label", (BATCH,))])
    again.init_params(arg_params=params)
    again.switch_bucket(2, [("data", (BATCH, 2))], [("softmax_label", (BATCH,))])
    for key in (2, 4):
        built = again._buckets[key]._exec.built
        assert not built.compiled, key
        assert built.key == first[key].built.key
    assert first[2].built.key != first[4].built.key


def test_bucketing_forward_outputs_match_single_modules_and_checkpoint(tmp_path):
    params = {k: mx.nd.array(v) for k, v in init_params(3).items()}
    mod = mx.mod.BucketingModule(rnn_sym_gen, default_bucket_key=4)
    mod.bind([("data", (BATCH, 4))], [("softmax_label", (BATCH,))], for_training=False)
    mod.init_params(arg_params=params)
    data_iter = BucketIter([2, 4, 3], 4, seed=5)
    for batch in data_iter:
        mod.forward(batch, is_train=False)
        sym, dn, ln = rnn_sym_gen(batch.bucket_key)
        single = mx.mod.Module(sym, dn, ln)
        single.bind(batch.provide_data, batch.provide_label, for_training=False)
        single.init_params(arg_params=params)
        single.forward(batch, is_train=False)
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                                   single.get_outputs()[0].asnumpy(), rtol=1e-5)
        assert mod.output_shapes == [("softmax_output", (BATCH, CLASSES))]
        assert mod.data_shapes[0].shape == (BATCH, batch.bucket_key)
    prefix = str(tmp_path / "rnn")
    mod.save_checkpoint(prefix, 3)
    assert (tmp_path / "rnn-2-symbol.json").exists() and (tmp_path / "rnn-0003.params").exists()
    loaded = mx.mod.BucketingModule.load(prefix, 3, sym_gen=rnn_sym_gen, default_bucket_key=4)
    loaded.bind([("data", (BATCH, 4))], [("softmax_label", (BATCH,))], for_training=False)
    for name, value in loaded.get_params()[0].items():
        np.testing.assert_array_equal(value.asnumpy(), params[name].asnumpy())
    with pytest.raises(MXNetError, match="sym_gen"):
        mx.mod.BucketingModule.load(prefix, 3, default_bucket_key=4)


# ---- SequentialModule ------------------------------------------------------------------------
def _mlp_parts():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=6, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    net1 = act
    data2 = mx.sym.Variable("data")
    fc2 = mx.sym.FullyConnected(data2, num_hidden=CLASSES, name="fc2")
    net2 = mx.sym.SoftmaxOutput(fc2, name="softmax")
    fused = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(act, num_hidden=CLASSES, name="fc2"),
                                 name="softmax")
    return net1, net2, fused


def _batch(seed=0, n=5, d=4):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, d).astype(np.float32)
    y = rng.randint(0, CLASSES, n).astype(np.float32)
    return x, y


def test_sequential_equals_fused_module_forward_backward_update():
    net1, net2, fused = _mlp_parts()
    x, y = _batch()
    shapes = dict(data=[("data", x.shape)], label=[("softmax_label", y.shape)])
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(net1, label_names=None)).add(mx.mod.Module(net2), take_labels=True,
                                                       auto_wiring=True)
    seq.bind(shapes["data"], shapes["label"])
    seq.init_params(initializer=mx.init.Xavier())
    arg, aux = seq.get_params()
    assert sorted(arg) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]
    one = mx.mod.Module(fused)
    one.bind(shapes["data"], shapes["label"])
    one.init_params(arg_params=arg, aux_params=aux)
    for mod in (seq, one):
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    for step in range(3):
        for mod in (seq, one):
            mod.forward(batch, is_train=True)
            mod.backward()
        np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(),
                                   one.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-6)
        for mod in (seq, one):
            mod.update()
    got, want = seq.get_params()[0], one.get_params()[0]
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    assert not np.allclose(want["fc1_weight"].asnumpy(), arg["fc1_weight"].asnumpy())
    assert seq.output_shapes == [("softmax_output", (5, CLASSES))]
    assert seq.label_shapes == shapes["label"] and seq.data_names == ["data"]
    metric = mx.metric.Accuracy()
    seq.update_metric(metric, [mx.nd.array(y)])
    assert metric.num_inst == 5


def test_sequential_rejects_unknown_option_and_wiring_mismatch():
    net1, _net2, _ = _mlp_parts()
    with pytest.raises(MXNetError, match="unknown option"):
        mx.mod.SequentialModule().add(mx.mod.Module(net1, label_names=None), take_label=True)
    with pytest.raises(MXNetError, match="data_names"):
        seq = mx.mod.SequentialModule()
        seq.add(mx.mod.Module(net1, label_names=None)).add(mx.mod.PythonLossModule())
        seq.bind([("data", (2, 4))], [("softmax_label", (2,))])


# ---- PythonLossModule: MXNet's multi-class hinge example --------------------------------------
def mc_hinge_grad(scores, labels):
    scores = scores.asnumpy()
    labels = labels.asnumpy().astype(int)
    grad = np.zeros_like(scores)
    for i in range(scores.shape[0]):
        margin = 1 + scores[i] - scores[i, labels[i]]
        margin[labels[i]] = 0
        worst = margin.argmax()
        grad[i, labels[i]] -= 1
        grad[i, worst] += 1
    return grad


def test_python_loss_module_drives_the_network_with_its_gradient():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=CLASSES, name="fc")
    x, y = _batch(2, n=6)
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(net, label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=mc_hinge_grad), take_labels=True,
            auto_wiring=True)
    seq.bind([("data", x.shape)], [("softmax_label", y.shape)])
    seq.init_params(initializer=mx.init.Uniform(0.3))
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.2})
    w0 = {k: v.asnumpy() for k, v in seq.get_params()[0].items()}
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    seq.forward(batch, is_train=True)
    scores = x @ w0["fc_weight"].T + w0["fc_bias"]
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), scores, rtol=1e-5, atol=1e-6)
    seq.backward()
    seq.update()
    # MXNet's chain: the loss gradient flows into fc as its output gradient
    g = mc_hinge_grad(mx.nd.array(scores), mx.nd.array(y))
    lr, rescale = 0.2, 1.0 / x.shape[0]
    want_w = w0["fc_weight"] - lr * rescale * (g.T @ x)
    want_b = w0["fc_bias"] - lr * rescale * g.sum(axis=0)
    got = seq.get_params()[0]
    np.testing.assert_allclose(got["fc_weight"].asnumpy(), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["fc_bias"].asnumpy(), want_b, rtol=1e-5, atol=1e-6)
    loss = seq._modules[-1]
    assert loss.output_shapes == [("pyloss_output", (6, CLASSES))]
    np.testing.assert_array_equal(loss.get_input_grads()[0].asnumpy(), g)
    with pytest.raises(MXNetError, match="out_grads"):
        loss.backward(out_grads=[mx.nd.array(g)])


# ---- BaseModule helpers on Module -----------------------------------------------------------
def _trained_module():
    _net1, _net2, fused = _mlp_parts()
    mod = mx.mod.Module(fused)
    mod.bind([("data", (5, 4))], [("softmax_label", (5,))], for_training=False)
    mod.init_params(initializer=mx.init.Xavier())
    return mod


def test_iter_predict_matches_numpy_and_drops_padding():
    mod = _trained_module()
    x = np.random.RandomState(7).randn(12, 4).astype(np.float32)
    it = mx.io.NDArrayIter(x, batch_size=5, last_batch_handle="pad")
    arg = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    hidden = np.maximum(x @ arg["fc1_weight"].T + arg["fc1_bias"], 0)
    logits = hidden @ arg["fc2_weight"].T + arg["fc2_bias"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    rows = []
    for outputs, nbatch, batch in mod.iter_predict(it):
        assert outputs[0].shape[0] == 5 - (batch.pad or 0)
        rows.append(outputs[0].asnumpy())
    assert nbatch == 2 and sum(len(r) for r in rows) == 12
    np.testing.assert_allclose(np.concatenate(rows), probs, rtol=1e-5, atol=1e-6)


def test_save_params_load_params_round_trip(tmp_path):
    mod = _trained_module()
    fname = str(tmp_path / "mlp.params")
    mod.save_params(fname)
    other = _trained_module()          # different random initialisation
    other.load_params(fname)
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(other.get_params()[0][name].asnumpy(), value.asnumpy())
    saved = mx.nd.load(fname)
    assert sorted(saved) == ["arg:fc1_bias", "arg:fc1_weight", "arg:fc2_bias", "arg:fc2_weight"]
    seq = mx.mod.SequentialModule()
    net1, net2, _ = _mlp_parts()
    seq.add(mx.mod.Module(net1, label_names=None)).add(mx.mod.Module(net2), take_labels=True,
                                                       auto_wiring=True)
    seq.bind([("data", (5, 4))], [("softmax_label", (5,))], for_training=False)
    seq.init_params(initializer=mx.init.Zero())
    seq.load_params(fname)
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(seq.get_params()[0][name].asnumpy(), value.asnumpy())


def test_set_params_allow_missing_and_allow_extra():
    mod = _trained_module()
    arg, _aux = mod.get_params()
    partial = {"fc1_weight": mx.nd.array(np.ones((6, 4), np.float32))}
    with pytest.raises(RuntimeError, match="is not presented"):
        mod.set_params(partial, {})
    mod.set_params(partial, {}, allow_missing=True)
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(), 1)
    np.testing.assert_array_equal(mod.get_params()[0]["fc2_weight"].asnumpy(),
                                  arg["fc2_weight"].asnumpy())
    extra = dict(arg, bogus_weight=mx.nd.array(np.zeros(2, np.float32)))
    with pytest.raises(ValueError, match="bogus_weight"):
        mod.set_params(extra, {}, allow_missing=True)
    mod.set_params(extra, {}, allow_missing=True, allow_extra=True)


def test_get_input_grads_of_a_module_and_the_base_class_contract():
    _net1, _net2, fused = _mlp_parts()
    mod = mx.mod.Module(fused)
    mod.bind([("data", (5, 4))], [("softmax_label", (5,))], inputs_need_grad=True)
    mod.init_params(initializer=mx.init.Xavier())
    x, y = _batch(4)
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    arg = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    probs = mod.get_outputs()[0].asnumpy()
    dlogits = probs - np.eye(CLASSES, dtype=np.float32)[y.astype(int)]
    hidden_pre = x @ arg["fc1_weight"].T + arg["fc1_bias"]
    dx = ((dlogits @ arg["fc2_weight"]) * (hidden_pre > 0)) @ arg["fc1_weight"]
    np.testing.assert_allclose(mod.get_input_grads()[0].asnumpy(), dx, rtol=1e-4, atol=1e-6)
    assert mod.output_names == ["softmax_output"] and mod.symbol is fused
    with pytest.raises(NotImplementedError, match="forward"):
        mx.module.BaseModule().forward(None)


# ---- the import paths MXNet scripts use, and DataParallelExecutorGroup ------------------------
def test_mxnet_import_paths():
    from mxc.module.base_module import BaseModule
    from mxc.module.bucketing_module import BucketingModule
    from mxc.module.executor_group import DataParallelExecutorGroup
    from mxc.module.module import Module
    from mxc.module.python_module import PythonLossModule
    from mxc.module.sequential_module import SequentialModule
    assert mx.mod.Module is mx.module.Module is Module
    assert mx.module.BaseModule is BaseModule and issubclass(Module, BaseModule)
    for cls in (BucketingModule, SequentialModule, PythonLossModule):
        assert issubclass(cls, BaseModule) and getattr(mx.mod, cls.__name__) is cls
    assert mx.mod.DataParallelExecutorGroup is DataParallelExecutorGroup


def test_executor_group_arrays_are_the_compiled_parameters():
    from mxc.module.executor_group import DataParallelExecutorGroup
    _net1, _net2, fused = _mlp_parts()
    x, y = _batch(6)
    names = ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"]
    group = DataParallelExecutorGroup(fused, [mx.cpu()], None, [("data", x.shape)],
                                      [("softmax_label", y.shape)], names, True, False)
    mod = _trained_module()
    arg, aux = mod.get_params()
    group.set_params(arg, aux)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    group.forward(batch, is_train=False)
    mod.forward(batch, is_train=False)
    np.testing.assert_allclose(group.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-6)
    assert group.batch_size == 5 and group.get_output_shapes() == mod.output_shapes
    # param_arrays[i][0] is a view of parameter i inside the compiled executor
    group.param_arrays[names.index("fc2_bias")][0][:] = 0
    group.forward(batch, is_train=True)
    group.backward()
    got_arg, got_aux = {}, {}
    group.get_params(got_arg, got_aux)
    np.testing.assert_array_equal(got_arg["fc2_bias"].asnumpy(), 0)
    probs = group.get_outputs()[0].asnumpy()
    dlogits = probs - np.eye(CLASSES, dtype=np.float32)[y.astype(int)]
    np.testing.assert_allclose(group.grad_arrays[names.index("fc2_bias")][0].asnumpy(),
                               dlogits.sum(0), rtol=1e-5, atol=1e-6)
    two = DataParallelExecutorGroup(fused, [mx.cpu(0), mx.cpu(1)], None, [("data", x.shape)],
                                    [("softmax_label", y.shape)], names, False, False)
    two.set_params(arg, aux)
    two.forward(batch, is_train=False)          # one executor per context, outputs merged
    assert len(two.execs) == 2 and two.slices == [slice(0, 2), slice(2, 5)]
    np.testing.assert_allclose(two.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-6)


def _two_module_chain(loss):
    data = mx.sym.Variable("data")
    act = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=6, name="fc1"),
                            act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=CLASSES, name="fc2")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(act, label_names=[]))
    if loss == "softmax":
        seq.add(mx.mod.Module(mx.sym.SoftmaxOutput(fc2, name="softmax")), take_labels=True,
                auto_wiring=True)
    else:
        seq.add(mx.mod.Module(fc2, label_names=None), auto_wiring=True)
        seq.add(mx.mod.PythonLossModule(grad_func=mc_hinge_grad), take_labels=True,
                auto_wiring=True)
    return seq


def _blobs(n=60, seed=11):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, CLASSES, n)
    x = (rng.randn(n, 4) + 2.5 * np.eye(CLASSES, 4)[y]).astype(np.float32)
    return x, y.astype(np.float32)


def test_sequential_fit_equals_fused_module_fit_and_python_loss_learns():
    x, y = _blobs()
    _net1, _net2, fused = _mlp_parts()
    opt = {"learning_rate": 0.1, "momentum": 0.9}
    init = {k: v for k, v in _trained_module().get_params()[0].items()}
    one = mx.mod.Module(fused)
    one.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=3, optimizer_params=opt,
            arg_params=init)
    seq = _two_module_chain("softmax")
    seq.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=3, optimizer_params=opt,
            arg_params=init, eval_data=mx.io.NDArrayIter(x, y, batch_size=10))
    for name, value in one.get_params()[0].items():
        np.testing.assert_allclose(seq.get_params()[0][name].asnumpy(), value.asnumpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    want = one.score(mx.io.NDArrayIter(x, y, batch_size=10), "acc")
    assert seq.score(mx.io.NDArrayIter(x, y, batch_size=10), "acc") == want
    hinge = _two_module_chain("hinge")
    hinge.fit(mx.io.NDArrayIter(x, y, batch_size=10), num_epoch=4, optimizer_params=opt,
              arg_params=init, allow_missing=True, initializer=mx.init.Xavier())
    ((_, acc),) = hinge.score(mx.io.NDArrayIter(x, y, batch_size=10), "acc")
    assert acc > 0.9
    scores = hinge.predict(mx.io.NDArrayIter(x, y, batch_size=10)).asnumpy()
    assert scores.shape == (60, CLASSES) and np.mean(scores.argmax(1) == y) == acc


def test_bucketing_grad_req_add_accumulates_across_buckets():
    def sym_gen(key):
        data = mx.sym.Variable('data')
        weight = mx.sym.Variable('a', shape=(1,), init=mx.init.One())
        return mx.sym.make_loss(mx.sym.broadcast_mul(data, weight) * key), ('data',), None

    def step(mod, key, x):
        mod.forward_backward(mx.io.DataBatch(
            data=[mx.nd.array(x)], label=None, bucket_key=key,
            provide_data=[mx.io.DataDesc('data', x.shape)]))
        return mod._curr_module._exec_group.execs[0].grad_dict['a'].asnumpy()[0]

    x = np.array([1.0, 2.0, 3.0])
    for req, want in (('write', [6 * 10, 6 * 5]), ('add', [6 * 10, 6 * 10 + 6 * 5])):
        mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10)
        mod.bind(data_shapes=[('data', (3,))], for_training=True, grad_req=req)
        mod.init_params()
        got = [step(mod, 10, x), step(mod, 5, x)]
        np.testing.assert_allclose(got, want)
        assert mod._curr_module._grad_req == req        # kept as given, as MXNet keeps it
