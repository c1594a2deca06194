import json
import math

import numpy as np
import pytest

import mxc as mx
from mxc.initializer import InitDesc
from mxc.ndarray import NDArray


def _init(initializer, name, shape, attrs=None, seed=0):
    np.random.seed(seed)
    arr = NDArray(np.full(shape, -99.0, dtype=np.float32))
    initializer(InitDesc(name, attrs), arr)
    return arr.asnumpy()


def test_uniform_default_scale_bounds_and_moments():
    w = _init(mx.init.Uniform(), 'fc_weight', (200, 100))
    assert w.min() >= -0.07 and w.max() <= 0.07
    assert abs(w.mean()) < 0.002
    assert w.std() == pytest.approx(0.07 / math.sqrt(3), rel=0.02)


def test_normal_moments():
    w = _init(mx.init.Normal(0.5), 'fc_weight', (200, 100))
    assert abs(w.mean()) < 0.01
    assert w.std() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize('rnd_type,factor_type', [('uniform', 'avg'), ('gaussian', 'in'),
                                                  ('uniform', 'out')])
def test_xavier_scale(rnd_type, factor_type):
    shape = (64, 32, 3, 3)
    hw = 9.0
    fan = {'avg': (32 * hw + 64 * hw) / 2, 'in': 32 * hw, 'out': 64 * hw}[factor_type]
    scale = math.sqrt(2.0 / fan)
    w = _init(mx.init.Xavier(rnd_type, factor_type, magnitude=2), 'conv_weight', shape)
    if rnd_type == 'uniform':
        assert w.min() >= -scale and w.max() <= scale
        assert w.std() == pytest.approx(scale / math.sqrt(3), rel=0.02)
    else:
        assert w.std() == pytest.approx(scale, rel=0.02)
    with pytest.raises(ValueError, match='at least 2D'):
        _init(mx.init.Xavier(), 'v_weight', (5,))


def test_msraprelu_is_gaussian_xavier():
    w = _init(mx.init.MSRAPrelu(slope=0.0), 'fc_weight', (256, 128))
    assert w.std() == pytest.approx(math.sqrt(2.0 / ((256 + 128) / 2.0)), rel=0.02)
    assert mx.init.MSRAPrelu().dumps() == '["msraprelu", {"factor_type": "avg", "slope": 0.25}]'


@pytest.mark.parametrize('rand_type', ['uniform', 'normal'])
def test_orthogonal_rows_or_columns_are_orthonormal(rand_type):
    w = _init(mx.init.Orthogonal(scale=2.0, rand_type=rand_type), 'a_weight', (4, 2, 3))
    flat = w.reshape(4, 6) / 2.0
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-5)
    tall = _init(mx.init.Orthogonal(scale=1.0), 'b_weight', (6, 3)).reshape(6, 3)
    np.testing.assert_allclose(tall.T @ tall, np.eye(3), atol=1e-5)


def test_seeding_reproduces():
    a = _init(mx.init.Uniform(0.1), 'fc_weight', (5, 5), seed=3)
    b = _init(mx.init.Uniform(0.1), 'fc_weight', (5, 5), seed=3)
    np.testing.assert_array_equal(a, b)


def test_dispatch_by_name_suffix():
    init = mx.init.Uniform(0.5)
    assert (_init(init, 'fc_bias', (3,)) == 0).all()
    assert (_init(init, 'bn_gamma', (3,)) == 1).all()
    assert (_init(init, 'bn_beta', (3,)) == 0).all()
    assert (_init(init, 'q_min', (1,)) == 0).all()
    assert (_init(init, 'q_max', (1,)) == 1).all()
    assert np.abs(_init(init, 'fcweight', (3, 3))).max() <= 0.5   # plain endswith
    with pytest.raises(ValueError, match='Unknown initialization pattern for bn_moving_mean'):
        _init(init, 'bn_moving_mean', (3,))


def test_dispatch_by_init_attr_first():
    init = mx.init.Uniform()
    assert (_init(init, 'bn_moving_mean', (3,), {'__init__': '["zero", {}]'}) == 0).all()
    assert (_init(init, 'bn_moving_var', (3,), {'__init__': '["one", {}]'}) == 1).all()
    prelu = _init(init, 'act_gamma', (4,), {'__init__': mx.init.Constant(0.25).dumps()})
    assert (prelu == 0.25).all()
    # the attribute wins over the bias rule
    assert (_init(init, 'fc_bias', (2,), {'__init__': '["constant", {"value": 3}]'}) == 3).all()


def test_legacy_string_path():
    init = mx.init.Uniform()
    for name, value in [('bn_moving_mean', 0), ('bn_moving_var', 1), ('x_moving_inv_var', 0),
                        ('fc_bias', 0), ('bn_gamma', 1)]:
        arr = NDArray(np.full((3,), -5.0, dtype=np.float32))
        with pytest.warns(DeprecationWarning):
            init(name, arr)
        assert (arr.asnumpy() == value).all(), name
    loc = NDArray(np.zeros(6, dtype=np.float32))
    with pytest.warns(DeprecationWarning):
        init('stn_loc_bias', loc)
    np.testing.assert_array_equal(loc.asnumpy(), [1, 0, 0, 0, 1, 0])


