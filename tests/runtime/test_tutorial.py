"""MXNet's Module tutorial end to end on the real UCI letters file."""
import logging

import numpy as np
import pytest

import mxc as mx


@pytest.fixture(scope="module")
def letters(shared_dir):
    fname = shared_dir / "data" / "letter-recognition.data"
    data = np.genfromtxt(str(fname), delimiter=",")[:, 1:]
    with open(fname) as f:
        label = np.array([ord(line.split(",")[0]) - ord("A") for line in f])
    return data, label


def tutorial_net():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=64)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=26)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def test_module_tutorial(letters, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    data, label = letters
    mx.random.seed(0)
    batch_size = 32
    ntrain = int(data.shape[0] * 0.8)
    train_iter = mx.io.NDArrayIter(data[:ntrain, :], label[:ntrain], batch_size, shuffle=True)
    val_iter = mx.io.NDArrayIter(data[ntrain:, :], label[ntrain:], batch_size)
    net = tutorial_net()
    mod = mx.mod.Module(symbol=net, context=mx.cpu(), data_names=["data"],
                        label_names=["softmax_label"])
    mod.fit(train_iter, eval_data=val_iter, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1}, eval_metric="acc", num_epoch=8)
    log = caplog.text
    for line in ("Epoch[0] Train-accuracy=", "Epoch[0] Time cost=",
                 "Epoch[7] Validation-accuracy="):
        assert line in log
    assert "compiled" in log or "cached" in log
    y = mod.predict(val_iter)
    assert y.shape == (4000, 26)
    np.testing.assert_allclose(y.asnumpy().sum(axis=1), 1, rtol=1e-5)
    score = dict(mod.score(val_iter, ["mse", "acc"]))
    assert set(score) == {"mse", "accuracy"}
    assert score["accuracy"] >= 0.75
    pred_acc = (y.asnumpy().argmax(axis=1) == label[ntrain:]).mean()
    assert abs(pred_acc - score["accuracy"]) < 1e-9      # 4000 rows: no padding here

    # checkpoints, load, resume
    prefix = str(tmp_path / "mx_mlp")
    mod = mx.mod.Module(symbol=net)
    mod.fit(train_iter, num_epoch=5, epoch_end_callback=mx.callback.do_checkpoint(prefix))
    for epoch in range(1, 6):
        assert (tmp_path / ("mx_mlp-%04d.params" % epoch)).exists()
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 3)
    assert sym.tojson() == net.tojson()
    mod.set_params(arg_params, aux_params)
    got, _ = mod.get_params()
    for k in arg_params:
        np.testing.assert_array_equal(got[k].asnumpy(), arg_params[k].asnumpy())
    mod = mx.mod.Module(symbol=sym)
    mod.fit(train_iter, num_epoch=21, arg_params=arg_params, aux_params=aux_params,
            begin_epoch=3)
    resumed = dict(mod.score(val_iter, ["acc"]))["accuracy"]
    assert resumed >= 0.74

    # intermediate level
    mod = mx.mod.Module(symbol=net)
    mod.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    assert repr(mod.data_shapes) == \
        "[DataDesc[data,(32, 16),<class 'numpy.float32'>,NCHW]]"
    assert mod.output_shapes == [("softmax_output", (32, 26))]
    mod.init_params(initializer=mx.init.Uniform(scale=.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.1),))
    metric = mx.metric.create("acc")
    for epoch in range(5):
        train_iter.reset()
        metric.reset()
        for batch in train_iter:
            mod.forward(batch, is_train=True)
            mod.update_metric(metric, batch.label)
            mod.backward()
            mod.update()
        name, value = metric.get()
        assert name == "accuracy"
    assert value > 0.7
    assert dict(mod.score(val_iter, ["acc"]))["accuracy"] >= 0.74


def test_forward_matches_numpy_and_sgd_step_matches_formula(letters):
    """One intermediate-level step against a NumPy transcription of MXNet's rules."""
    data, label = letters
    net = tutorial_net()
    mod = mx.mod.Module(net)
    it = mx.io.NDArrayIter(data[:64], label[:64], 32)
    mod.bind(it.provide_data, it.provide_label)
    mx.random.seed(1)
    mod.init_params(mx.init.Uniform(0.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5, "wd": 0.01,
                                                          "momentum": 0.9})
    arg, _ = mod.get_params()
    p = {k: v.asnumpy().astype(np.float64) for k, v in arg.items()}
    batch = next(iter(it))
    x, y = batch.data[0].asnumpy(), batch.label[0].asnumpy().astype(int)
    h = np.maximum(x @ p["fc1_weight"].T + p["fc1_bias"], 0)
    z = h @ p["fc2_weight"].T + p["fc2_bias"]
    e = np.exp(z - z.max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    mod.forward(batch, is_train=True)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-6)
    mod.backward()
    mod.update()
    dz = prob - np.eye(26)[y]
    dh = (dz @ p["fc2_weight"]) * (h > 0)
    grads = {"fc2_weight": dz.T @ h, "fc2_bias": dz.sum(0), "fc1_weight": dh.T @ x,
             "fc1_bias": dh.sum(0)}
    new, _ = mod.get_params()
    for k, g in grads.items():
        wd = 0.01 if k.endswith("_weight") else 0.0          # no weight decay on biases
        mom = -0.5 * wd * p[k] - 0.5 * (g / 32)
        np.testing.assert_allclose(new[k].asnumpy(), p[k] + mom, rtol=1e-4, atol=1e-6,
                                   err_msg=k)
