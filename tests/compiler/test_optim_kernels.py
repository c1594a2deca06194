"""The compiled optimizer kernels against NumPy transcriptions of MXNet 1.x's update rules.

Each case runs 100 updates of a weight (with weight decay) and a bias (MXNet's no-wd rule)
through the generated C: float64 through an Executor, float32 through Module.update.
"""
import math

import numpy as np
import pytest

import mxc as mx
from mxc.compiler import optimizers as kernels
from mxc.executor import Executor

R, C, WD = 0.5, 0.3, 0.01          # rescale_grad, clip_gradient, wd of every case
W_SHAPE, B_SHAPE = (3, 4), (3,)


def clip(x, bound=C):
    return np.clip(x, -bound, bound)


# -- references: step(t, lr, wd, w, g, s) -> new w; s: dict of states mutated in place ---------

def ref_sgd(t, lr, wd, w, g, s):
    return (1 - lr * wd) * w - lr * clip(R * g)


def ref_sgd_mom(t, lr, wd, w, g, s):
    s['mom'] = 0.9 * s['mom'] - lr * wd * w - lr * clip(R * g)
    return w + s['mom']


def ref_nag(t, lr, wd, w, g, s):
    # nag_mom_update(out=weight): the momentum's wd term reads the freshly written weight
    cg = clip(R * g)
    m = 0.9 * s['mom']
    new_w = w - m + 1.9 * (m - lr * (cg + wd * w))
    s['mom'] = m - lr * (cg + wd * new_w)
    return new_w


def ref_adam(t, lr, wd, w, g, s):
    lr_t = lr * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    gp = clip(R * g + wd * w)
    s['m'] = 0.9 * s['m'] + 0.1 * gp
    s['v'] = 0.999 * s['v'] + 0.001 * gp * gp
    return w - lr_t * s['m'] / (np.sqrt(s['v']) + 1e-8)


def ref_rmsprop(t, lr, wd, w, g, s):
    gp = clip(R * g + wd * w)
    s['n'] = 0.1 * gp * gp + 0.9 * s['n']
    return clip(w - lr * gp / np.sqrt(s['n'] + 1e-8), 0.5)


def ref_rmsprop_centered(t, lr, wd, w, g, s):
    gp = clip(R * g + wd * w)
    s['n'] = 0.1 * gp * gp + 0.9 * s['n']
    s['gbar'] = 0.1 * gp + 0.9 * s['gbar']
    s['delta'] = 0.9 * s['delta'] - lr * gp / np.sqrt(s['n'] - s['gbar'] ** 2 + 1e-8)
    return w + s['delta']


def ref_adagrad(t, lr, wd, w, g, s):
    gp = clip(R * g)
    s['hist'] = s['hist'] + gp * gp
    return w + (gp / np.sqrt(s['hist'] + 1e-7) + w * wd) * -lr


def ref_adadelta(t, lr, wd, w, g, s):
    gp = clip(R * g)
    s['acc_g'] = 0.9 * s['acc_g'] + 0.1 * gp * gp
    delta = np.sqrt(s['acc_delta'] + 1e-5) / np.sqrt(s['acc_g'] + 1e-5) * gp
    s['acc_delta'] = 0.9 * s['acc_delta'] + 0.1 * delta * delta
    return w - (delta + wd * w)


def ref_ftrl(t, lr, wd, w, g, s):
    gp = clip(R * g)
    s['z'] = s['z'] + gp - (np.sqrt(s['n'] + gp * gp) - np.sqrt(s['n'])) * w / lr
    s['n'] = s['n'] + gp * gp
    z = s['z']
    return (np.sign(z) * 0.01 - z) / ((1 + np.sqrt(s['n'])) / lr + wd) * (np.abs(z) > 0.01)


def ref_signum(t, lr, wd, w, g, s):
    s['mom'] = 0.9 * s['mom'] - 0.1 * wd * w - 0.1 * clip(R * g)
    return (1 - lr * 0.0) * w + lr * np.sign(s['mom'])


def ref_signsgd(t, lr, wd, w, g, s):
    return (1 - lr * wd) * w - lr * np.sign(g)


def ref_ftml(t, lr, wd, w, g, s):
    b1, b2 = 0.6, 0.999
    gp = clip(R * g + wd * w)
    s['v'] = b2 * s['v'] + (1 - b2) * gp * gp
    d_t = (1 - b1 ** t) / lr * (np.sqrt(s['v'] / (1 - b2 ** t)) + 1e-8)
    s['z'] = b1 * s['z'] + (1 - b1) * gp - (d_t - b1 * s['d']) * w
    s['d'] = d_t
    return -s['z'] / d_t


