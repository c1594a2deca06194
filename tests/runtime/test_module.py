"""Module features beyond plain fit: optimizer states, resume, gradients, reshape, monitor."""
import logging
import pickle

import numpy as np
import pytest

import mxc as mx
from mxc import states_format
from mxc.base import MXNetError

BATCH = 8


def mlp(num_hidden=6, num_classes=3, **fc1_attrs):
    data = mx.sym.Variable('data')
    w1 = mx.sym.Variable('fc1_weight', **fc1_attrs)
    fc1 = mx.sym.FullyConnected(data, weight=w1, num_hidden=num_hidden, name='fc1')
    act = mx.sym.Activation(fc1, act_type='tanh', name='tanh1')
    fc2 = mx.sym.FullyConnected(act, num_hidden=num_classes, name='fc2')
    return mx.sym.SoftmaxOutput(fc2, name='softmax')


def toy_data(n=32, dim=5, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    y = rng.randint(0, classes, size=n).astype(np.float32)
    return x, y


def fitted_module(sym=None, num_epoch=2, optimizer='sgd', seed=0, it=None, **kw):
    x, y = toy_data()
    mx.random.seed(seed)
    mod = mx.mod.Module(sym if sym is not None else mlp(), **kw)
    it = it or mx.io.NDArrayIter(x, y, BATCH)
    mod.fit(it, num_epoch=num_epoch, optimizer=optimizer,
            optimizer_params=(('learning_rate', 0.1), ('momentum', 0.9)),
            initializer=mx.init.Xavier())
    return mod


def bound_module(sym=None, batch=BATCH, for_training=True, seed=0, **kw):
    mx.random.seed(seed)
    mod = mx.mod.Module(sym if sym is not None else mlp(), **kw)
    mod.bind(data_shapes=[('data', (batch, 5))], label_shapes=[('softmax_label', (batch,))],
             for_training=for_training, **{k: v for k, v in kw.items() if False})
    mod.init_params(mx.init.Xavier())
    return mod


def np_forward(arg, x):
    h = np.tanh(x @ arg['fc1_weight'].T + arg['fc1_bias'])
    z = h @ arg['fc2_weight'].T + arg['fc2_bias']
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return h, e / e.sum(axis=1, keepdims=True)


def params_np(mod):
    arg, aux = mod.get_params()
    return {k: v.asnumpy() for k, v in arg.items()}


class SlowIter(mx.io.DataIter):
    """Wraps an NDArrayIter so that fit takes the one-batch-per-call path."""

    def __init__(self, inner):
        super().__init__(inner.batch_size)
        self.inner = inner

    @property
    def provide_data(self):
        return self.inner.provide_data

    @property
    def provide_label(self):
        return self.inner.provide_label

    def reset(self):
        self.inner.reset()

    def next(self):
        return self.inner.next()


# ------------------------------------------------------------------ optimizer states

def test_lenet_states_from_mxnet_land_on_their_parameters(shared_dir, tmp_path):
    prefix = str(shared_dir / 'mxnet' / 'lenet')
    try:
        mod = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
        mod.bind(data_shapes=[('data', (4, 1, 28, 28))],
                 label_shapes=[('softmax_label', (4,))])
    except MXNetError as err:
        pytest.skip("LeNet's operators are not available: %s" % err)
    mod.init_optimizer(optimizer='sgd', optimizer_params=(('learning_rate', 0.5),
                                                          ('momentum', 0.9)))
    from mxc.optimizer import _loads_states
    with open(prefix + '-0001.states', 'rb') as f:
        ref = _loads_states(f.read())
    names = mod._param_names
    assert names[0] == 'conv1_weight' and names[6] == 'fc2_weight'
    mod.save_optimizer_states(str(tmp_path / 'same.states'))      # MXNet's bytes, unchanged
    assert (tmp_path / 'same.states').read_bytes() == \
        (shared_dir / 'mxnet' / 'lenet-0001.states').read_bytes()
    before = params_np(mod)
    for name in names:      # zero gradients: w <- w + 0.9 * mom (no wd on the biases, wd 0)
        mod._exec.grad_arrays[name][...] = 0
    mod.update()
    after = params_np(mod)
    for i, name in enumerate(names):
        mom = ref[i].asnumpy()
        assert mom.shape == before[name].shape
        assert np.abs(mom).max() > 0
        np.testing.assert_allclose(after[name], before[name] + 0.9 * mom, rtol=1e-5, atol=1e-6)
    mod.save_optimizer_states(str(tmp_path / 'again.states'))
    raw = (tmp_path / 'again.states').read_bytes()
    assert b'mxnet.ndarray.ndarray' in raw          # readable by MXNet itself
    again = states_format.loads(raw)
    assert sorted(again) == list(range(8))
    np.testing.assert_allclose(again[4].asnumpy(), 0.9 * ref[4].asnumpy(), rtol=1e-5)


def test_hand_built_states_map_by_parameter_index(tmp_path):
    mod = bound_module()
    mod.init_optimizer(optimizer='sgd', optimizer_params=(('learning_rate', 0.1),
                                                          ('momentum', 0.5)))
    shapes = {n: a.shape for n, a in params_np(mod).items()}
    states = {i: mx.nd.array(np.full(shapes[n], i + 1.0)) for i, n in enumerate(mod._param_names)}
    with open(tmp_path / 'h.states', 'wb') as f:
        pickle.dump(states, f)
    mod.load_optimizer_states(str(tmp_path / 'h.states'))
    before = params_np(mod)
    for n in mod._param_names:
        mod._exec.grad_arrays[n][...] = 0
    mod.update()
    after = params_np(mod)
    for i, n in enumerate(mod._param_names):
        np.testing.assert_allclose(after[n], before[n] + 0.5 * (i + 1.0), rtol=1e-6)


def test_states_format_round_trips_mxnet_pickles():
    a, b = np.arange(6.0).reshape(2, 3), np.ones(4, np.float32)
    blob = states_format.dumps({0: mx.nd.array(a), 1: None, 2: (mx.nd.array(b), mx.nd.array(b))})
    assert blob.count(b'mxnet.ndarray.ndarray') == 1      # one global, memoized
    back = states_format.loads(blob)
    np.testing.assert_array_equal(back[0].asnumpy(), a.astype(np.float32))
    assert back[1] is None and len(back[2]) == 2
    np.testing.assert_array_equal(back[2][1].asnumpy(), b)


def test_bad_states_file_names_the_file(tmp_path):
    mod = bound_module()
    mod.init_optimizer(optimizer='adam')
    bad = tmp_path / 'bad.states'
    bad.write_bytes(b'not a pickle')
    with pytest.raises(MXNetError, match='bad.states'):
        mod.load_optimizer_states(str(bad))
    wrong = tmp_path / 'wrong.states'
    wrong.write_bytes(pickle.dumps({0: mx.nd.zeros((6, 5))}))   # one array, adam needs two
    with pytest.raises(MXNetError, match='wrong.states'):
        mod.load_optimizer_states(str(wrong))


@pytest.mark.parametrize('optimizer', ['sgd', 'adagrad'])
def test_resume_from_checkpoint_continues_the_trajectory(tmp_path, optimizer):
    x, y = toy_data()
    params = (('learning_rate', 0.1),) + ((('momentum', 0.9),) if optimizer == 'sgd' else ())
    mx.random.seed(3)
    full = mx.mod.Module(mlp())
    full.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=4, optimizer=optimizer,
             optimizer_params=params, initializer=mx.init.Xavier())
    mx.random.seed(3)
    first = mx.mod.Module(mlp())
    prefix = str(tmp_path / 'run')
    first.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=2, optimizer=optimizer,
              optimizer_params=params, initializer=mx.init.Xavier(),
              epoch_end_callback=mx.callback.module_checkpoint(first, prefix,
                                                               save_optimizer_states=True))
    resumed = mx.mod.Module.load(prefix, 2, load_optimizer_states=True)
    resumed.fit(mx.io.NDArrayIter(x, y, BATCH), begin_epoch=2, num_epoch=4,
                optimizer=optimizer, optimizer_params=params)
    a, b = params_np(full), params_np(resumed)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-6, atol=1e-6)
    # without the states, the trajectory differs
    plain = mx.mod.Module.load(prefix, 2, load_optimizer_states=False)
    plain.fit(mx.io.NDArrayIter(x, y, BATCH), begin_epoch=2, num_epoch=4,
              optimizer=optimizer, optimizer_params=params)
    assert not np.allclose(params_np(plain)['fc1_weight'], a['fc1_weight'], atol=1e-6)


