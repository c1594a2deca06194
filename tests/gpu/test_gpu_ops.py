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


def _compare(sym, shapes, label_shapes=(), labels=None, seed=0, is_train=True, values=None):
    rng = np.random.RandomState(seed + 1)
    cpu, gpu = _bind_pair(sym, list(shapes), list(label_shapes), seed, for_training=is_train)
    data = [mx.nd.array((values or {}).get(n, rng.uniform(-1, 1, s))) for n, s in shapes]
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
            res += [v.asnumpy().copy() for _, v in sorted(m.get_params()[1].items())]
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
    """Convolution, BatchNorm, Pooling, Flatten, elementwise ops in one network."""
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


def _head(net, nclass=4):
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=nclass,
                                                      name="fc_head"), name="softmax")


def _labels(n, nclass=4):
    return [np.random.RandomState(5).randint(0, nclass, n)]


@pytest.mark.parametrize("shape,kw", [
    ((3, 4, 9, 9), dict(kernel=(3, 3), num_filter=6, stride=(2, 2), pad=(1, 1), num_group=2)),
    ((3, 4, 9, 9), dict(kernel=(3, 3), num_filter=5, dilate=(2, 2), pad=(2, 2), no_bias=True)),
    ((3, 4, 6, 6), dict(kernel=(1, 1), num_filter=7)),
    ((3, 3, 20), dict(kernel=(5,), num_filter=4, stride=(3,), pad=(2,))),
    ((2, 2, 5, 6, 6), dict(kernel=(2, 3, 3), num_filter=3, pad=(1, 1, 1), stride=(1, 2, 2))),
])
def test_convolution_variants(shape, kw):
    net = _head(mx.sym.Convolution(mx.sym.Variable("data"), name="conv", **kw))
    _compare(net, [("data", shape)], [("softmax_label", (shape[0],))], _labels(shape[0]))