def ref_lamb(t, lr, wd, w, g, s):
    gp = clip(R * g)
    s['mean'] = 0.9 * s['mean'] + 0.1 * gp
    s['var'] = 0.999 * s['var'] + 0.001 * gp * gp
    m_hat = s['mean'] / (1 - 0.9 ** t)
    v_hat = s['var'] / (1 - 0.999 ** t)
    step = m_hat / (np.sqrt(v_hat) + 1e-6) + wd * w
    r1, r2 = np.sqrt(np.sum(w * w)), np.sqrt(np.sum(step * step))
    ratio = 1.0 if r1 == 0 or r2 == 0 else r1 / r2
    return w - lr * ratio * step


def ref_adamax(t, lr, wd, w, g, s):
    lr_t = lr / (1 - 0.9 ** t)
    gp = clip(R * g + wd * w)
    s['m'] = 0.9 * s['m'] + 0.1 * gp
    s['u'] = np.maximum(0.999 * s['u'], np.abs(gp))
    return w - lr_t * s['m'] / s['u']


def ref_nadam(t, lr, wd, w, g, s, shared):
    gp = clip(R * g + wd * w)
    mu_t = 0.9 * (1 - 0.5 * 0.96 ** (t * 0.004))
    mu_next = 0.9 * (1 - 0.5 * 0.96 ** ((t + 1) * 0.004))
    shared['sched'] *= mu_t                      # one schedule for all parameters, as MXNet
    s['m'] = 0.9 * s['m'] + 0.1 * gp
    s['v'] = 0.999 * s['v'] + 0.001 * gp * gp
    m_bar = (1 - mu_t) * gp / (1 - shared['sched']) \
        + mu_next * s['m'] / (1 - shared['sched'] * mu_next)
    return w - lr * m_bar / (np.sqrt(s['v'] / (1 - 0.999 ** t)) + 1e-8)


