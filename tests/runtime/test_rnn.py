"""mx.rnn: cells against NumPy recurrences, names as MXNet 1.9 generates them, gradients vs
central differences, weight packing, the bucketing sentence iterator, RNN checkpoints and a
small language model trained with BucketingModule and Module.fit."""
import math
import os
import random

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError

# -- NumPy references ----------------------------------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _fc(x, w, b):
    return x @ w.T + b


def np_rnn_step(x, states, p, prefix, act):
    h = act(_fc(x, p[prefix + 'i2h_weight'], p[prefix + 'i2h_bias'])
            + _fc(states[0], p[prefix + 'h2h_weight'], p[prefix + 'h2h_bias']))
    return h, [h]


def np_lstm_step(x, states, p, prefix):
    gates = _fc(x, p[prefix + 'i2h_weight'], p[prefix + 'i2h_bias']) \
        + _fc(states[0], p[prefix + 'h2h_weight'], p[prefix + 'h2h_bias'])
    i, f, g, o = np.split(gates, 4, axis=1)
    c = _sigmoid(f) * states[1] + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    return h, [h, c]


def np_gru_step(x, states, p, prefix):
    xr, xz, xn = np.split(_fc(x, p[prefix + 'i2h_weight'], p[prefix + 'i2h_bias']), 3, axis=1)
    hr, hz, hn = np.split(_fc(states[0], p[prefix + 'h2h_weight'], p[prefix + 'h2h_bias']),
                          3, axis=1)
    r = _sigmoid(xr + hr)
    z = _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    h = (1 - z) * n + z * states[0]
    return h, [h]


def np_unroll(step, xs, states):
    outs = []
    for x in xs:
        out, states = step(x, states)
        outs.append(out)
    return outs, states


def _relu(x):
    return np.maximum(x, 0)


GATES = {'rnn_tanh': 1, 'rnn_relu': 1, 'lstm': 4, 'gru': 3}


def make_cell(mode, hidden, prefix):
    if mode == 'rnn_tanh':
        return mx.rnn.RNNCell(hidden, activation='tanh', prefix=prefix)
    if mode == 'rnn_relu':
        return mx.rnn.RNNCell(hidden, activation='relu', prefix=prefix)
    if mode == 'lstm':
        return mx.rnn.LSTMCell(hidden, prefix=prefix)
    return mx.rnn.GRUCell(hidden, prefix=prefix)


def np_step(mode, prefix, params):
    if mode == 'rnn_tanh':
        return lambda x, s: np_rnn_step(x, s, params, prefix, np.tanh)
    if mode == 'rnn_relu':
        return lambda x, s: np_rnn_step(x, s, params, prefix, _relu)
    if mode == 'lstm':
        return lambda x, s: np_lstm_step(x, s, params, prefix)
    return lambda x, s: np_gru_step(x, s, params, prefix)


def random_cell_params(rs, mode, prefix, num_input, hidden, scale=0.5):
    g = GATES[mode]
    return {prefix + 'i2h_weight': rs.uniform(-scale, scale, (g * hidden, num_input)),
            prefix + 'i2h_bias': rs.uniform(-scale, scale, (g * hidden,)),
            prefix + 'h2h_weight': rs.uniform(-scale, scale, (g * hidden, hidden)),
            prefix + 'h2h_bias': rs.uniform(-scale, scale, (g * hidden,))}


def state_vars(prefix, count):
    return [mx.sym.Variable('%sh%d' % (prefix, k)) for k in range(count)]


# -- names ---------------------------------------------------------------------------------------

def test_lstm_names_as_mxnet():
    # MXNet 1.9: LSTMCell(prefix='lstm_') unrolled over three step inputs names its weights
    # <prefix>{i2h,h2h}_{weight,bias}, its step outputs <prefix>t<k>_out, its cell state
    # <prefix>t<k>_state, and the nodes <prefix>t<k>_{i2h,h2h,slice,i,f,c,o}.
    cell = mx.rnn.LSTMCell(6, prefix='lstm_')
    inputs = [mx.sym.Variable('t%d_data' % k) for k in range(3)]
    begin = [mx.sym.Variable('h0'), mx.sym.Variable('c0')]
    outputs, states = cell.unroll(3, inputs, begin_state=begin)
    group = mx.sym.Group(outputs)
    assert sorted(cell.params._params) == ['lstm_h2h_bias', 'lstm_h2h_weight',
                                           'lstm_i2h_bias', 'lstm_i2h_weight']
    assert group.list_outputs() == ['lstm_t0_out_output', 'lstm_t1_out_output',
                                    'lstm_t2_out_output']
    assert group.list_arguments() == ['t0_data', 'lstm_i2h_weight', 'lstm_i2h_bias', 'h0',
                                      'lstm_h2h_weight', 'lstm_h2h_bias', 'c0',
                                      't1_data', 't2_data']
    assert [s.name for s in states] == ['lstm_t2_out', 'lstm_t2_state']
    internals = group.get_internals().list_outputs()
    for name in ['lstm_t0_i2h_output', 'lstm_t0_h2h_output', 'lstm_t0_slice_output0',
                 'lstm_t0_slice_output3', 'lstm_t1_i_output', 'lstm_t1_f_output',
                 'lstm_t1_c_output', 'lstm_t1_o_output', 'lstm_t2_state_output']:
        assert name in internals
    # forget_bias travels as the i2h bias's initializer attribute (LSTMBias)
    attrs = group.attr_dict()['lstm_i2h_bias']
    assert mx.init.create(attrs['__init__']).forget_bias == 1.0


def test_gru_rnn_names_as_mxnet():
    gru = mx.rnn.GRUCell(4, prefix='gru_')
    out, _ = gru.unroll(2, [mx.sym.Variable('a'), mx.sym.Variable('b')],
                        begin_state=[mx.sym.Variable('h')])
    internals = mx.sym.Group(out).get_internals().list_outputs()
    # GRUCell's node names carry a doubled underscore ('%s_i2h' % 'gru_t0_')
    for name in ['gru_t0__i2h_output', 'gru_t0__h2h_output', 'gru_t0__i2h_slice_output2',
                 'gru_t0__r_act_output', 'gru_t0__z_act_output', 'gru_t0__h_act_output',
                 'gru_t1_out_output']:
        assert name in internals
    rnn = mx.rnn.RNNCell(4, prefix='rnn_')
    out, _ = rnn.unroll(2, mx.sym.Variable('data'), begin_state=[mx.sym.Variable('h')])
    assert mx.sym.Group(out).list_outputs() == ['rnn_t0_out_output', 'rnn_t1_out_output']
    assert mx.sym.Group(out).list_arguments() == ['data', 'rnn_i2h_weight', 'rnn_i2h_bias',
                                                  'h', 'rnn_h2h_weight', 'rnn_h2h_bias']