# ------------------------------------------------------------------ gradients

def test_fixed_param_names_are_not_updated():
    x, y = toy_data()
    mx.random.seed(1)
    mod = mx.mod.Module(mlp(), fixed_param_names=['fc1_weight'])
    mod.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))])
    mod.init_params(mx.init.Xavier())
    w0 = params_np(mod)
    mod.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=2,
            optimizer_params=(('learning_rate', 0.5),))
    w1 = params_np(mod)
    np.testing.assert_array_equal(w1['fc1_weight'], w0['fc1_weight'])
    assert not np.allclose(w1['fc1_bias'], w0['fc1_bias'])
    assert not np.allclose(w1['fc2_weight'], w0['fc2_weight'])


def test_input_grads_match_the_softmax_gradient():
    x, y = toy_data(n=BATCH)
    mod = mx.mod.Module(mlp())
    mod.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))],
             inputs_need_grad=True)
    mod.init_params(mx.init.Xavier())
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    arg = params_np(mod)
    h, p = np_forward(arg, x)
    dz = p - np.eye(3)[y.astype(int)]              # SoftmaxOutput, normalization 'null'
    dh = dz @ arg['fc2_weight'] * (1 - h * h)
    dx = dh @ arg['fc1_weight']
    grads = mod.get_input_grads()
    assert len(grads) == 1
    np.testing.assert_allclose(grads[0].asnumpy(), dx, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        mx.mod.Module(mlp()).bind(data_shapes=[('data', (BATCH, 5))], for_training=False,
                                  inputs_need_grad=True)


def test_grad_req_add_accumulates_and_null_skips():
    x, y = toy_data(n=BATCH)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    grads = {}
    for req in ('write', 'add'):
        mx.random.seed(0)
        mod = mx.mod.Module(mlp())
        mod.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))],
                 grad_req=req)
        mod.init_params(mx.init.Xavier())
        mod.forward_backward(batch)
        mod.forward_backward(batch)
        grads[req] = mod._exec.grad_arrays['fc1_weight'].copy()
    assert np.abs(grads['write']).max() > 0
    np.testing.assert_allclose(grads['add'], 2 * grads['write'], rtol=1e-5, atol=1e-7)
    mod = mx.mod.Module(mlp())
    mod.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))],
             grad_req={'fc1_weight': 'null'})
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer_params=(('learning_rate', 1.0),))
    w0 = params_np(mod)
    mod.forward_backward(batch)
    mod.update()
    w1 = params_np(mod)
    np.testing.assert_array_equal(w1['fc1_weight'], w0['fc1_weight'])
    assert not np.allclose(w1['fc2_weight'], w0['fc2_weight'])