@pytest.mark.parametrize("shape,kw", [
    ((3, 2, 9, 9), dict(kernel=(3, 3), stride=(2, 2), pool_type="max")),
    ((3, 2, 9, 9), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg")),
    ((3, 2, 9, 9), dict(kernel=(2, 2), stride=(2, 2), pool_type="avg",
                        pooling_convention="full", count_include_pad=False)),
    ((3, 2, 8, 8), dict(kernel=(3, 3), stride=(1, 1), pool_type="sum", pad=(1, 1))),
    ((3, 2, 8, 8), dict(kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=2)),
    ((3, 2, 8, 8), dict(kernel=(1, 1), global_pool=True, pool_type="max")),
    ((3, 2, 15), dict(kernel=(3,), stride=(2,), pool_type="max")),
    ((2, 2, 4, 6, 6), dict(kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="avg")),
])
def test_pooling_variants(shape, kw):
    net = _head(mx.sym.Pooling(mx.sym.Variable("data"), name="pool", **kw))
    _compare(net, [("data", shape)], [("softmax_label", (shape[0],))], _labels(shape[0]))


@pytest.mark.parametrize("kw", [dict(), dict(fix_gamma=False), dict(use_global_stats=True),
                                dict(fix_gamma=False, axis=-1, momentum=0.7)])
def test_batchnorm_variants_and_moving_stats(kw):
    """Outputs, gradients and the moving statistics after backward match the CPU."""
    net = _head(mx.sym.BatchNorm(mx.sym.Variable("data"), name="bn", **kw))
    _compare(net, [("data", (6, 5, 4, 3))], [("softmax_label", (6,))], _labels(6))


def test_tensor_ops():
    x = mx.sym.Variable("data")
    a = mx.sym.Reshape(x, shape=(0, 2, -1))
    parts = [mx.sym.exp(a), mx.sym.sqrt(mx.sym.abs(a) + 1), mx.sym.clip(a, a_min=-0.5, a_max=0.5),
             mx.sym.relu(a) * 2.0, 1.0 - mx.sym.square(a), mx.sym.sigmoid(a) / 3.0,
             mx.sym.log(mx.sym.abs(a) + 1) ** 2.0, 2.0 ** mx.sym.tanh(a),
             mx.sym.broadcast_mul(a, mx.sym.sum(a, axis=2, keepdims=True)),
             mx.sym.broadcast_add(a, mx.sym.Variable("bias_row")),
             mx.sym.elemwise_add(a, a) - mx.sym.negative(a) / (mx.sym.abs(a) + 2),
             mx.sym.broadcast_sub(a, mx.sym.max(a, axis=(0, 2), keepdims=True)),
             mx.sym.broadcast_add(a, mx.sym.min(a, axis=1, exclude=True, keepdims=True))]
    b = mx.sym.Concat(*parts, dim=1)
    b = mx.sym.broadcast_maximum(b, mx.sym.expand_dims(mx.sym.mean(b, axis=1), axis=1))
    _compare(_head(b), [("data", (4, 6)), ("bias_row", (1, 1, 3))],
             [("softmax_label", (4,))], _labels(4))


@pytest.mark.parametrize("axes", [(), (1,)])
def test_dropout_mask_statistics_and_backward(axes):
    """The device generator drops about p of the elements (or whole shared slices), scales the
    rest by 1/(1-p), and backward multiplies the head gradient by the same mask."""
    p, shape = 0.3, (64, 8, 256)
    net = mx.sym.Dropout(mx.sym.Variable("data"), p=p, axes=axes, name="drop")
    m = mx.mod.Module(net, context=mx.gpu(), label_names=None)
    m.bind([("data", shape)], None, for_training=True, inputs_need_grad=True)
    m.init_params()
    rng = np.random.RandomState(0)
    x = rng.uniform(1, 2, shape).astype(np.float32)
    g = rng.uniform(-1, 1, shape).astype(np.float32)
    masks = []
    for _ in range(2):
        m.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=True)
        y = m.get_outputs()[0].asnumpy()
        mask = y / x
        kept = mask > 0
        np.testing.assert_allclose(mask[kept], 1 / (1 - p), rtol=1e-5)
        assert abs(1 - kept.mean() - p) < 0.02, kept.mean()
        if axes:
            assert (kept == kept[:, :1, :]).all()            # shared along axis 1
        m.backward([mx.nd.array(g)])
        np.testing.assert_allclose(m.get_input_grads()[0].asnumpy(), g * mask, rtol=1e-5,
                                   atol=1e-6)
        masks.append(kept)
    assert (masks[0] != masks[1]).any()                      # a new mask every forward
    m.forward(mx.io.DataBatch([mx.nd.array(x)], None), is_train=False)
    np.testing.assert_array_equal(m.get_outputs()[0].asnumpy(), x)