def test_begin_state_names_and_variables():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(3, prefix='lstm_l0_'))
    stack.add(mx.rnn.GRUCell(3, prefix='gru_l1_'))
    states = stack.begin_state(func=mx.sym.Variable)
    assert [s.name for s in states] == ['lstm_l0_begin_state_0', 'lstm_l0_begin_state_1',
                                        'gru_l1_begin_state_0']
    # the state's layout travels as an attribute, as in MXNet
    assert states[0].attr('__layout__') == 'NC'
    assert stack.state_info == [{'shape': (0, 3), '__layout__': 'NC'}] * 3
    # numbering continues until reset()
    assert [s.name for s in stack.begin_state(func=mx.sym.Variable)][0] == \
        'lstm_l0_begin_state_2'
    stack.reset()
    assert stack.begin_state(func=mx.sym.Variable)[0].name == 'lstm_l0_begin_state_0'
    outputs, _ = stack.unroll(2, mx.sym.Variable('data'), begin_state=states)
    assert mx.sym.Group(outputs).list_arguments() == [
        'data', 'lstm_l0_i2h_weight', 'lstm_l0_i2h_bias', 'lstm_l0_begin_state_0',
        'lstm_l0_h2h_weight', 'lstm_l0_h2h_bias', 'lstm_l0_begin_state_1',
        'gru_l1_i2h_weight', 'gru_l1_i2h_bias', 'gru_l1_begin_state_0',
        'gru_l1_h2h_weight', 'gru_l1_h2h_bias']


def test_zeros_begin_state_infers_batch():
    cell = mx.rnn.LSTMCell(5, prefix='lstm_')
    out, _ = cell.unroll(3, mx.sym.Variable('data'), merge_outputs=True)
    assert out.list_arguments() == ['data', 'lstm_i2h_weight', 'lstm_i2h_bias',
                                    'lstm_h2h_weight', 'lstm_h2h_bias']
    internals = out.get_internals().list_outputs()
    assert 'lstm_begin_state_0_output' in internals and \
        'lstm_begin_state_1_output' in internals
    _, out_shapes, _ = out.infer_shape(data=(4, 3, 2))
    assert out_shapes == [(4, 3, 5)]


def test_shared_params():
    # RNNParams shares weights: two cells, one set of variables, their own node names.
    shared = mx.rnn.RNNParams('enc_')
    a = mx.rnn.LSTMCell(4, prefix='a_', params=shared)
    b = mx.rnn.LSTMCell(4, prefix='b_', params=shared)
    out_a, _ = a.unroll(1, [mx.sym.Variable('x')], begin_state=state_vars('sa_', 2))
    out_b, _ = b.unroll(1, [mx.sym.Variable('y')], begin_state=state_vars('sb_', 2))
    net = mx.sym.Group(out_a + out_b)
    assert net.list_outputs() == ['a_t0_out_output', 'b_t0_out_output']
    assert [n for n in net.list_arguments() if n.startswith('enc_')] == \
        ['enc_i2h_weight', 'enc_i2h_bias', 'enc_h2h_weight', 'enc_h2h_bias']
    assert a.params is b.params
    stack = mx.rnn.SequentialRNNCell(params=mx.rnn.RNNParams('s_'))
    with pytest.raises(MXNetError, match="not both"):
        stack.add(mx.rnn.GRUCell(3, params=shared))


def test_stack_bidirectional_unfuse_names():
    # FusedRNNCell(prefix='test_', 2 layers, bidirectional, dropout).unfuse() in MXNet 1.9:
    # cells test_l<k>_ / test_r<k>_, outputs test_bi_l<k>_t<step>, dropout between layers.
    fused = mx.rnn.FusedRNNCell(4, num_layers=2, mode='gru', prefix='test_',
                                bidirectional=True, dropout=0.5)
    stack = fused.unfuse()
    assert [type(c).__name__ for c in stack._cells] == ['BidirectionalCell', 'DropoutCell',
                                                        'BidirectionalCell']
    inputs = [mx.sym.Variable('x%d' % k) for k in range(2)]
    begin = stack.begin_state(func=mx.sym.Variable)
    outputs, states = stack.unroll(2, inputs, begin_state=begin)
    group = mx.sym.Group(outputs)
    assert group.list_outputs() == ['test_bi_l1_t0_output', 'test_bi_l1_t1_output']
    assert sorted(stack.params._params) == sorted(
        'test_%s%d_%s_%s' % (d, l, g, k) for d in 'lr' for l in range(2)
        for g in ('i2h', 'h2h') for k in ('weight', 'bias'))
    assert [s.name for s in begin] == ['test_l0_begin_state_0', 'test_r0_begin_state_0',
                                       'test_l1_begin_state_0', 'test_r1_begin_state_0']
    shapes = {'x0': (2, 3), 'x1': (2, 3)}
    shapes.update({s.name: (2, 4) for s in begin})
    _, out_shapes, _ = group.infer_shape(**shapes)
    assert out_shapes == [(2, 8), (2, 8)]
    # the final states of a bidirectional layer come as [left states, right states]
    assert len(states) == 4 and isinstance(states[0], list)


def test_residual_and_dropout_names():
    cell = mx.rnn.ResidualCell(mx.rnn.RNNCell(3, prefix='rnn_'))
    outputs, _ = cell.unroll(2, [mx.sym.Variable('a'), mx.sym.Variable('b')],
                             begin_state=[mx.sym.Variable('h')])
    assert mx.sym.Group(outputs).list_outputs() == ['rnn_t0_out_plus_residual_output',
                                                    'rnn_t1_out_plus_residual_output']
    with pytest.raises(MXNetError, match="modifier"):
        cell.base_cell.begin_state(func=mx.sym.Variable)
    assert [s.name for s in cell.begin_state(func=mx.sym.Variable)] == ['rnn_begin_state_0']
    drop = mx.rnn.DropoutCell(0.3)
    out, states = drop.unroll(4, mx.sym.Variable('data'), merge_outputs=True)
    assert states == [] and out.list_arguments() == ['data']
    with pytest.raises(MXNetError, match="dropout must be a number"):
        mx.rnn.DropoutCell('0.5')