# ------------------------------------------------------------------ shapes and inputs

def test_forward_with_new_batch_size_reshapes_and_caches():
    mod = bound_module(for_training=False)
    arg = params_np(mod)
    x, _ = toy_data(n=3)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    out = mod.get_outputs()[0].asnumpy()
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, np_forward(arg, x)[1], rtol=1e-5, atol=1e-6)
    assert mod.data_shapes[0].shape == (3, 5)
    x8, _ = toy_data(n=BATCH)
    mod.forward(mx.io.DataBatch([mx.nd.array(x8)]), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), np_forward(arg, x8)[1],
                               rtol=1e-5, atol=1e-6)
    mod.reshape([('data', (3, 5))], [('softmax_label', (3,))])
    assert len(mod._executors) == 2            # one compile per shape, reused
    np.testing.assert_array_equal(params_np(mod)['fc2_weight'], arg['fc2_weight'])


def test_training_step_after_reshape_keeps_optimizer_states():
    mod = bound_module()
    mod.init_optimizer(optimizer_params=(('learning_rate', 0.1), ('momentum', 0.9)))
    x, y = toy_data(n=BATCH)
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    g8 = mod._exec.grad_arrays['fc2_weight'].copy()
    w0 = params_np(mod)['fc2_weight']
    mod.update()
    mom = -0.1 * g8 / BATCH                              # rescale_grad stays 1/8
    small = mx.io.DataBatch([mx.nd.array(x[:4])], [mx.nd.array(y[:4])])
    mod.forward_backward(small)                          # reshapes to a batch of 4
    assert mod._exec.outputs[0].shape == (4, 3)
    g4 = mod._exec.grad_arrays['fc2_weight'].copy()
    mod.update()
    mom = 0.9 * mom - 0.1 * g4 / BATCH
    np.testing.assert_allclose(params_np(mod)['fc2_weight'], w0 - 0.1 * g8 / BATCH + mom,
                               rtol=1e-5, atol=1e-7)


