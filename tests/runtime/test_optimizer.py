import math
import pickle

import numpy as np
import pytest

import mxc as mx
from mxc.ndarray import NDArray

R, C, WD = 0.5, 0.3, 0.01   # rescale_grad, clip_gradient, wd used by every case


def clipped(x):
    return np.clip(x, -C, C)


# Independent NumPy transcriptions of MXNet 1.x update rules: (state_init, step).
# step(t, lr, wd, w, g, s) -> new w; s is a dict of state arrays mutated in place.

def ref_sgd_mom(t, lr, wd, w, g, s):
    s['mom'] = 0.9 * s['mom'] - lr * wd * w - lr * clipped(R * g)
    return w + s['mom']


def ref_sgd(t, lr, wd, w, g, s):
    return (1 - lr * wd) * w - lr * clipped(R * g)


def ref_nag(t, lr, wd, w, g, s):
    # nag_mom_update runs with out=weight: the momentum's wd term reads the new weight
    m = 0.9 * s['mom']
    new_w = w - m + 1.9 * (m - lr * (clipped(R * g) + wd * w))
    s['mom'] = m - lr * (clipped(R * g) + wd * new_w)
    return new_w


def ref_adam(t, lr, wd, w, g, s):
    b1, b2, eps = 0.9, 0.999, 1e-8
    lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    gp = clipped(R * g + wd * w)
    s['m'] = b1 * s['m'] + (1 - b1) * gp
    s['v'] = b2 * s['v'] + (1 - b2) * gp ** 2
    return w - lr_t * s['m'] / (np.sqrt(s['v']) + eps)


def ref_adagrad(t, lr, wd, w, g, s):
    gp = clipped(R * g)
    s['h'] = s['h'] + gp ** 2
    return w - lr * (gp / np.sqrt(s['h'] + 1e-7) + wd * w)


def ref_rmsprop(t, lr, wd, w, g, s):
    gp = clipped(R * g + wd * w)
    s['n'] = 0.1 * gp ** 2 + 0.9 * s['n']
    return np.clip(w - lr * gp / np.sqrt(s['n'] + 1e-8), -0.5, 0.5)


def ref_rmsprop_centered(t, lr, wd, w, g, s):
    gp = clipped(R * g + wd * w)
    s['n'] = 0.1 * gp ** 2 + 0.9 * s['n']
    s['gbar'] = 0.1 * gp + 0.9 * s['gbar']
    s['delta'] = 0.9 * s['delta'] - lr * gp / np.sqrt(s['n'] - s['gbar'] ** 2 + 1e-8)
    return w + s['delta']


def ref_adadelta(t, lr, wd, w, g, s):
    rho, eps = 0.9, 1e-5
    gp = clipped(R * g)
    s['ag'] = rho * s['ag'] + (1 - rho) * gp ** 2
    delta = np.sqrt(s['ad'] + eps) / np.sqrt(s['ag'] + eps) * gp
    s['ad'] = rho * s['ad'] + (1 - rho) * delta ** 2
    return w - delta - wd * w


def ref_ftrl(t, lr, wd, w, g, s):
    lamda1, beta = 0.01, 1.0
    gp = clipped(R * g)
    s['z'] = s['z'] + gp - (np.sqrt(s['n'] + gp ** 2) - np.sqrt(s['n'])) * w / lr
    s['n'] = s['n'] + gp ** 2
    out = np.zeros_like(w)
    big = np.abs(s['z']) > lamda1
    out[big] = ((np.sign(s['z']) * lamda1 - s['z']) / ((beta + np.sqrt(s['n'])) / lr + wd))[big]
    return out


def ref_signum(t, lr, wd, w, g, s):
    s['mom'] = 0.9 * s['mom'] - 0.1 * (wd * w + clipped(R * g))
    return w + lr * np.sign(s['mom'])


def ref_signsgd(t, lr, wd, w, g, s):
    return (1 - lr * wd) * w - lr * np.sign(R * g)


def ref_ftml(t, lr, wd, w, g, s):
    b1, b2, eps = 0.6, 0.999, 1e-8
    gp = clipped(R * g + wd * w)
    s['v'] = b2 * s['v'] + (1 - b2) * gp ** 2
    d_t = (1 - b1 ** t) / lr * (np.sqrt(s['v'] / (1 - b2 ** t)) + eps)
    s['z'] = b1 * s['z'] + (1 - b1) * gp - (d_t - b1 * s['d']) * w
    s['d'] = d_t
    return -s['z'] / d_t