def test_constant_zero_one_lstmbias_bilinear():
    assert (_init(mx.init.Zero(), 'a_weight', (2, 2)) == 0).all()
    assert (_init(mx.init.One(), 'a_weight', (2, 2)) == 1).all()
    row = _init(mx.init.Constant([1.0, 2.0]), 'a_weight', (3, 2))
    np.testing.assert_array_equal(row, [[1, 2]] * 3)
    lstm = _init(mx.init.LSTMBias(forget_bias=2.5), 'l_weight', (8,))
    np.testing.assert_array_equal(lstm, [0, 0, 2.5, 2.5, 0, 0, 0, 0])
    bil = _init(mx.init.Bilinear(), 'up_weight', (1, 1, 4, 4))
    f = math.ceil(4 / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    kernel_1d = np.array([1 - abs(x / f - c) for x in range(4)])
    np.testing.assert_allclose(bil[0, 0], np.outer(kernel_1d, kernel_1d), rtol=1e-6)


def test_dumps_and_create_round_trip():
    assert mx.init.Uniform().dumps() == '["uniform", {"scale": 0.07}]'
    assert json.loads(mx.init.Xavier(factor_type='in').dumps()) == \
        ['xavier', {'rnd_type': 'uniform', 'factor_type': 'in', 'magnitude': 3}]
    assert json.loads(mx.init.Constant(np.array([1.0, 2.0])).dumps()) == \
        ['constant', {'value': [1.0, 2.0]}]
    for name in ['zero', 'zeros', 'one', 'ones', 'constant', 'uniform', 'normal', 'orthogonal',
                 'xavier', 'msraprelu', 'bilinear', 'lstmbias']:
        assert name in mx.init._REGISTRY
    again = mx.init.create(mx.init.Normal(0.3).dumps())
    assert isinstance(again, mx.init.Normal) and again.sigma == 0.3
    assert isinstance(mx.init.create('Ones'), mx.init.One)
    with pytest.raises(AssertionError, match='not registered'):
        mx.init.create('load')


def test_register_custom_initializer():
    @mx.init.register
    class Twos(mx.init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 2

    attr = {'__init__': Twos().dumps()}
    assert (_init(mx.init.Zero(), 'x_state', (2,), attr) == 2).all()


def test_load_strips_prefixes_and_uses_default():
    params = {'arg:fc_weight': NDArray(np.arange(6, dtype=np.float32).reshape(2, 3)),
              'aux:bn_moving_mean': np.ones(3, dtype=np.float32)}
    loader = mx.init.Load(params, default_init=mx.init.Constant(7))
    w = NDArray(np.zeros((2, 3), dtype=np.float32))
    loader('fc_weight', w)
    np.testing.assert_array_equal(w.asnumpy(), np.arange(6).reshape(2, 3))
    mm = NDArray(np.zeros(3, dtype=np.float32))
    loader('bn_moving_mean', mm)
    assert (mm.asnumpy() == 1).all()
    other = NDArray(np.zeros(2, dtype=np.float32))
    loader(InitDesc('fc2_weight'), other)
    assert (other.asnumpy() == 7).all()
    with pytest.raises(AssertionError, match='Shape mismatch'):
        loader('fc_weight', NDArray(np.zeros((3, 2), dtype=np.float32)))
    with pytest.raises(AssertionError, match='no default Initializer'):
        mx.init.Load(params)('missing_weight', other)


def test_mixed_first_match_and_no_match():
    mixed = mx.init.Mixed(['fc.*', '.*'], [mx.init.Constant(5), mx.init.Zero()])
    a = NDArray(np.ones((2, 2), dtype=np.float32))
    mixed(InitDesc('fc1_weight'), a)
    assert (a.asnumpy() == 5).all()
    b = NDArray(np.ones((2, 2), dtype=np.float32))
    mixed(InitDesc('conv_weight'), b)
    assert (b.asnumpy() == 0).all()
    only = mx.init.Mixed(['fc.*'], [mx.init.One()])
    with pytest.raises(ValueError, match='did not match any pattern'):
        only(InitDesc('xfc_weight'), b)   # re.match is anchored at the start


def test_numpy_target_and_verbosity(caplog):
    arr = np.zeros((3, 3), dtype=np.float32)
    init = mx.init.One().set_verbosity(True)
    with caplog.at_level('INFO'):
        init(InitDesc('m_weight'), arr)
    assert (arr == 1).all()
    assert 'Initialized m_weight as weight: 1.0' in caplog.text


def test_constant_dumps_keeps_its_arguments_as_json_values():
    for value in (mx.nd.ones((2, 3)), np.full((3,), 0.5)):
        init = mx.init.Constant(value)
        text = init.dumps()
        assert text == json.dumps(["constant", init._kwargs])      # _kwargs is plain JSON
        assert json.loads(text)[1]["value"] == np.asarray(
            value.asnumpy() if hasattr(value, "asnumpy") else value).tolist()
    assert mx.init.Constant(1).dumps() == '["constant", {"value": 1}]'