def test_iter_predict_strips_padding():
    mod = bound_module(for_training=False)
    arg = params_np(mod)
    x, y = toy_data(n=10)
    seen = []
    for outputs, nbatch, batch in mod.iter_predict(mx.io.NDArrayIter(x, y, BATCH)):
        seen.append(outputs[0].asnumpy())
        assert nbatch == len(seen) - 1
    assert [s.shape[0] for s in seen] == [8, 2]
    np.testing.assert_allclose(np.concatenate(seen), np_forward(arg, x)[1], rtol=1e-5,
                               atol=1e-6)


def test_several_data_and_label_names():
    a, b = mx.sym.Variable('a'), mx.sym.Variable('b')
    fa = mx.sym.FullyConnected(a, num_hidden=3, name='fa')
    fb = mx.sym.FullyConnected(b, num_hidden=3, name='fb')
    out1 = mx.sym.SoftmaxOutput(fa + fb, name='s1')
    out2 = mx.sym.SoftmaxOutput(fb, name='s2')
    sym = mx.sym.Group([out1, out2])
    rng = np.random.RandomState(0)
    xa, xb = rng.normal(size=(12, 4)), rng.normal(size=(12, 2))
    l1, l2 = rng.randint(0, 3, size=12), rng.randint(0, 3, size=12)
    it = mx.io.NDArrayIter({'a': xa, 'b': xb}, {'s1_label': l1, 's2_label': l2}, 4)
    mod = mx.mod.Module(sym, data_names=['a', 'b'], label_names=['s1_label', 's2_label'])
    mx.random.seed(0)
    mod.fit(it, num_epoch=1, optimizer_params=(('learning_rate', 0.0),),
            eval_metric=mx.metric.Accuracy(output_names=['s1_output'],
                                           label_names=['s1_label']))
    arg = params_np(mod)
    mod.forward(mx.io.DataBatch([mx.nd.array(xa[:4]), mx.nd.array(xb[:4])]), is_train=False)
    o1, o2 = [o.asnumpy() for o in mod.get_outputs()]
    z = xa[:4] @ arg['fa_weight'].T + arg['fa_bias'] + xb[:4] @ arg['fb_weight'].T \
        + arg['fb_bias']
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(o1, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    zb = xb[:4] @ arg['fb_weight'].T + arg['fb_bias']
    eb = np.exp(zb - zb.max(1, keepdims=True))
    np.testing.assert_allclose(o2, eb / eb.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert mod.output_names == ['s1_output', 's2_output']


# ------------------------------------------------------------------ optimizer plumbing

def test_borrow_optimizer_shares_state_and_counts():
    main = bound_module()
    main.init_optimizer(optimizer_params=(('learning_rate', 0.1), ('momentum', 0.9)))
    other = mx.mod.Module(mlp())
    other.bind(data_shapes=[('data', (4, 5))], label_shapes=[('softmax_label', (4,))],
               shared_module=main)
    assert other.optimizer_initialized and other._optimizer is main._optimizer
    x, y = toy_data(n=4)
    other.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
    other.update()
    assert main._optimizer.num_update == 1


def test_lr_mult_and_wd_mult_from_symbol_attributes():
    sym = mlp(lr_mult=0.0)
    mod = fitted_module(sym=sym, num_epoch=1)
    mx.random.seed(0)
    ref = mx.mod.Module(sym)
    ref.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))])
    ref.init_params(mx.init.Xavier())
    np.testing.assert_array_equal(params_np(mod)['fc1_weight'], params_np(ref)['fc1_weight'])
    assert not np.allclose(params_np(mod)['fc2_weight'], params_np(ref)['fc2_weight'])
    opt = mx.optimizer.create('sgd', sym=mlp(wd_mult=3.0), wd=0.1,
                              param_idx2name={0: 'fc1_weight', 1: 'fc1_bias'})
    assert opt._get_wd(0) == pytest.approx(0.3) and opt._get_wd(1) == 0.0