def test_rnn_unroll_is_a_deprecated_unroll():
    cell = mx.rnn.GRUCell(3, prefix='g_')
    with pytest.warns(UserWarning, match="deprecated"):
        out, states = mx.rnn.rnn_unroll(cell, 2, mx.sym.Variable('data'),
                                        begin_state=[mx.sym.Variable('h')])
    assert mx.sym.Group(out).list_outputs() == ['g_t0_out_output', 'g_t1_out_output']
    assert [s.name for s in states] == ['g_t1_out']


def test_bad_input_is_a_clear_error():
    cell = mx.rnn.RNNCell(3, prefix='rnn_')
    with pytest.raises(MXNetError, match="length is 3 but 2"):
        cell.unroll(3, [mx.sym.Variable('a'), mx.sym.Variable('b')],
                    begin_state=[mx.sym.Variable('h')])
    with pytest.raises(MXNetError, match="inputs=None"):
        cell.unroll(3, None)
    with pytest.raises(MXNetError, match="layout"):
        cell.unroll(3, mx.sym.Variable('a'), layout='NC')
    with pytest.raises(MXNetError, match="FusedRNNCell: mode"):
        mx.rnn.FusedRNNCell(4, mode='lstmx')
    with pytest.raises(MXNetError, match="cannot be stepped"):
        mx.rnn.FusedRNNCell(4)(mx.sym.Variable('x'), [])


# -- forward against NumPy -----------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['rnn_tanh', 'rnn_relu', 'lstm', 'gru'])
def test_cell_forward_matches_numpy(mode):
    rs = np.random.RandomState(1)
    T, N, I, H = 3, 2, 4, 5
    prefix = mode + '_'
    cell = make_cell(mode, H, prefix)
    nstates = 2 if mode == 'lstm' else 1
    begin = state_vars(prefix, nstates)
    inputs = [mx.sym.Variable('x%d' % t) for t in range(T)]
    outputs, states = cell.unroll(T, inputs, begin_state=begin)
    net = mx.sym.Group(outputs + states)
    params = random_cell_params(rs, mode, prefix, I, H)
    xs = [rs.uniform(-1, 1, (N, I)) for _ in range(T)]
    h0 = [rs.uniform(-1, 1, (N, H)) for _ in range(nstates)]
    location = dict(params)
    location.update({'x%d' % t: xs[t] for t in range(T)})
    location.update({v.name: a for v, a in zip(begin, h0)})
    want_outs, want_states = np_unroll(np_step(mode, prefix, params), xs, h0)
    tu.check_symbolic_forward(net, location, want_outs + want_states, rtol=1e-5, atol=1e-6)


def test_stack_merged_layouts_match_numpy():
    # LSTM then GRU, one merged input Symbol; 'NTC' and 'TNC' give the same numbers.
    rs = np.random.RandomState(2)
    T, N, I, H = 2, 2, 3, 4
    params = random_cell_params(rs, 'lstm', 'l0_', I, H)
    params.update(random_cell_params(rs, 'gru', 'l1_', H, H))
    x = rs.uniform(-1, 1, (N, T, I))
    h0 = [rs.uniform(-1, 1, (N, H)) for _ in range(3)]
    outs, _ = np_unroll(np_step('lstm', 'l0_', params), list(x.transpose(1, 0, 2)), h0[:2])
    outs, _ = np_unroll(np_step('gru', 'l1_', params), outs, h0[2:])
    want = np.stack(outs, axis=1)                        # (N, T, H)
    for layout, data in (('NTC', x), ('TNC', x.transpose(1, 0, 2))):
        stack = mx.rnn.SequentialRNNCell()
        stack.add(mx.rnn.LSTMCell(H, prefix='l0_'))
        stack.add(mx.rnn.GRUCell(H, prefix='l1_'))
        begin = state_vars('s_', 3)
        out, _ = stack.unroll(T, mx.sym.Variable('data'), begin_state=begin, layout=layout,
                              merge_outputs=True)
        location = dict(params, data=data)
        location.update({v.name: a for v, a in zip(begin, h0)})
        expected = want if layout == 'NTC' else want.transpose(1, 0, 2)
        tu.check_symbolic_forward(out, location, [expected], rtol=1e-5, atol=1e-6)


def test_sequential_step_by_step_equals_unroll():
    # SequentialRNNCell.__call__ (one step at a time) builds the same recurrence.
    rs = np.random.RandomState(3)
    N, I, H = 2, 3, 3
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.RNNCell(H, prefix='a_'))
    stack.add(mx.rnn.RNNCell(H, prefix='b_'))
    states = state_vars('s_', 2)
    x0, x1 = mx.sym.Variable('x0'), mx.sym.Variable('x1')
    out0, states1 = stack(x0, states)
    out1, _ = stack(x1, states1)
    assert out1.name == 'b_t1_out'
    params = random_cell_params(rs, 'rnn_tanh', 'a_', I, H)
    params.update(random_cell_params(rs, 'rnn_tanh', 'b_', H, H))
    xs = [rs.uniform(-1, 1, (N, I)) for _ in range(2)]
    h0 = [rs.uniform(-1, 1, (N, H)) for _ in range(2)]
    step_a, step_b = np_step('rnn_tanh', 'a_', params), np_step('rnn_tanh', 'b_', params)
    a_outs, _ = np_unroll(step_a, xs, h0[:1])
    b_outs, _ = np_unroll(step_b, a_outs, h0[1:])
    location = dict(params, x0=xs[0], x1=xs[1], s_h0=h0[0], s_h1=h0[1])
    tu.check_symbolic_forward(mx.sym.Group([out0, out1]), location, b_outs,
                              rtol=1e-5, atol=1e-6)


