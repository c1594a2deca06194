"""Module on mx.gpu(): the tutorial trains to the CPU's accuracy; params, checkpoints and
predict move between host and device transparently."""
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


def _fit(ctx, data, label):
    mx.random.seed(0)
    ntrain = int(data.shape[0] * 0.8)
    train_iter = mx.io.NDArrayIter(data[:ntrain], label[:ntrain], 32, shuffle=True)
    val_iter = mx.io.NDArrayIter(data[ntrain:], label[ntrain:], 32)
    mod = mx.mod.Module(tutorial_net(), context=ctx)
    mod.fit(train_iter, eval_data=val_iter, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1}, eval_metric="acc", num_epoch=8)
    return mod, val_iter, dict(mod.score(val_iter, "acc"))["accuracy"]


def test_tutorial_on_gpu_matches_cpu(letters, tmp_path):
    data, label = letters
    cpu_mod, _, cpu_acc = _fit(mx.cpu(), data, label)
    gpu_mod, val_iter, gpu_acc = _fit(mx.gpu(), data, label)
    print("tutorial validation accuracy: cpu %.4f gpu %.4f" % (cpu_acc, gpu_acc))
    assert gpu_acc >= 0.75
    assert abs(gpu_acc - cpu_acc) < 0.02
    # (the weights themselves drift apart over 8 epochs: summation order differs; single
    # steps are compared in test_gpu_ops.test_optimizer_steps_match_cpu)
    a, b = cpu_mod.get_params()[0], gpu_mod.get_params()[0]
    assert sorted(a) == sorted(b)
    for k in a:
        assert isinstance(b[k].asnumpy(), np.ndarray) and b[k].shape == a[k].shape
    y = gpu_mod.predict(val_iter)
    assert isinstance(y.asnumpy(), np.ndarray) and y.shape == (4000, 26)
    np.testing.assert_allclose(y.asnumpy().sum(axis=1), 1, rtol=1e-5)

    # checkpoint on the GPU, load on the CPU and on the GPU: the same predictions
    prefix = str(tmp_path / "gpu_mlp")
    gpu_mod.save_checkpoint(prefix, 8, save_optimizer_states=True)
    for ctx in (mx.cpu(), mx.gpu()):
        m = mx.mod.Module.load(prefix, 8, context=ctx)
        m.bind(data_shapes=val_iter.provide_data, label_shapes=val_iter.provide_label,
               for_training=False)
        np.testing.assert_allclose(m.predict(val_iter).asnumpy(), y.asnumpy(),
                                   rtol=1e-4, atol=1e-6)


def test_set_params_then_get_params_round_trip():
    mod = mx.mod.Module(tutorial_net(), context=mx.gpu())
    mod.bind([("data", (8, 16))], [("softmax_label", (8,))])
    mod.init_params()
    rng = np.random.RandomState(0)
    arg = {k: mx.nd.array(rng.normal(size=v.shape)) for k, v in mod.get_params()[0].items()}
    mod.set_params(arg, {})
    got = mod.get_params()[0]
    for k in arg:
        np.testing.assert_array_equal(got[k].asnumpy(), arg[k].asnumpy())
    # a forward after set_params uses the new weights (checked against NumPy)
    x = rng.uniform(-1, 1, (8, 16)).astype(np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((8,))]), is_train=False)
    a = arg
    h = np.maximum(x @ a["fc1_weight"].asnumpy().T + a["fc1_bias"].asnumpy(), 0)
    z = h @ a["fc2_weight"].asnumpy().T + a["fc2_bias"].asnumpy()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), p, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("prefix,epoch", [("lenet", 1), ("bn_mlp", 1), ("mx_mlp", 3)])
def test_mxnet_checkpoints_predict_on_gpu(shared_dir, prefix, epoch):
    """Real MXNet checkpoints (LeNet: Convolution/Pooling; BatchNorm/Dropout MLP) predict on the
    GPU what MXNet predicted."""
    base = shared_dir / "mxnet"
    sym, arg, aux = mx.model.load_checkpoint(str(base / prefix), epoch)
    x = np.load(base / ("%s_input.npy" % prefix))
    want = np.load(base / ("%s_pred.npy" % prefix))
    mod = mx.mod.Module(sym, context=mx.gpu(), data_names=["data"],
                        label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", x.shape)], for_training=False)
    mod.set_params(arg, aux)
    got = mod.predict(mx.io.NDArrayIter(x, batch_size=x.shape[0])).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