def test_user_defined_optimizer_runs_in_python_and_says_so(caplog):
    @mx.optimizer.register
    class ModuleHalfStep(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            self._update_count(index)
            weight[:] = weight.asnumpy() - 0.5 * self._get_lr(index) * self.rescale_grad \
                * grad.asnumpy()

    x, y = toy_data(n=BATCH)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    mod = bound_module()
    with caplog.at_level(logging.INFO):
        mod.init_optimizer(optimizer="modulehalfstep", optimizer_params=(('learning_rate', 0.2),))
    assert sum('no compiled kernel' in r.getMessage() for r in caplog.records) == 1
    w0 = params_np(mod)
    mod.forward_backward(batch)
    g = mod._exec.grad_arrays['fc2_weight'].copy()
    mod.update()
    np.testing.assert_allclose(params_np(mod)['fc2_weight'],
                               w0['fc2_weight'] - 0.5 * 0.2 / BATCH * g, rtol=1e-5, atol=1e-7)


def test_python_path_optimizer_states_save_and_load(tmp_path):
    @mx.optimizer.register
    class ModuleAccum(mx.optimizer.Optimizer):
        def create_state(self, index, weight):
            return mx.nd.zeros(weight.shape)

        def update(self, index, weight, grad, state):
            self._update_count(index)
            state[:] = state.asnumpy() + grad.asnumpy()
            weight[:] = weight.asnumpy() - self._get_lr(index) * state.asnumpy()

    x, y = toy_data(n=BATCH)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    mod = bound_module()
    mod.init_optimizer(optimizer='moduleaccum')
    mod.forward_backward(batch)
    mod.update()
    path = str(tmp_path / 'py.states')
    mod.save_optimizer_states(path)
    assert b'mxnet.ndarray.ndarray' in open(path, 'rb').read()
    other = bound_module()
    other.init_optimizer(optimizer='moduleaccum')
    other.load_optimizer_states(path)
    for i, name in enumerate(mod._param_names):
        np.testing.assert_array_equal(other._updater.states[i].asnumpy(),
                                      mod._updater.states[i].asnumpy())
    assert np.abs(other._updater.states[2].asnumpy()).max() > 0


# ------------------------------------------------------------------ fit

def test_fast_epoch_path_equals_per_batch_path(monkeypatch):
    from mxc.executor import Executor
    calls = []
    real = Executor.train_epoch
    monkeypatch.setattr(Executor, 'train_epoch',
                        lambda self, *a: calls.append(1) or real(self, *a))
    x, y = toy_data(n=40)
    fast = fitted_module(num_epoch=3, it=mx.io.NDArrayIter(x, y, BATCH))
    assert len(calls) == 3                    # one C call per epoch
    slow = fitted_module(num_epoch=3, it=SlowIter(mx.io.NDArrayIter(x, y, BATCH)))
    assert len(calls) == 3
    a, b = params_np(fast), params_np(slow)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shuffle", [False, True])
def test_score_and_predict_in_one_c_call_equal_the_per_batch_path(monkeypatch, shuffle):
    from mxc.executor import Executor
    calls = []
    real = Executor.infer_batches
    monkeypatch.setattr(Executor, 'infer_batches',
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    x, y = toy_data(n=45)                       # 6 batches of 8, the last one padded by 3
    mod = fitted_module()
    for metric in ('acc', 'mse'):
        np.random.seed(4)
        it = mx.io.NDArrayIter(x, y, BATCH, shuffle=shuffle)
        fast = dict(mod.score(it, metric))
        assert len(calls) == 1
        np.random.seed(4)
        it = mx.io.NDArrayIter(x, y, BATCH, shuffle=shuffle)
        seen = []
        slow = dict(mod.score(it, metric, batch_end_callback=lambda p: seen.append(1)))
        assert len(calls) == 1 and len(seen) == 6
        assert fast.keys() == slow.keys()
        for key in fast:
            np.testing.assert_allclose(fast[key], slow[key], rtol=1e-6)
        calls.clear()
    # padded rows count in score, as MXNet does: accuracy over 48 rows
    mod.score(mx.io.NDArrayIter(x, y, BATCH), 'acc')
    probs = mod.predict(mx.io.NDArrayIter(x, y, BATCH), num_batch=100).asnumpy()
    rows = np.concatenate([np.arange(45), np.arange(3)])
    metric = mx.metric.Accuracy()
    assert dict(mod.score(mx.io.NDArrayIter(x, y, BATCH), metric))['accuracy'] == \
        pytest.approx(np.mean(probs[rows].argmax(1) == y[rows]))
    assert metric.num_inst == 48
    calls.clear()
    fast = mod.predict(mx.io.NDArrayIter(x, y, BATCH))
    assert len(calls) == 1 and fast.shape == (45, 3)
    np.testing.assert_allclose(fast.asnumpy(), probs, rtol=1e-6)
    unlabeled = mod.predict(mx.io.NDArrayIter(x, None, BATCH))
    assert len(calls) == 2
    np.testing.assert_allclose(unlabeled.asnumpy(), probs, rtol=1e-6)


def bn_net(fix_gamma=True):
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data, num_hidden=6, name='fc1')
    bn = mx.sym.BatchNorm(fc1, fix_gamma=fix_gamma, name='bn1')
    fc2 = mx.sym.FullyConnected(mx.sym.Activation(bn, act_type='relu'), num_hidden=3,
                                name='fc2')
    return mx.sym.SoftmaxOutput(fc2, name='softmax')


def test_fix_gamma_is_written_as_one_on_both_fit_paths():
    x, y = toy_data(n=40)
    results = []
    for it in (mx.io.NDArrayIter(x, y, BATCH), SlowIter(mx.io.NDArrayIter(x, y, BATCH))):
        mx.random.seed(2)
        mod = mx.mod.Module(bn_net())
        mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
        mod.init_params(mx.init.Xavier())
        arg, aux = mod.get_params()
        arg['bn1_gamma'] = mx.nd.array(np.full(6, 0.5))
        mod.set_params(arg, aux)
        mod.fit(it, num_epoch=2, optimizer_params=(('learning_rate', 0.1), ('wd', 0.2)))
        results.append(params_np(mod))
    fast, slow = results
    # each forward writes 1, the last update then decays it: (1 - lr*wd) * 1
    np.testing.assert_allclose(fast['bn1_gamma'], np.full(6, 1 - 0.1 * 0.2), rtol=1e-6)
    for name in fast:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-5, atol=1e-6)
    mod = mx.mod.Module(bn_net(fix_gamma=False))
    mod.bind(data_shapes=[('data', (BATCH, 5))], label_shapes=[('softmax_label', (BATCH,))])
    mod.init_params(mx.init.Xavier(), arg_params={'bn1_gamma': mx.nd.array(np.full(6, 0.5))},
                    allow_missing=True)
    mod.forward(mx.io.DataBatch([mx.nd.array(x[:BATCH])], [mx.nd.array(y[:BATCH])]))
    np.testing.assert_array_equal(params_np(mod)['bn1_gamma'], np.full(6, 0.5))


