"""Each op's forward and gradients on the GPU match the CPU build (1e-4)."""
import numpy as np
import pytest

import mxc as mx


def _bind_pair(sym, shapes, label_shapes, seed, for_training=True):
    rng = np.random.RandomState(seed)
    mods = []
    for ctx in (mx.cpu(), mx.gpu()):
        m = mx.mod.Module(sym, context=ctx, data_names=[n for n, _ in shapes],
                          label_names=[n for n, _ in label_shapes])
        m.bind(shapes, label_shapes or None, for_training=for_training,
               inputs_need_grad=for_training)
        mods.append(m)
    m.init_params(mx.init.Uniform(0.5))
    arg, aux = m.get_params()
    arg = {k: mx.nd.array(rng.uniform(-0.5, 0.5, v.shape)) for k, v in arg.items()}
    aux = {k: mx.nd.array(rng.uniform(0.5, 1.5, v.shape)) for k, v in aux.items()}
    for m in mods:
        m.init_params(arg_params=arg, aux_params=aux, force_init=True)
    return mods


def _compare(sym, shapes, label_shapes=(), labels=None, seed=0, is_train=True):
    rng = np.random.RandomState(seed + 1)
    cpu, gpu = _bind_pair(sym, list(shapes), list(label_shapes), seed, for_training=is_train)
    data = [mx.nd.array(rng.uniform(-1, 1, s)) for _, s in shapes]
    label = [mx.nd.array(l) for l in (labels or [])]
    batch = mx.io.DataBatch(data, label)
    outs = []
    for m in (cpu, gpu):
        m.forward(batch, is_train=is_train)
        res = [o.asnumpy().copy() for o in m.get_outputs()]
        if is_train:
            m.backward()
            res += [g.asnumpy().copy() for g in m.get_input_grads()]
            res += [m._exec.grad_arrays[n].copy() for n in sorted(m._exec.grad_arrays)]
        outs.append(res)
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
def test_mlp_activations(act):
    x = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(x, num_hidden=37, name="fc1")
    net = mx.sym.Activation(net, act_type=act, name="act")
    net = mx.sym.FullyConnected(net, num_hidden=11, name="fc2")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    labels = [np.random.RandomState(3).randint(0, 11, 70)]
    _compare(net, [("data", (70, 19))], [("softmax_label", (70,))], labels)


@pytest.mark.parametrize("kw", [dict(normalization="valid", use_ignore=True, ignore_label=2),
                                dict(normalization="batch", grad_scale=0.5),
                                dict(smooth_alpha=0.1), dict(multi_output=True)])
def test_softmax_output_variants(kw):
    x = mx.sym.Variable("data")
    if kw.get("multi_output"):
        net = mx.sym.SoftmaxOutput(x, name="softmax", **kw)
        shape, lshape = (4, 5, 3), (4, 3)
        label = np.random.RandomState(1).randint(0, 5, lshape)
    else:
        net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=7, name="fc"),
                                   name="softmax", **kw)
        shape, lshape = (33, 6), (33,)
        label = np.random.RandomState(1).randint(0, 7, lshape)
    _compare(net, [("data", shape)], [("softmax_label", lshape)], [label])


def test_bad_label_fails_naming_node():
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=3, name="fc"), name="sm")
    m = mx.mod.Module(net, context=mx.gpu(), label_names=["sm_label"])
    m.bind([("data", (4, 2))], [("sm_label", (4,))])
    m.init_params()
    m.forward(mx.io.DataBatch([mx.nd.ones((4, 2))], [mx.nd.array([0, 1, 7, 2])]))
    with pytest.raises(mx.base.MXNetError, match="'sm'.*label 7"):
        m.backward()


def test_layers_run_on_gpu():
    """Convolution, BatchNorm, Pooling, Flatten, elementwise: the ops without CUDA templates
    run the C kernels on the device and still match the CPU."""
    x = mx.sym.Variable("data")
    net = mx.sym.Convolution(x, kernel=(3, 3), num_filter=3, pad=(1, 1), name="conv")
    net = mx.sym.BatchNorm(net, name="bn")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max")
    net = mx.sym.Flatten(net)
    net = mx.sym.exp(net * 0.5) + mx.sym.tanh(net)
    net = mx.sym.FullyConnected(net, num_hidden=4, name="fc")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    labels = [np.array([0, 1, 2, 3])]
    _compare(net, [("data", (4, 2, 6, 6))], [("softmax_label", (4,))], labels)


def test_dropout_inference_is_identity():
    x = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(mx.sym.Dropout(x, p=0.5), num_hidden=3, name="fc")
    _compare(net, [("data", (5, 4))], is_train=False)


@pytest.mark.parametrize("opt,params", [("sgd", {"learning_rate": 0.1, "wd": 0.01}),
                                        ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
                                        ("adam", {"learning_rate": 0.01})])
def test_optimizer_steps_match_cpu(opt, params):
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=5, name="fc"),
                               name="softmax")
    rng = np.random.RandomState(0)
    xs, ys = rng.uniform(-1, 1, (64, 8)).astype(np.float32), rng.randint(0, 5, 64)
    cpu, gpu = _bind_pair(net, [("data", (16, 8))], [("softmax_label", (16,))], 0)
    for m in (cpu, gpu):
        m.init_optimizer(optimizer=opt, optimizer_params=params)
        it = mx.io.NDArrayIter(xs, ys, 16)
        for batch in it:
            m.forward_backward(batch)
            m.update()
    a, b = cpu.get_params()[0], gpu.get_params()[0]
    for k in a:
        np.testing.assert_allclose(b[k].asnumpy(), a[k].asnumpy(), rtol=1e-4, atol=1e-5)