def ref_lamb(t, lr, wd, w, g, s):
    b1, b2, eps = 0.9, 0.999, 1e-6
    gp = clipped(R * g)
    s['m'] = b1 * s['m'] + (1 - b1) * gp
    s['v'] = b2 * s['v'] + (1 - b2) * gp ** 2
    upd = (s['m'] / (1 - b1 ** t)) / (np.sqrt(s['v'] / (1 - b2 ** t)) + eps) + wd * w
    r1, r2 = np.sqrt((w ** 2).sum()), np.sqrt((upd ** 2).sum())
    ratio = r1 / r2 if r1 > 0 and r2 > 0 else 1.0
    return w - lr * ratio * upd


def ref_adamax(t, lr, wd, w, g, s):
    b1, b2 = 0.9, 0.999
    gp = clipped(R * g + wd * w)
    s['m'] = b1 * s['m'] + (1 - b1) * gp
    s['u'] = np.maximum(b2 * s['u'], np.abs(gp))
    return w - lr / (1 - b1 ** t) * s['m'] / s['u']


def ref_nadam(t, lr, wd, w, g, s):
    b1, b2, eps, decay = 0.9, 0.999, 1e-8, 0.004
    gp = clipped(R * g + wd * w)
    mu_t = b1 * (1 - 0.5 * 0.96 ** (t * decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
    s['sched'] = s.get('sched', 1.0) * mu_t
    s['m'] = b1 * s['m'] + (1 - b1) * gp
    s['v'] = b2 * s['v'] + (1 - b2) * gp ** 2
    m_bar = (1 - mu_t) * gp / (1 - s['sched']) + mu_next * s['m'] / (1 - s['sched'] * mu_next)
    return w - lr * m_bar / (np.sqrt(s['v'] / (1 - b2 ** t)) + eps)


CASES = [
    # (create name, ctor kwargs, learning rate, reference, state names)
    ('sgd', dict(momentum=0.9), 0.1, ref_sgd_mom, ['mom']),
    ('sgd', dict(), 0.1, ref_sgd, []),
    ('nag', dict(momentum=0.9), 0.1, ref_nag, ['mom']),
    ('adam', dict(), 0.01, ref_adam, ['m', 'v']),
    ('adagrad', dict(), 0.1, ref_adagrad, ['h']),
    ('rmsprop', dict(clip_weights=0.5), 0.01, ref_rmsprop, ['n']),
    ('rmsprop', dict(centered=True), 0.01, ref_rmsprop_centered, ['n', 'gbar', 'delta']),
    ('adadelta', dict(), 1.0, ref_adadelta, ['ag', 'ad']),
    ('ftrl', dict(), 0.1, ref_ftrl, ['z', 'n']),
    ('signum', dict(), 0.01, ref_signum, ['mom']),
    ('signum', dict(momentum=0.0), 0.01, ref_signsgd, []),
    ('ftml', dict(), 0.01, ref_ftml, ['d', 'v', 'z']),
    ('lamb', dict(), 0.01, ref_lamb, ['m', 'v']),
    ('adamax', dict(), 0.01, ref_adamax, ['m', 'u']),
    ('nadam', dict(), 0.01, ref_nadam, ['m', 'v']),
]


def _case_id(case):
    return case[0] + ('-' + '-'.join('%s=%s' % kv for kv in case[1].items()) if case[1] else '')


@pytest.mark.parametrize('case', CASES, ids=[_case_id(c) for c in CASES])
def test_hundred_updates_match_reference(case):
    name, kwargs, lr, ref, state_names = case
    rng = np.random.RandomState(7)
    w0 = rng.uniform(-1, 1, size=(2, 3, 4)).astype(np.float64)
    b0 = rng.uniform(-1, 1, size=(4,)).astype(np.float64)
    grads = rng.normal(0, 1.5, size=(100, 2, 3, 4))
    bgrads = rng.normal(0, 1.5, size=(100, 4))
    opt = mx.optimizer.create(name, learning_rate=lr, wd=WD, rescale_grad=R, clip_gradient=C,
                              param_idx2name={0: 'fc_weight', 1: 'fc_bias'}, **kwargs)
    updater = mx.optimizer.get_updater(opt)
    weight, bias = NDArray(w0.copy()), NDArray(b0.copy())
    ref_w, ref_b = w0.copy(), b0.copy()
    sw = {k: np.zeros_like(w0) for k in state_names}
    sb = {k: np.zeros_like(b0) for k in state_names}
    for t in range(1, 101):
        updater(0, NDArray(grads[t - 1].copy()), weight)
        updater(1, NDArray(bgrads[t - 1].copy()), bias)
        ref_w = ref(t, lr, WD, ref_w, grads[t - 1], sw)
        if 'sched' in sw:   # Nadam's momentum schedule is shared by all parameters
            sb['sched'] = sw['sched']
        ref_b = ref(t, lr, 0.0, ref_b, bgrads[t - 1], sb)   # bias: no weight decay
        if 'sched' in sb:
            sw['sched'] = sb['sched']
    np.testing.assert_allclose(weight.asnumpy(), ref_w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bias.asnumpy(), ref_b, rtol=1e-6, atol=1e-6)
    assert opt.num_update == 100
    assert not np.allclose(weight.asnumpy(), w0)


def test_nadam_single_parameter_matches_reference():
    rng = np.random.RandomState(3)
    w0 = rng.uniform(-1, 1, size=(5,))
    grads = rng.normal(size=(100, 5))
    opt = mx.optimizer.Nadam(learning_rate=0.01, wd=WD, rescale_grad=R, clip_gradient=C)
    weight = NDArray(w0.copy())
    state = opt.create_state(0, weight)
    ref_w, s = w0.copy(), {'m': np.zeros(5), 'v': np.zeros(5)}
    for t in range(1, 101):
        opt.update(0, weight, NDArray(grads[t - 1].copy()), state)
        ref_w = ref_nadam(t, 0.01, WD, ref_w, grads[t - 1], s)
    np.testing.assert_allclose(weight.asnumpy(), ref_w, rtol=1e-6, atol=1e-6)


def test_sgld_uses_seeded_numpy_noise():
    w0 = np.linspace(-1, 1, 6)
    g = np.linspace(0.5, -0.5, 6)
    opt = mx.optimizer.SGLD(learning_rate=0.04, wd=0.1)
    weight = NDArray(w0.copy())
    np.random.seed(11)
    opt.update(0, weight, NDArray(g.copy()), None)
    np.random.seed(11)
    noise = np.random.normal(0, 0.2, size=6)
    np.testing.assert_allclose(weight.asnumpy(), w0 - 0.02 * (g + 0.1 * w0) + noise, rtol=1e-12)
    assert opt._c_kernel() is None


def test_adadelta_rescales_grad_in_place():
    opt = mx.optimizer.AdaDelta(rescale_grad=0.25)
    grad = NDArray(np.ones(3))
    opt.update(0, NDArray(np.zeros(3)), grad, opt.create_state(0, NDArray(np.zeros(3))))
    np.testing.assert_allclose(grad.asnumpy(), 0.25)


@pytest.mark.parametrize('case', CASES, ids=[_case_id(c) for c in CASES])
def test_c_hyper_matches_update_path(case):
    name, kwargs, _, _, state_names = case
    make = lambda: mx.optimizer.create(
        name, learning_rate=0.2, wd=WD, rescale_grad=R,
        param_idx2name={0: 'a_weight', 1: 'a_bias'},
        lr_scheduler=mx.lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=0.2),
        begin_num_update=2, **kwargs)
    fast, slow = make(), make()
    kind, n_states = fast._c_kernel()
    layout = mx.optimizer.C_HYPER_LAYOUT[kind]
    assert n_states == len(state_names)
    assert layout[:4] == ('lr', 'wd', 'rescale_grad', 'clip_gradient')
    for step in range(8):
        for index in (0, 1):
            hyper = dict(zip(layout, fast._c_hyper(index)))
            slow._update_count(index)
            assert hyper['lr'] == pytest.approx(slow._get_lr(index))
            assert hyper['wd'] == pytest.approx(slow._get_wd(index))
            assert hyper['wd'] == (0.0 if index == 1 else WD)
            assert hyper['clip_gradient'] == 0.0
            assert hyper['rescale_grad'] == R
            if 't' in hyper:
                assert hyper['t'] == 2 + step + 1
    assert fast.num_update == slow.num_update == 10
    expected_lr = 0.2 * 0.5 ** 3    # num_update 10 passed 3, 6, 9 after the 2 initial
    assert dict(zip(layout, fast._c_hyper(0)))['lr'] == pytest.approx(expected_lr)


def test_c_states_round_trip_and_layout_matches_create_state():
    for name, kwargs, _, _, state_names in CASES:
        opt = mx.optimizer.create(name, **kwargs)
        weight = NDArray(np.arange(6.0).reshape(2, 3))
        state = opt.create_state(0, weight)
        arrays = opt._c_states_from_mx(0, state)
        assert len(arrays) == opt._c_kernel()[1] == len(state_names)
        rebuilt = opt._c_states_to_mx(0, [a + 1 for a in arrays])
        assert type(rebuilt) is type(state)
        for a in opt._c_states_from_mx(0, rebuilt):
            np.testing.assert_array_equal(a, np.ones((2, 3)))


def test_base_optimizer_has_no_kernel_and_user_optimizer_runs_via_updater():
    @mx.optimizer.register
    class HalfStep(mx.optimizer.Optimizer):
        def create_state(self, index, weight):
            return mx.nd.array(np.zeros(weight.shape))

        def update(self, index, weight, grad, state):
            self._update_count(index)
            state[:] = state.asnumpy() + 1
            weight[:] = weight.asnumpy() - 0.5 * self._get_lr(index) * grad.asnumpy()

    opt = mx.optimizer.create('HALFSTEP', learning_rate=2.0)
    assert isinstance(opt, HalfStep) and opt._c_kernel() is None
    updater = mx.optimizer.get_updater(opt)
    weight = NDArray(np.ones(3))
    for _ in range(3):
        updater(5, NDArray(np.full(3, 0.25)), weight)
    np.testing.assert_allclose(weight.asnumpy(), 1 - 3 * 0.25)
    np.testing.assert_allclose(updater.states[5].asnumpy(), 3)


def test_create_unknown_and_defaults():
    with pytest.raises(ValueError, match='Cannot find optimizer nosuch'):
        mx.optimizer.create('nosuch')
    assert mx.optimizer.create('SGD').lr == 0.01
    assert mx.optimizer.create('adam').lr == 0.001
    sched = mx.lr_scheduler.FactorScheduler(step=5, base_lr=0.3)
    opt = mx.optimizer.SGD(learning_rate=0.7, lr_scheduler=sched)
    assert sched.base_lr == 0.7 and opt.learning_rate == 0.7
    with pytest.raises(UserWarning):
        opt.set_learning_rate(0.1)


class _FakeSym:
    def attr_dict(self):
        return {'fc_weight': {'__lr_mult__': '2.0'}, 'fc_bias': {'__wd_mult__': '3'}}

    def list_arguments(self):
        return ['data', 'fc_weight', 'fc_bias', 'bn_gamma', 'bn_beta']


def test_lr_and_wd_mult_tables():
    idx2name = {0: 'fc_weight', 1: 'fc_bias', 2: 'bn_gamma', 3: 'bn_beta'}
    opt = mx.optimizer.SGD(learning_rate=0.1, wd=0.5, sym=_FakeSym(), param_idx2name=idx2name)
    assert opt.lr_mult == {'fc_weight': 2.0}
    assert opt.wd_mult == {'fc_bias': 3.0, 'bn_beta': 0.0}
    assert [opt._get_lr(i) for i in range(4)] == pytest.approx([0.2, 0.1, 0.1, 0.1])
    assert [opt._get_wd(i) for i in range(4)] == pytest.approx([0.5, 1.5, 0.5, 0.0])
    opt.set_wd_mult({'bn_gamma': 0.0})
    assert opt._get_wd(2) == 0.0
    opt.set_lr_mult({3: 10.0})
    assert opt._get_lr(3) == pytest.approx(1.0)


def test_multi_precision_keeps_fp32_master():
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, multi_precision=True)
    weight = NDArray(np.ones(4, dtype=np.float16))
    state = opt.create_state_multi_precision(0, weight)
    # MXNet's SGD: (momentum, float32 master copy)
    assert state[0].dtype == np.float32 and state[1].dtype == np.float32
    opt.update_multi_precision(0, weight, NDArray(np.full(4, 1e-3, dtype=np.float16)), state)
    assert weight.dtype == np.float16
    np.testing.assert_allclose(state[1].asnumpy(), 1 - 1e-4, rtol=1e-6)
    np.testing.assert_allclose(state[0].asnumpy(), -0.1 * float(np.float16(1e-3)), rtol=1e-6)