def test_speedometer_logs_in_fit(caplog):
    x, y = toy_data(n=48)
    mod = mx.mod.Module(mlp())
    with caplog.at_level(logging.INFO):
        mod.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=1,         # 6 batches: 0..5
                batch_end_callback=mx.callback.Speedometer(BATCH, 2))
    lines = [r.getMessage() for r in caplog.records if 'samples/sec' in r.getMessage()]
    assert len(lines) == 2                     # at nbatch 2 and 4, as MXNet counts
    assert lines[0].startswith('Epoch[0] Batch [0-2]\tSpeed: ')
    assert lines[1].startswith('Epoch[0] Batch [2-4]\tSpeed: ')
    assert '\taccuracy=' in lines[0]


def test_monitor_prints_output_statistics(caplog):
    x, y = toy_data()
    mod = bound_module()
    mon = mx.mon.Monitor(2, pattern='fc1.*|tanh.*', sort=True)
    mod.install_monitor(mon)
    mod.init_optimizer()
    arg0 = params_np(mod)
    with caplog.at_level(logging.INFO):
        mod.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=1, monitor=mon)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith('Batch:')]
    names = [line.split()[2] for line in lines]
    # batches 1 and 3 of 4 are monitored; forward and backward node outputs (MXNet's
    # names: a backward node's outputs are its forward node's input gradients) then
    # arguments, sorted by name
    assert names == ['fc1_backward_output0', 'fc1_backward_output1', 'fc1_backward_output2',
                     'fc1_bias', 'fc1_output', 'fc1_weight', 'tanh1_backward_output',
                     'tanh1_output'] * 2
    assert lines[0].startswith('Batch:       1 fc1_backward_output0')
    h = x[:BATCH] @ arg0['fc1_weight'].T + arg0['fc1_bias']
    first_fc1 = float(lines[4].split()[3])
    assert float(lines[0].split()[3]) == 0      # the data's gradient: not needed, zeros
    assert first_fc1 == pytest.approx(np.linalg.norm(h) / np.sqrt(h.size), rel=1e-5)