def test_bidirectional_residual_match_numpy():
    rs = np.random.RandomState(4)
    T, N, I, H = 3, 2, 4, 2
    cell = mx.rnn.ResidualCell(mx.rnn.BidirectionalCell(
        mx.rnn.GRUCell(H, prefix='l_'), mx.rnn.RNNCell(H, prefix='r_'), output_prefix='bi_'))
    begin = state_vars('s_', 2)
    inputs = [mx.sym.Variable('x%d' % t) for t in range(T)]
    outputs, states = cell.unroll(T, inputs, begin_state=begin, merge_outputs=False)
    assert [s.name for s in sum(states, [])] == ['l_t2_out', 'r_t2_out']
    params = random_cell_params(rs, 'gru', 'l_', I, H)
    params.update(random_cell_params(rs, 'rnn_tanh', 'r_', I, H))
    xs = [rs.uniform(-1, 1, (N, I)) for _ in range(T)]
    h0 = [rs.uniform(-1, 1, (N, H)) for _ in range(2)]
    left, _ = np_unroll(np_step('gru', 'l_', params), xs, h0[:1])
    right, _ = np_unroll(np_step('rnn_tanh', 'r_', params), xs[::-1], h0[1:])
    want = [np.concatenate([left[t], right[T - 1 - t]], axis=1) + xs[t] for t in range(T)]
    location = dict(params)
    location.update({'x%d' % t: xs[t] for t in range(T)})
    location.update({v.name: a for v, a in zip(begin, h0)})
    tu.check_symbolic_forward(mx.sym.Group(outputs), location, want, rtol=1e-5, atol=1e-6)


def test_bidirectional_merged_matches_numpy():
    rs = np.random.RandomState(5)
    T, N, I, H = 3, 2, 3, 2
    cell = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(H, prefix='l_'),
                                    mx.rnn.LSTMCell(H, prefix='r_'), output_prefix='bi_')
    begin = state_vars('s_', 4)
    out, _ = cell.unroll(T, mx.sym.Variable('data'), begin_state=begin, merge_outputs=True)
    assert out.list_outputs() == ['bi_out_output']
    params = random_cell_params(rs, 'lstm', 'l_', I, H)
    params.update(random_cell_params(rs, 'lstm', 'r_', I, H))
    x = rs.uniform(-1, 1, (N, T, I))
    h0 = [rs.uniform(-1, 1, (N, H)) for _ in range(4)]
    xs = list(x.transpose(1, 0, 2))
    left, _ = np_unroll(np_step('lstm', 'l_', params), xs, h0[:2])
    right, _ = np_unroll(np_step('lstm', 'r_', params), xs[::-1], h0[2:])
    want = np.stack([np.concatenate([left[t], right[T - 1 - t]], axis=1) for t in range(T)],
                    axis=1)
    location = dict(params, data=x)
    location.update({v.name: a for v, a in zip(begin, h0)})
    tu.check_symbolic_forward(out, location, [want], rtol=1e-5, atol=1e-6)


def test_zoneout_inference_is_the_base_cell():
    # Out of training the zoneout masks keep every new value: the base cell's recurrence.
    rs = np.random.RandomState(6)
    T, N, I, H = 2, 2, 3, 3
    cell = mx.rnn.ZoneoutCell(mx.rnn.RNNCell(H, prefix='rnn_'), zoneout_outputs=0.5,
                              zoneout_states=0.5)
    begin = state_vars('s_', 1)
    outputs, _ = cell.unroll(T, [mx.sym.Variable('x0'), mx.sym.Variable('x1')],
                             begin_state=begin)
    params = random_cell_params(rs, 'rnn_tanh', 'rnn_', I, H)
    xs = [rs.uniform(-1, 1, (N, I)) for _ in range(T)]
    h0 = [rs.uniform(-1, 1, (N, H))]
    want, _ = np_unroll(np_step('rnn_tanh', 'rnn_', params), xs, h0)
    location = dict(params, x0=xs[0], x1=xs[1], s_h0=h0[0])
    tu.check_symbolic_forward(mx.sym.Group(outputs), location, want, rtol=1e-5, atol=1e-6)


def np_conv3x3(x, w, b):
    """Cross-correlation, 3x3 kernel, stride 1, padding 1, NCHW."""
    n, _, hgt, wid = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], hgt, wid))
    for i in range(3):
        for j in range(3):
            out += np.einsum('nchw,oc->nohw', xp[:, :, i:i + hgt, j:j + wid], w[:, :, i, j])
    return out + b[None, :, None, None]


def test_conv_lstm_matches_numpy():
    rs = np.random.RandomState(14)
    N, C, Hh, Ww, F = 1, 2, 4, 3, 2
    cell = mx.rnn.ConvLSTMCell(input_shape=(N, C, Hh, Ww), num_hidden=F, prefix='cl_')
    assert cell.state_info == [{'shape': (0, F, Hh, Ww), '__layout__': 'NCHW'}] * 2
    begin = state_vars('s_', 2)
    outputs, _ = cell.unroll(2, [mx.sym.Variable('x0'), mx.sym.Variable('x1')],
                             begin_state=begin)
    group = mx.sym.Group(outputs)
    assert group.list_outputs() == ['cl_t0_out_output', 'cl_t1_out_output']
    p = {'cl_i2h_weight': rs.uniform(-.3, .3, (4 * F, C, 3, 3)),
         'cl_i2h_bias': rs.uniform(-.3, .3, (4 * F,)),
         'cl_h2h_weight': rs.uniform(-.3, .3, (4 * F, F, 3, 3)),
         'cl_h2h_bias': rs.uniform(-.3, .3, (4 * F,))}
    xs = [rs.uniform(-1, 1, (N, C, Hh, Ww)) for _ in range(2)]
    h, c = rs.uniform(-1, 1, (N, F, Hh, Ww)), rs.uniform(-1, 1, (N, F, Hh, Ww))
    location = dict(p, x0=xs[0], x1=xs[1], s_h0=h, s_h1=c)

    def leaky(v):                           # the default activation: LeakyReLU, slope 0.2
        return np.where(v > 0, v, 0.2 * v)
    want = []
    for x in xs:
        gates = np_conv3x3(x, p['cl_i2h_weight'], p['cl_i2h_bias']) + \
            np_conv3x3(h, p['cl_h2h_weight'], p['cl_h2h_bias'])
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * leaky(g)
        h = _sigmoid(o) * leaky(c)
        want.append(h)
    tu.check_symbolic_forward(group, location, want, rtol=1e-5, atol=1e-6)