def test_get_set_states_round_trip():
    opt = mx.optimizer.Adam(learning_rate=0.1)
    updater = mx.optimizer.get_updater(opt)
    weight = NDArray(np.ones((2, 2), dtype=np.float32))
    updater(0, NDArray(np.full((2, 2), 0.5, dtype=np.float32)), weight)
    blob = updater.get_states()
    other = mx.optimizer.get_updater(mx.optimizer.Adam(learning_rate=0.1))
    other.set_states(blob)
    assert set(other.states) == {0}
    for a, b in zip(other.states[0], updater.states[0]):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    dumped = mx.optimizer.get_updater(mx.optimizer.SGD())
    dumped.set_states(updater.get_states(dump_optimizer=True))
    assert isinstance(dumped.optimizer, mx.optimizer.Adam)
    assert dumped.optimizer.num_update == 1 and dumped.optimizer.param_dict == {}
    with pytest.raises(ValueError, match='dict'):
        dumped.set_states(pickle.dumps([1, 2]))


def test_lenet_states_file_unpickles_into_momentum(shared_dir):
    import json
    manifest = json.loads((shared_dir / 'mxnet' / 'manifest.json').read_text())
    net = manifest['nets']['lenet']
    params = [n for n in net['list_arguments'] if n not in ('data', 'softmax_label')]
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9))
    updater.set_states((shared_dir / 'mxnet' / 'lenet-0001.states').read_bytes())
    assert sorted(updater.states) == list(range(len(params)))
    for index, name in enumerate(params):
        state = updater.states[index]
        assert isinstance(state, NDArray)
        assert list(state.shape) == net['params_keys']['arg:' + name][0]
        assert np.isfinite(state.asnumpy()).all()