def relu_mlp():
    data = mx.sym.Variable('data')
    fc1 = mx.sym.FullyConnected(data, num_hidden=6, name='fc1')
    act = mx.sym.Activation(fc1, act_type='relu', name='relu1')
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name='fc2')
    return mx.sym.SoftmaxOutput(fc2, name='softmax')


def test_monitor_sees_the_output_of_a_fused_fully_connected():
    x, y = toy_data()
    mod = bound_module(relu_mlp())
    assert mod._exec.plan.fused == [('fc1', 'relu1')]
    mod.init_optimizer(optimizer_params=(('learning_rate', 0.1), ('momentum', 0.9)))
    batch = mx.io.DataBatch([mx.nd.array(x[:BATCH])], [mx.nd.array(y[:BATCH])])
    mod.forward_backward(batch)
    mod.update()                                  # momentum state is carried over
    before = params_np(mod)
    twin = bound_module(relu_mlp())
    twin.set_params(*mod.get_params())
    twin.init_optimizer(optimizer_params=(('learning_rate', 0.1), ('momentum', 0.9)))
    twin._opt_state[...] = mod._opt_state
    mon = mx.mon.Monitor(1, pattern='fc1_output|relu1_output')
    mod.install_monitor(mon)
    assert mod._exec.plan.fused == []
    np.testing.assert_array_equal(params_np(mod)['fc1_weight'], before['fc1_weight'])
    mon.tic()
    mod.forward_backward(batch)
    stats = {k: v for _, k, v in mon.toc()}
    fc1 = x[:BATCH] @ before['fc1_weight'].T + before['fc1_bias']
    def rms(a):
        return np.linalg.norm(a) / np.sqrt(a.size)
    assert float(stats['fc1_output']) == pytest.approx(rms(fc1), rel=1e-5)
    assert float(stats['relu1_output']) == pytest.approx(rms(np.maximum(fc1, 0)), rel=1e-5)
    mod.update()
    twin.forward_backward(batch)
    twin.update()
    for name, value in params_np(twin).items():
        np.testing.assert_allclose(params_np(mod)[name], value, rtol=1e-5, atol=1e-6)


def test_monitor_custom_stat_and_interval():
    mon = mx.mon.Monitor(1, stat_func=lambda a: [mx.nd.array(a.asnumpy().max(keepdims=True)
                                                              .reshape(1))])
    mod = bound_module()
    mod.install_monitor(mon)
    x, y = toy_data(n=BATCH)
    mon.tic()
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]), is_train=False)
    res = mon.toc()
    by_name = {k: v for _, k, v in res}
    assert float(by_name['softmax_output']) == pytest.approx(
        mod.get_outputs()[0].asnumpy().max(), rel=1e-6)
    assert mon.toc() == []


class ListIter(mx.io.DataIter):
    """A user's own iterator (MXNet's iter_next / getdata protocol), no NDArrayIter inside."""

    def __init__(self, x, y, batch_size):
        super().__init__(batch_size)
        self.x, self.y, self.cur = x, y, -1
        self.provide_data = [mx.io.DataDesc('data', (batch_size,) + x.shape[1:])]
        self.provide_label = [mx.io.DataDesc('softmax_label', (batch_size,))]

    def reset(self):
        self.cur = -1

    def iter_next(self):
        self.cur += 1
        return (self.cur + 1) * self.batch_size <= self.x.shape[0]

    def _rows(self, arr):
        return mx.nd.array(arr[self.cur * self.batch_size:(self.cur + 1) * self.batch_size])

    def getdata(self):
        return [self._rows(self.x)]

    def getlabel(self):
        return [self._rows(self.y)]

    def getpad(self):
        return 0


def _np_accuracy(mod, x, y):
    _, probs = np_forward(params_np(mod), x)
    return float(np.mean(probs.argmax(1) == y))