def test_zoneout_training_keeps_new_or_previous_values():
    # In training each output unit is the base cell's new output or the zoned-out output of
    # the step before (zeros before the first step), about half of each with p = 0.5;
    # states are not zoned here, so the base recurrence itself is unchanged.
    rs = np.random.RandomState(15)
    N, I, H = 4, 3, 40
    cell = mx.rnn.ZoneoutCell(mx.rnn.RNNCell(H, prefix='rnn_'), zoneout_outputs=0.5)
    outputs, _ = cell.unroll(2, [mx.sym.Variable('x0'), mx.sym.Variable('x1')],
                             begin_state=state_vars('s_', 1))
    params = random_cell_params(rs, 'rnn_tanh', 'rnn_', I, H)
    xs = [rs.uniform(-1, 1, (N, I)) for _ in range(2)]
    h0 = rs.uniform(-1, 1, (N, H))
    new, _ = np_unroll(np_step('rnn_tanh', 'rnn_', params), xs, [h0])
    ex = mx.sym.Group(outputs).simple_bind(mx.cpu(), grad_req='null', x0=(N, I), x1=(N, I),
                                           s_h0=(N, H))
    for name, value in dict(params, x0=xs[0], x1=xs[1], s_h0=h0).items():
        ex.arg_dict[name][:] = value
    out0, out1 = [o.asnumpy() for o in ex.forward(is_train=True)]
    took0 = np.isclose(out0, new[0], rtol=1e-5, atol=1e-6)
    assert np.all(took0 | (out0 == 0))
    took1 = np.isclose(out1, new[1], rtol=1e-5, atol=1e-6)
    assert np.all(took1 | (out1 == out0))
    assert 0.3 < took0.mean() < 0.7 and 0.3 < took1.mean() < 0.7


# -- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['lstm', 'gru'])
def test_gradient_vs_central_differences(mode):
    # every weight, the input sequence and the begin states, through the merged output
    # and the last state
    rs = np.random.RandomState(7)
    T, N, I, H = 2, 2, 3, 2
    cell = make_cell(mode, H, 'c_')
    nstates = len(cell.state_info)
    begin = state_vars('s_', nstates)
    out, states = cell.unroll(T, mx.sym.Variable('data'), begin_state=begin,
                              merge_outputs=True)
    net = mx.sym.Group([out, states[-1]])
    location = random_cell_params(rs, mode, 'c_', I, H)
    location.update(data=rs.uniform(-1, 1, (N, T, I)))
    location.update({v.name: rs.uniform(-1, 1, (N, H)) for v in begin})
    tu.check_numeric_gradient(net, location, numeric_eps=1e-5, rtol=1e-5, atol=1e-8,
                              dtype=np.float64)


# -- packing weights -----------------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['rnn_tanh', 'lstm', 'gru'])
def test_unpack_pack_round_trip_plain_cells(mode):
    rs = np.random.RandomState(8)
    H, I = 3, 2
    cell = make_cell(mode, H, 'c_')
    params = {k: mx.nd.array(v) for k, v in random_cell_params(rs, mode, 'c_', I, H).items()}
    params['other'] = mx.nd.ones((2,))
    unpacked = cell.unpack_weights(params)
    gates = {'rnn_tanh': [''], 'lstm': ['_i', '_f', '_c', '_o'],
             'gru': ['_r', '_z', '_o']}[mode]
    assert sorted(unpacked) == sorted(['other'] + ['c_%s%s_%s' % (grp, g, k)
                                                   for grp in ('i2h', 'h2h') for g in gates
                                                   for k in ('weight', 'bias')])
    for k, g in enumerate(gates):
        np.testing.assert_array_equal(unpacked['c_h2h%s_weight' % g].asnumpy(),
                                      params['c_h2h_weight'].asnumpy()[k * H:(k + 1) * H])
        np.testing.assert_array_equal(unpacked['c_i2h%s_bias' % g].asnumpy(),
                                      params['c_i2h_bias'].asnumpy()[k * H:(k + 1) * H])
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == sorted(params)
    for name in params:
        np.testing.assert_array_equal(packed[name].asnumpy(), params[name].asnumpy())
    assert 'c_i2h_weight' in params        # the caller's dict is left alone


def fused_layout_by_hand():
    """FusedRNNCell('rnn_tanh', 1 layer, 2 inputs, 3 hidden): 21 values, weights first."""
    return [('f_l0_i2h_weight', 0, (3, 2)), ('f_l0_h2h_weight', 6, (3, 3)),
            ('f_l0_i2h_bias', 15, (3,)), ('f_l0_h2h_bias', 18, (3,))]


def test_fused_unpack_follows_mxnet_layout():
    cell = mx.rnn.FusedRNNCell(3, num_layers=1, mode='rnn_tanh', prefix='f_')
    vec = np.arange(21, dtype=np.float32)
    unpacked = cell.unpack_weights({'f_parameters': mx.nd.array(vec)})
    for name, start, shape in fused_layout_by_hand():
        np.testing.assert_array_equal(unpacked[name].asnumpy(),
                                      vec[start:start + int(np.prod(shape))].reshape(shape))
    # lstm, 2 layers, bidirectional, 3 inputs, 2 hidden: per direction layer 0 holds
    # 4*2*3 + 4*2*2 = 40 weights, layer 1 holds 4*2*4 + 4*2*2 = 48, and every layer and
    # direction 16 biases: 2*(40+48) + 4*16 = 240 values.
    cell = mx.rnn.FusedRNNCell(2, num_layers=2, mode='lstm', bidirectional=True, prefix='b_')
    vec = np.arange(240, dtype=np.float64)
    unpacked = cell.unpack_weights({'b_parameters': vec})
    assert len(unpacked) == 2 * 2 * 2 * 4 * 2
    np.testing.assert_array_equal(unpacked['b_l0_i2h_i_weight'], vec[0:6].reshape(2, 3))
    np.testing.assert_array_equal(unpacked['b_l0_i2h_f_weight'], vec[6:12].reshape(2, 3))
    np.testing.assert_array_equal(unpacked['b_l0_h2h_i_weight'], vec[24:28].reshape(2, 2))
    np.testing.assert_array_equal(unpacked['b_r0_i2h_i_weight'], vec[40:46].reshape(2, 3))
    np.testing.assert_array_equal(unpacked['b_l1_i2h_i_weight'], vec[80:88].reshape(2, 4))
    np.testing.assert_array_equal(unpacked['b_r1_h2h_o_weight'], vec[172:176].reshape(2, 2))
    np.testing.assert_array_equal(unpacked['b_l0_i2h_i_bias'], vec[176:178])
    np.testing.assert_array_equal(unpacked['b_r1_h2h_o_bias'], vec[238:240])
    packed = cell.pack_weights(unpacked)
    np.testing.assert_array_equal(packed['b_parameters'], vec)
    with pytest.raises(MXNetError, match="does not fit"):
        cell.unpack_weights({'b_parameters': np.zeros(241)})