def test_predict_downloads_only_outputs():
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=10, name="fc"),
                               name="softmax")
    data = np.random.RandomState(0).uniform(-1, 1, (256, 32)).astype(np.float32)
    preds = []
    for ctx in (mx.cpu(), mx.gpu()):
        m = mx.mod.Module(net, context=ctx)
        m.bind([("data", (64, 32))], [("softmax_label", (64,))], for_training=False)
        mx.random.seed(1)
        m.init_params(mx.init.Uniform(0.3))
        if ctx.device_type == "gpu":
            m.set_params(*cpu_params)
            m._exec.downloaded = 0
        else:
            cpu_params = m.get_params()
        preds.append(m.predict(mx.io.NDArrayIter(data, None, 64)).asnumpy())
        if ctx.device_type == "gpu":
            assert m._exec.downloaded <= 4 * 64 * 10, m._exec.downloaded
    np.testing.assert_allclose(preds[1], preds[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("act", ["leaky", "elu", "selu", "gelu", "prelu"])
def test_leaky_relu_variants(act):
    x = mx.sym.Reshape(mx.sym.Variable("data"), shape=(6, 3, 4))
    net = _head(mx.sym.LeakyReLU(x, act_type=act, slope=0.2, name="lr"))
    _compare(net, [("data", (6, 12))], [("softmax_label", (6,))], _labels(6))


def test_rrelu_inference_uses_the_mean_slope():
    net = mx.sym.LeakyReLU(mx.sym.Variable("data"), act_type="rrelu", name="lr")
    _compare(net, [("data", (6, 12))], is_train=False)


def test_softmax_family_and_embedding():
    x = mx.sym.Reshape(mx.sym.Variable("data"), shape=(5, 3, 4))
    idx = mx.sym.Variable("idx")
    emb = mx.sym.Flatten(mx.sym.Embedding(idx, input_dim=7, output_dim=4, name="emb"))
    h = mx.sym.softmax(x, axis=1, temperature=2.0) + mx.sym.log_softmax(x, axis=-1) + \
        mx.sym.SoftmaxActivation(x, mode="channel")
    h = mx.sym.Concat(mx.sym.Flatten(h), emb, dim=1)
    h = h + mx.sym.BlockGrad(h * 0.5)
    idx_values = np.random.RandomState(2).randint(-1, 9, (5, 3)).astype(np.float32)
    _compare(_head(h), [("data", (5, 12)), ("idx", (5, 3))], [("softmax_label", (5,))],
             _labels(5), values={"idx": idx_values})


@pytest.mark.parametrize("head", ["LinearRegressionOutput", "LogisticRegressionOutput",
                                  "MAERegressionOutput"])
def test_regression_heads(head):
    x = mx.sym.Variable("data")
    net = getattr(mx.sym, head)(mx.sym.FullyConnected(x, num_hidden=3, name="fc"), name="reg")
    label = np.random.RandomState(4).uniform(0, 1, (8, 3))
    _compare(net, [("data", (8, 5))], [("reg_label", (8, 3))], [label])


def test_matrix_and_slicing_ops():
    x = mx.sym.Reshape(mx.sym.Variable("data"), shape=(4, 3, 5))
    parts = mx.sym.SliceChannel(x, num_outputs=3, axis=1, name="split")
    mats = [mx.sym.batch_dot(x, mx.sym.transpose(x, axes=(0, 2, 1))),
            mx.sym.batch_dot(x, x, transpose_a=True),
            mx.sym.dot(mx.sym.Flatten(parts[0]), mx.sym.Flatten(parts[2]), transpose_b=True),
            mx.sym.dot(mx.sym.Flatten(parts[1]), mx.sym.Variable("w"), name="dot_w"),
            mx.sym.slice_axis(x, axis=2, begin=1, end=4)]
    h = mx.sym.Concat(*[mx.sym.Flatten(t) for t in mats], dim=1)
    _compare(_head(h), [("data", (4, 15)), ("w", (5, 6))], [("softmax_label", (4,))],
             _labels(4))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_and_make_loss(mode):
    x = mx.sym.Variable("data")
    net = mx.sym.Pad(x, mode=mode, constant_value=0.5, pad_width=(0, 0, 0, 0, 1, 2, 2, 1))
    net = mx.sym.MakeLoss(mx.sym.Convolution(net, kernel=(2, 2), num_filter=2, name="c"),
                          normalization="valid", grad_scale=0.7)
    _compare(net, [("data", (3, 2, 5, 6))])


@pytest.mark.parametrize("linear", [False, True])
def test_svm_output_and_one_hot(linear):
    x = mx.sym.Variable("data")
    idx = mx.sym.Variable("idx")
    h = mx.sym.Concat(x, mx.sym.one_hot(idx, depth=4), dim=1)
    net = mx.sym.SVMOutput(mx.sym.FullyConnected(h, num_hidden=5, name="fc"), name="svm",
                           use_linear=linear, margin=0.8, regularization_coefficient=0.5)
    label = np.random.RandomState(3).randint(0, 5, 6)
    idx_values = np.random.RandomState(4).randint(-1, 5, 6).astype(np.float32)
    _compare(net, [("data", (6, 3)), ("idx", (6,))], [("svm_label", (6,))], [label],
             values={"idx": idx_values})