def test_fit_and_score_take_any_data_iter_as_eval_data():
    x, y = toy_data(n=32)
    ex, ey = toy_data(n=24, seed=1)
    for eval_iter, rows in ((ListIter(ex, ey, BATCH), 24),
                            (mx.io.ResizeIter(mx.io.NDArrayIter(ex, ey, BATCH), 2), 16)):
        mx.random.seed(0)
        mod = mx.mod.Module(mlp())
        seen = []

        def at_eval_end(param):
            name, value = param.eval_metric.get()
            seen.append((value, _np_accuracy(mod, ex[:rows], ey[:rows])))
        mod.fit(mx.io.NDArrayIter(x, y, BATCH), eval_data=eval_iter, num_epoch=2,
                optimizer_params=(('learning_rate', 0.1),), initializer=mx.init.Xavier(),
                eval_end_callback=at_eval_end)
        assert len(seen) == 2
        for got, want in seen:
            assert got == pytest.approx(want)
        assert dict(mod.score(eval_iter, 'acc'))['accuracy'] == pytest.approx(seen[-1][1])
        _, probs = np_forward(params_np(mod), ex[:rows])
        ce = -np.mean(np.log(probs[np.arange(rows), ey[:rows].astype(int)] + 1e-12))
        assert dict(mod.score(eval_iter, 'ce'))['cross-entropy'] == pytest.approx(ce, rel=1e-5)


def test_score_with_a_python_metric_runs_one_inference_pass(monkeypatch):
    """A metric the compiled code does not count (here a CustomMetric) still scores an
    NDArrayIter in one inference pass, through the metric's own update."""
    from mxc.executor import Executor
    calls = []
    real = Executor.infer_batches
    monkeypatch.setattr(Executor, 'infer_batches',
                        lambda self, *a, **k: calls.append(a[3] if len(a) > 3 else k.get(
                            'metric', 'none')) or real(self, *a, **k))
    x, y = toy_data(n=20)                    # 3 batches, the last one padded by 4
    mod = fitted_module()
    top = mx.metric.CustomMetric(lambda label, pred: float(np.mean(pred.argmax(1) == label)),
                                 name='mine')
    got = dict(mod.score(mx.io.NDArrayIter(x, y, BATCH), top))['mine']
    assert calls == ['none']
    _, probs = np_forward(params_np(mod), x)
    rows = np.concatenate([np.arange(20), np.arange(4)]).reshape(3, BATCH)
    want = np.mean([np.mean(probs[r].argmax(1) == y[r]) for r in rows])
    assert got == pytest.approx(want)


def test_fix_gamma_graph_trains_a_whole_epoch_per_call(monkeypatch):
    """The BatchNorm kernel writes gamma = 1 itself, so nothing forces one batch per call."""
    from mxc.executor import Executor
    calls = []
    real = Executor.train_epoch
    monkeypatch.setattr(Executor, 'train_epoch',
                        lambda self, *a: calls.append(a[5].shape[0]) or real(self, *a))
    x, y = toy_data(n=40)
    mod = mx.mod.Module(bn_net())
    mod.fit(mx.io.NDArrayIter(x, y, BATCH), num_epoch=2, initializer=mx.init.Xavier(),
            optimizer_params=(('learning_rate', 0.1), ('wd', 0.2)))
    assert calls == [5, 5]
    np.testing.assert_allclose(params_np(mod)['bn1_gamma'], np.full(6, 1 - 0.1 * 0.2),
                               rtol=1e-6)


def test_monitor_reports_backward_node_outputs_as_input_gradients():
    x, y = toy_data()
    mod = bound_module()
    arg = params_np(mod)
    mon = mx.mon.Monitor(1, stat_func=lambda a: a, pattern='.*backward.*')
    mod.install_monitor(mon)
    batch = mx.io.DataBatch([mx.nd.array(x[:BATCH])], [mx.nd.array(y[:BATCH])])
    mon.tic()
    mod.forward_backward(batch)
    mon.queue.sort(key=lambda item: item[1])
    got = {name: value.asnumpy() for _, name, value in mon.queue}
    assert sorted(got) == ['fc1_backward_output0', 'fc1_backward_output1',
                           'fc1_backward_output2', 'fc2_backward_output0',
                           'fc2_backward_output1', 'fc2_backward_output2',
                           'softmax_backward_output0', 'softmax_backward_output1',
                           'tanh1_backward_output']
    h = np.tanh(x[:BATCH] @ arg['fc1_weight'].T + arg['fc1_bias'])
    z = h @ arg['fc2_weight'].T + arg['fc2_bias']
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p - np.eye(3)[y[:BATCH].astype(int)]
    np.testing.assert_allclose(got['softmax_backward_output0'], dz, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got['fc2_backward_output0'], dz @ arg['fc2_weight'],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got['fc2_backward_output1'], dz.T @ h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got['tanh1_backward_output'],
                               (dz @ arg['fc2_weight']) * (1 - h * h), rtol=1e-5, atol=1e-6)
    assert not got['fc1_backward_output0'].any()       # the data's gradient: not computed