@pytest.mark.parametrize('mode,layers,bidir', [('lstm', 2, True), ('gru', 1, False)])
def test_fused_pack_round_trip_ndarray(mode, layers, bidir):
    cell = mx.rnn.FusedRNNCell(3, num_layers=layers, mode=mode, bidirectional=bidir,
                               prefix='f_')
    size = cell._packed_size(5)
    vec = mx.nd.array(np.random.RandomState(9).normal(size=size))
    unpacked = cell.unpack_weights({'f_parameters': vec})
    assert unpacked['f_l0_i2h%s_weight' % cell._gate_names[0]].shape == (3, 5)
    if layers > 1:
        assert unpacked['f_l1_i2h_i_weight'].shape == (3, 6)
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == ['f_parameters']
    np.testing.assert_array_equal(packed['f_parameters'].asnumpy(), vec.asnumpy())


def test_fused_rnn_initializer():
    # FusedRNN(One) sets every unpacked weight to 1, every bias to 0, and the lstm
    # forget-gate biases to forget_bias.
    cell = mx.rnn.FusedRNNCell(2, num_layers=2, mode='lstm', forget_bias=3.0, prefix='')
    arr = mx.nd.zeros((cell._packed_size(3),))
    init = mx.init.FusedRNN(mx.init.One(), 2, 2, 'lstm', forget_bias=3.0)
    # as a variable's __init__ attribute (JSON, its inner initializer nested) under another
    # global initializer
    desc = mx.init.InitDesc('parameters', attrs={'__init__': init.dumps()})
    mx.init.Constant(7.0)(desc, arr)
    for name, value in cell.unpack_weights({'parameters': arr}).items():
        want = 1.0 if name.endswith('weight') else 3.0 if name.endswith('_f_bias') else 0.0
        np.testing.assert_array_equal(value.asnumpy(), np.full(value.shape, want))
    # through the variable's __init__ attribute (the global initializer fills the rest)
    var = mx.rnn.FusedRNNCell(2, num_layers=1, mode='gru', prefix='g_')._parameter
    attrs = var.attr_dict()['g_parameters']
    arr = mx.nd.zeros((mx.rnn.FusedRNNCell(2, mode='gru')._packed_size(3),))
    mx.init.Constant(0.25)(mx.init.InitDesc('g_parameters', attrs=attrs), arr)
    unpacked = mx.rnn.FusedRNNCell(2, mode='gru', prefix='').unpack_weights(
        {'parameters': arr})
    for name, value in unpacked.items():
        want = 0.25 if name.endswith('weight') else 0.0
        np.testing.assert_array_equal(value.asnumpy(), np.full(value.shape, want))


def test_lstm_bias_initializer_via_attribute():
    cell = mx.rnn.LSTMCell(4, prefix='l_', forget_bias=2.5)
    out, _ = cell.unroll(1, [mx.sym.Variable('x')], begin_state=state_vars('s_', 2))
    attrs = mx.sym.Group(out).attr_dict()['l_i2h_bias']
    arr = mx.nd.ones((16,))
    mx.init.Uniform()(mx.init.InitDesc('l_i2h_bias', attrs=attrs), arr)
    np.testing.assert_array_equal(arr.asnumpy(), np.r_[np.zeros(4), np.full(4, 2.5),
                                                       np.zeros(8)])


@pytest.mark.parametrize('mode', ['lstm', 'gru'])
def test_fused_cell_equals_unfused(mode):
    # The fused op on the packed vector and the unfused plain cells on the unpacked weights
    # compute the same outputs (NTC in, 2 layers, bidirectional).
    rs = np.random.RandomState(10)
    T, N, I, H = 2, 2, 3, 2
    fused = mx.rnn.FusedRNNCell(H, num_layers=2, mode=mode, bidirectional=True,
                                prefix='f_')
    nstates = 2 if mode == 'lstm' else 1
    begin = [mx.sym.Variable('st%d' % k) for k in range(nstates)]
    out, _ = fused.unroll(T, mx.sym.Variable('data'), begin_state=begin, layout='NTC',
                          merge_outputs=True)
    vec = rs.uniform(-0.5, 0.5, fused._packed_size(I))
    x = rs.uniform(-1, 1, (N, T, I))
    h0 = [rs.uniform(-1, 1, (4, N, H)) for _ in range(nstates)]
    location = {'data': x, 'f_parameters': vec}
    location.update({'st%d' % k: h0[k] for k in range(nstates)})
    got = tu.check_symbolic_forward(out, location, {}, dtype=np.float64)[0]

    stack = fused.unfuse()
    # unfused begin states: per layer, [left states..., right states...]
    ub = stack.begin_state(func=mx.sym.Variable)
    uout, _ = stack.unroll(T, mx.sym.Variable('data'), begin_state=ub, merge_outputs=False)
    # fused vector -> per-gate pieces -> each plain cell's stacked weights
    ulocation = dict(stack.pack_weights(fused.unpack_weights({'f_parameters': vec})), data=x)
    k = 0
    for layer in range(2):
        for direction in range(2):
            for s in range(nstates):
                ulocation[ub[k].name] = h0[s][2 * layer + direction]
                k += 1
    ugot = tu.check_symbolic_forward(mx.sym.Group(uout), ulocation, {}, dtype=np.float64)
    np.testing.assert_allclose(got, np.stack(ugot, axis=1), rtol=1e-10, atol=1e-12)


def test_fused_cell_state_outputs_and_shapes():
    # MXNet's RNN outputs: output, state, statecell; the packed vector's length and the zero
    # begin states' batch come from shape inference: lstm, 2 layers, 5 inputs, 4 hidden:
    # (5+4+2)*4*4 + (4+4+2)*4*4 = 336 values.
    cell = mx.rnn.FusedRNNCell(4, num_layers=2, mode='lstm', get_next_state=True, prefix='f_')
    out, states = cell.unroll(3, mx.sym.Variable('data'), layout='TNC', merge_outputs=True)
    net = mx.sym.Group([out] + states)
    assert net.list_outputs() == ['f_rnn_output', 'f_rnn_state_output',
                                  'f_rnn_statecell_output']
    assert [s.attr('__layout__') for s in states] == ['LNC', 'LNC']
    assert net.list_arguments() == ['data', 'f_parameters']
    args, outs, _ = net.infer_shape(data=(3, 2, 5))
    assert args == [(3, 2, 5), (336,)] and outs == [(3, 2, 4), (2, 2, 4), (2, 2, 4)]
    gru = mx.rnn.FusedRNNCell(4, mode='gru', bidirectional=True, prefix='g_')
    outs, states = gru.unroll(2, [mx.sym.Variable('a'), mx.sym.Variable('b')],
                              merge_outputs=False)
    assert states == [] and len(outs) == 2
    _, shapes, _ = mx.sym.Group(outs).infer_shape(a=(2, 3), b=(2, 3))
    assert shapes == [(2, 8), (2, 8)]