def factor_lr(t):
    """FactorScheduler(step=10, factor=0.5, base_lr=0.1) at update count t."""
    return 0.1 * 0.5 ** ((t - 1) // 10)


CASES = [
    # id, optimizer name, kwargs, lr (number or fn of t), reference, kernel kind, state names
    ('sgd', 'sgd', {}, 0.1, ref_sgd, 'sgd', []),
    ('sgd_mom', 'sgd', dict(momentum=0.9), 0.1, ref_sgd_mom, 'sgd_mom', ['mom']),
    ('sgd_mom_factor', 'sgd', dict(momentum=0.9), factor_lr, ref_sgd_mom, 'sgd_mom', ['mom']),
    ('nag', 'nag', dict(momentum=0.9), 0.1, ref_nag, 'nag', ['mom']),
    ('adam', 'adam', {}, 0.01, ref_adam, 'adam', ['m', 'v']),
    ('rmsprop', 'rmsprop', dict(clip_weights=0.5), 0.01, ref_rmsprop, 'rmsprop', ['n']),
    ('rmsprop_centered', 'rmsprop', dict(centered=True), 0.01, ref_rmsprop_centered,
     'rmsprop_centered', ['n', 'gbar', 'delta']),
    ('adagrad', 'adagrad', {}, 0.1, ref_adagrad, 'adagrad', ['hist']),
    ('adadelta', 'adadelta', {}, 1.0, ref_adadelta, 'adadelta', ['acc_g', 'acc_delta']),
    ('ftrl', 'ftrl', {}, 0.1, ref_ftrl, 'ftrl', ['z', 'n']),
    ('signum', 'signum', {}, 0.01, ref_signum, 'signum', ['mom']),
    ('signsgd', 'signum', dict(momentum=0.0), 0.01, ref_signsgd, 'signsgd', []),
    ('ftml', 'ftml', {}, 0.01, ref_ftml, 'ftml', ['d', 'v', 'z']),
    ('lamb', 'lamb', {}, 0.01, ref_lamb, 'lamb', ['mean', 'var']),
    ('adamax', 'adamax', {}, 0.01, ref_adamax, 'adamax', ['m', 'u']),
    ('nadam', 'nadam', {}, 0.01, ref_nadam, 'nadam', ['m', 'v']),
]
IDS = [c[0] for c in CASES]


def _make_optimizer(name, kwargs, lr):
    extra = {}
    if callable(lr):
        extra['lr_scheduler'] = mx.lr_scheduler.FactorScheduler(step=10, factor=0.5,
                                                                base_lr=0.1)
    else:
        extra['learning_rate'] = lr
    return mx.optimizer.create(name, wd=WD, rescale_grad=R, clip_gradient=C,
                               param_idx2name={0: 'fc_weight', 1: 'fc_bias'},
                               **extra, **kwargs)


def _reference(case, w0, b0, grads, bgrads):
    _id, _name, _kw, lr, ref, _kind, states = case
    w, b = w0.copy(), b0.copy()
    sw = {k: np.zeros_like(w0) for k in states}
    sb = {k: np.zeros_like(b0) for k in states}
    shared = {'sched': 1.0}
    for t in range(1, 101):
        lr_t = lr(t) if callable(lr) else lr
        extra = (shared,) if ref is ref_nadam else ()
        w = ref(t, lr_t, WD, w, grads[t - 1], sw, *extra)
        b = ref(t, lr_t, 0.0, b, bgrads[t - 1], sb, *extra)     # bias: no weight decay
    return w, b


def _data(seed=11):
    rng = np.random.RandomState(seed)
    w0 = rng.uniform(-1, 1, size=W_SHAPE)
    b0 = rng.uniform(-1, 1, size=B_SHAPE)
    return w0, b0, rng.normal(0, 1.5, size=(100,) + W_SHAPE), \
        rng.normal(0, 1.5, size=(100,) + B_SHAPE)


def _net():
    data = mx.sym.Variable('data')
    fc = mx.sym.FullyConnected(data, num_hidden=3, name='fc')
    return mx.sym.SoftmaxOutput(fc, name='softmax')


def test_runtime_layout_is_the_compiler_registry():
    assert mx.optimizer.C_HYPER_LAYOUT == {k: v[1] for k, v in kernels.KERNELS.items()}
    assert max(len(v[1]) for v in kernels.KERNELS.values()) <= kernels.MAX_HYPER
    for case in CASES:
        opt = _make_optimizer(case[1], case[2], case[3])
        assert opt._c_kernel() == (case[5], kernels.n_states(case[5]))


@pytest.fixture(scope="module")
def executor64():
    return Executor(_net(), {'data': (2, 4), 'softmax_label': (2,)}, data_names=['data'],
                    label_names=['softmax_label'], dtype="float64")


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_float64_kernels_match_mxnet_rule(case, executor64):
    ex = executor64
    w0, b0, grads, bgrads = _data()
    opt = _make_optimizer(case[1], case[2], case[3])
    kind, n_states = opt._c_kernel()
    ex.arg_arrays['fc_weight'][...] = w0
    ex.arg_arrays['fc_bias'][...] = b0
    names = [a.name for a in ex.plan.params]
    index = {'fc_weight': 0, 'fc_bias': 1}
    state = np.zeros(max(n_states * ex.param_span, 1), dtype=np.float64)
    for t in range(100):
        ex.grad_arrays['fc_weight'][...] = grads[t]
        ex.grad_arrays['fc_bias'][...] = bgrads[t]
        hyper = np.zeros((1, len(names), kernels.MAX_HYPER))
        for name in ('fc_weight', 'fc_bias'):          # MXNet's update order: by index
            h = opt._c_hyper(index[name])
            hyper[0, names.index(name), :len(h)] = h
        ex.update(state, kind, hyper)
    ref_w, ref_b = _reference(case, w0, b0, grads, bgrads)
    np.testing.assert_allclose(ex.arg_arrays['fc_weight'], ref_w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ex.arg_arrays['fc_bias'], ref_b, rtol=1e-6, atol=1e-6)
    assert not np.allclose(ex.arg_arrays['fc_weight'], w0)


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_float32_module_update_matches_mxnet_rule(case):
    w0, b0, grads, bgrads = _data(5)
    mod = mx.mod.Module(_net(), data_names=['data'], label_names=['softmax_label'])
    mod.bind(data_shapes=[('data', (2, 4))], label_shapes=[('softmax_label', (2,))])
    mod.init_params(arg_params={'fc_weight': mx.nd.array(w0), 'fc_bias': mx.nd.array(b0)})
    opt = _make_optimizer(case[1], case[2], case[3])
    mod.init_optimizer(optimizer=opt)
    assert mod._opt_kernel is not None, "the update must run in the compiled kernel"
    ex = mod._exec
    for t in range(100):
        ex.grad_arrays['fc_weight'][...] = grads[t]
        ex.grad_arrays['fc_bias'][...] = bgrads[t]
        mod.update()
    w32 = np.asarray(w0, np.float32).astype(np.float64)
    b32 = np.asarray(b0, np.float32).astype(np.float64)
    g32 = grads.astype(np.float32).astype(np.float64)
    bg32 = bgrads.astype(np.float32).astype(np.float64)
    ref_w, ref_b = _reference(case, w32, b32, g32, bg32)
    arg, _ = mod.get_params()
    np.testing.assert_allclose(arg['fc_weight'].asnumpy(), ref_w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(arg['fc_bias'].asnumpy(), ref_b, rtol=1e-5, atol=1e-5)