def test_fused_parameters_initialized_by_module():
    # Module.init_params reaches FusedRNN through the variable's __init__ attribute; the
    # global Xavier fills the unpacked weights (uniform, bound sqrt(3 / mean fan)), biases
    # are 0, and both forget-gate biases (i2h and h2h) are forget_bias, as in MXNet.
    cell = mx.rnn.FusedRNNCell(3, num_layers=2, mode='lstm', forget_bias=2.0, prefix='f_')
    out, _ = cell.unroll(4, mx.sym.Variable('data'), layout='TNC', merge_outputs=True)
    mod = mx.mod.Module(mx.sym.MakeLoss(mx.sym.sum(out)), label_names=None)
    mod.bind(data_shapes=[('data', (4, 2, 5))])
    mod.init_params(mx.init.Xavier())
    pieces = cell.unpack_weights(mod.get_params()[0])
    assert len(pieces) == 2 * 2 * 4 * 2
    for name, value in pieces.items():
        value = value.asnumpy()
        if name.endswith('_f_bias'):
            np.testing.assert_array_equal(value, np.full(3, 2.0))
        elif name.endswith('bias'):
            np.testing.assert_array_equal(value, np.zeros(3))
        else:
            bound = math.sqrt(3.0 / ((value.shape[0] + value.shape[1]) / 2.0))
            assert np.abs(value).max() <= bound and value.std() > 0.1 * bound


# -- data ----------------------------------------------------------------------------------------

def test_encode_sentences():
    coded, vocab = mx.rnn.encode_sentences([['a', 'b', 'c'], ['b', 'd']], invalid_label=1,
                                           start_label=1)
    # index 1 is the invalid label, so new tokens are numbered 2, 3, ...
    assert vocab == {'\n': 1, 'a': 2, 'b': 3, 'c': 4, 'd': 5}
    assert coded == [[2, 3, 4], [3, 5]]
    coded, vocab = mx.rnn.io.encode_sentences([['a', 'x']], vocab={'a': 1},
                                              unknown_token='UNK')
    assert coded == [[1, 0]] and vocab == {'a': 1, 'UNK': 0}
    with pytest.raises(MXNetError, match="unknown token 'x'"):
        mx.rnn.encode_sentences([['x']], vocab={'a': 0})


def test_bucket_sentence_iter():
    sentences = [[1, 2], [3, 4, 5], [6, 7, 8, 9], [1], [2, 3, 4], [5, 6, 7, 8, 9, 1, 2],
                 [4, 5]]
    random.seed(0)
    np.random.seed(0)
    it = mx.rnn.BucketSentenceIter(sentences, 2, buckets=[5, 2, 3], invalid_label=0,
                                   data_name='words', label_name='next')
    # the 7-token sentence is discarded; buckets 2: [1,2],[1],[4,5]; 3: [3,4,5],[2,3,4];
    # 5: [6,7,8,9]
    assert it.buckets == [2, 3, 5] and it.default_bucket_key == 5
    assert [d.shape for d in it.data] == [(3, 2), (2, 3), (1, 5)]
    assert it.provide_data[0].name == 'words' and it.provide_data[0].shape == (2, 5)
    assert it.provide_label[0].name == 'next'
    rows_by_key = {2: {(1, 2), (1, 0), (4, 5)}, 3: {(3, 4, 5), (2, 3, 4)}}
    for epoch in range(2):
        batches = list(it)
        assert sorted(b.bucket_key for b in batches) == [2, 3]   # bucket 5 has < 2 rows
        for b in batches:
            data = b.data[0].asnumpy()
            label = b.label[0].asnumpy()
            assert data.shape == (2, b.bucket_key) == label.shape
            assert b.provide_data[0].shape == data.shape
            for row, lab in zip(data, label):
                assert tuple(int(v) for v in row) in rows_by_key[b.bucket_key]
                np.testing.assert_array_equal(lab[:-1], row[1:])
                assert lab[-1] == 0
        it.reset()
    tn = mx.rnn.BucketSentenceIter(sentences, 2, buckets=[3], layout='TN', invalid_label=-1)
    batch = next(iter(tn))
    assert batch.data[0].shape == (3, 2) and tn.provide_data[0].shape == (3, 2)
    col = batch.data[0].asnumpy()[:, 0]
    np.testing.assert_array_equal(batch.label[0].asnumpy()[:-1, 0], col[1:])
    # buckets from the lengths occurring at least batch_size times
    auto = mx.rnn.BucketSentenceIter(sentences, 2)
    assert auto.buckets == [2, 3]
    with pytest.raises(MXNetError, match="layout"):
        mx.rnn.BucketSentenceIter(sentences, 2, layout='NTC')


# -- checkpoints ---------------------------------------------------------------------------------

def test_rnn_checkpoint_round_trip(tmp_path):
    cell = mx.rnn.LSTMCell(3, prefix='lstm_')
    out, _ = cell.unroll(2, mx.sym.Variable('data'), begin_state=state_vars('s_', 2),
                         merge_outputs=True)
    rs = np.random.RandomState(11)
    args = {k: mx.nd.array(v) for k, v in random_cell_params(rs, 'lstm', 'lstm_', 2, 3).items()}
    prefix = str(tmp_path / 'lm')
    mx.rnn.save_rnn_checkpoint(cell, prefix, 3, out, args, {})
    saved = mx.nd.load(prefix + '-0003.params')
    assert sorted(saved) == sorted('arg:lstm_%s%s_%s' % (grp, g, k)
                                   for grp in ('i2h', 'h2h') for g in ('_i', '_f', '_c', '_o')
                                   for k in ('weight', 'bias'))
    np.testing.assert_array_equal(saved['arg:lstm_h2h_c_weight'].asnumpy(),
                                  args['lstm_h2h_weight'].asnumpy()[6:9])
    sym, arg, aux = mx.rnn.load_rnn_checkpoint([cell], prefix, 3)
    assert sym.list_arguments() == out.list_arguments() and aux == {}
    assert sorted(arg) == sorted(args)
    for name in args:
        np.testing.assert_array_equal(arg[name].asnumpy(), args[name].asnumpy())
    callback = mx.rnn.do_rnn_checkpoint(cell, str(tmp_path / 'cb'), period=2)
    for epoch in range(4):
        callback(epoch, out, args, {})
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith('cb-0')) == \
        ['cb-0002.params', 'cb-0004.params']


def test_fused_checkpoint_loads_into_unfused_cells(tmp_path):
    # Saved from a fused cell, the file holds per-gate weights; loading it for the unfused
    # stack packs them into each plain cell's stacked i2h / h2h weights, and back.
    fused = mx.rnn.FusedRNNCell(3, num_layers=2, mode='gru', bidirectional=True, prefix='f_')
    vec = np.random.RandomState(16).normal(size=fused._packed_size(2))
    sym, _ = fused.unroll(2, mx.sym.Variable('data'), layout='TNC', merge_outputs=True)
    mx.rnn.save_rnn_checkpoint(fused, str(tmp_path / 'f'), 1, sym,
                               {'f_parameters': mx.nd.array(vec)}, {})
    assert len(mx.nd.load(str(tmp_path / 'f-0001.params'))) == 2 * 2 * 2 * 3 * 2
    stack = fused.unfuse()
    _, args, _ = mx.rnn.load_rnn_checkpoint(stack, str(tmp_path / 'f'), 1)
    assert sorted(args) == sorted('f_%s%d_%s_%s' % (d, l, g, k) for d in 'lr'
                                  for l in range(2) for g in ('i2h', 'h2h')
                                  for k in ('weight', 'bias'))
    assert args['f_l0_i2h_weight'].shape == (9, 2) and args['f_r1_i2h_weight'].shape == (9, 6)
    # the first 6 values of the vector are l0's reset-gate i2h weight (3 x 2)
    np.testing.assert_allclose(args['f_l0_i2h_weight'].asnumpy()[:3],
                               vec[:6].reshape(3, 2).astype(np.float32))
    _, back, _ = mx.rnn.load_rnn_checkpoint(fused, str(tmp_path / 'f'), 1)
    np.testing.assert_array_equal(back['f_parameters'].asnumpy(), vec.astype(np.float32))


# -- training ------------------------------------------------------------------------------------

VOCAB = 5          # token 0 is the invalid label; the text cycles 1 2 3 4 1 2 ...


def cyclic_sentences(count, lengths, rs):
    return [[(start + k) % 4 + 1 for k in range(rs.choice(lengths))]
            for start in rs.randint(0, 4, size=count)]


def unigram_perplexity(sentences):
    """Perplexity of the best predictor that ignores context: the label frequencies."""
    labels = np.concatenate([s[1:] for s in sentences])
    p = np.bincount(labels, minlength=VOCAB)[1:] / labels.size
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def lm_sym_gen(stack, hidden, embed):
    def sym_gen(seq_len):
        data = mx.sym.Variable('data')
        label = mx.sym.Variable('softmax_label')
        emb = mx.sym.Embedding(data=data, input_dim=VOCAB, output_dim=embed, name='embed')
        stack.reset()
        outputs = stack.unroll(seq_len, inputs=emb, merge_outputs=True)[0]
        pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=VOCAB, name='pred')
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name='softmax')
        return pred, ('data',), ('softmax_label',)
    return sym_gen


def test_lstm_language_model_learns_with_bucketing_module():
    # The next token is a function of the current one, so a model that reads the context
    # reaches perplexity near 1, far below the context-free bound (about 4).
    rs = np.random.RandomState(12)
    random.seed(12)
    mx.random.seed(12)
    sentences = cyclic_sentences(96, [3, 5], rs)
    bound = unigram_perplexity(sentences)
    assert bound > 3.5
    train = mx.rnn.BucketSentenceIter(sentences, 16, buckets=[3, 5], invalid_label=0)
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(num_hidden=8, prefix='lstm_l0_'))
    model = mx.mod.BucketingModule(lm_sym_gen(stack, 8, 6),
                                   default_bucket_key=train.default_bucket_key)
    metric = mx.metric.Perplexity(0)
    model.fit(train, eval_metric=metric, optimizer='adam',
              optimizer_params={'learning_rate': 0.05},
              initializer=mx.init.Xavier(factor_type="in", magnitude=2.34), num_epoch=30)
    score = dict([metric.get()])['perplexity']           # over the last epoch
    assert score < 1.3 < bound
    arg_params, _ = model.get_params()
    assert sorted(arg_params) == ['embed_weight', 'lstm_l0_h2h_bias', 'lstm_l0_h2h_weight',
                                  'lstm_l0_i2h_bias', 'lstm_l0_i2h_weight', 'pred_bias',
                                  'pred_weight']


def test_lstm_language_model_fit_takes_the_whole_epoch_path(monkeypatch):
    # Module.fit on an NDArrayIter with a compiled optimizer and accuracy runs whole epochs
    # in C; the unrolled LSTM is an ordinary graph for it.
    rs = np.random.RandomState(13)
    mx.random.seed(13)
    seq = np.array([cyclic_sentences(1, [4], rs)[0] for _ in range(64)], dtype=np.float32)
    label = np.concatenate([seq[:, 1:], (seq[:, -1:] % 4) + 1], axis=1)
    train = mx.io.NDArrayIter(seq, label, batch_size=16, label_name='softmax_label')
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(num_hidden=8, prefix='lstm_l0_'))
    sym, _, _ = lm_sym_gen(stack, 8, 6)(4)
    mod = mx.mod.Module(sym)
    mod.bind(data_shapes=train.provide_data, label_shapes=train.provide_label)
    mod.init_params(mx.init.Xavier(factor_type='in', magnitude=2.34))
    mod.init_optimizer(optimizer='adam', optimizer_params={'learning_rate': 0.05})
    metric = mx.metric.create('acc')
    assert mod._fast_path(train, metric, train=True) is not None

    def per_batch_loop(*args, **kwargs):
        raise AssertionError("fit took the per-batch path")
    monkeypatch.setattr(mod, '_fit_epoch', per_batch_loop)
    mod.fit(train, eval_metric=metric, num_epoch=10)
    assert dict([metric.get()])['accuracy'] > 0.95     # over the last epoch
