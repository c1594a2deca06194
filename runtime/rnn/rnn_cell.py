"""Recurrent cells (`mx.rnn`): MXNet 1.x's symbolic RNN cells.

A cell builds the graph of one time step (`cell(inputs, states)`); `unroll` repeats it over
a sequence, so an unrolled network is an ordinary `mx.sym` graph that binds and compiles like
any other. Variable, node and output names follow MXNet's scheme (`<prefix>i2h_weight`,
`<prefix>t<step>_out`, `<prefix>begin_state_<k>`), so checkpoints of these networks are
interchangeable with MXNet's.
"""
import functools
import logging
import numbers

import numpy as np

from .. import initializer, ndarray, symbol
from ..base import MXNetError

_LOG = logging.getLogger("mxc.rnn")

__all__ = ["RNNParams", "BaseRNNCell", "RNNCell", "LSTMCell", "GRUCell", "FusedRNNCell",
           "SequentialRNNCell", "DropoutCell", "ModifierCell", "ZoneoutCell", "ResidualCell",
           "BidirectionalCell", "BaseConvRNNCell", "ConvRNNCell", "ConvLSTMCell",
           "ConvGRUCell"]


# -- helpers -------------------------------------------------------------------------------------

def _time_axis(layout):
    """Position of 'T' in a layout string such as 'NTC' or 'TNC'."""
    if not isinstance(layout, str) or layout.count('T') != 1 or layout.count('N') != 1:
        raise MXNetError("rnn: layout must name one time axis 'T' and one batch axis 'N' "
                         "(e.g. 'NTC' or 'TNC'), got %r" % (layout,))
    return layout.find('T')


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """Bring `inputs` (one Symbol or a list of per-step Symbols) to the requested form:
    a list of `length` steps when merge is False, one Symbol stacked on the time axis of
    `layout` when merge is True, unchanged when merge is None. Returns (inputs, time axis)."""
    if inputs is None:
        raise MXNetError("unroll(inputs=None) is not supported: create the input symbols "
                         "outside unroll and pass them in")
    axis = _time_axis(layout)
    in_axis = _time_axis(in_layout) if in_layout is not None else axis
    if isinstance(inputs, symbol.Symbol):
        if merge is False:
            if len(inputs.list_outputs()) != 1:
                raise MXNetError("unroll: a grouped symbol (%d outputs) cannot be split into "
                                 "time steps; pass list(inputs) instead"
                                 % len(inputs.list_outputs()))
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length,
                                       squeeze_axis=1))
    else:
        inputs = list(inputs)
        if length is not None and len(inputs) != length:
            raise MXNetError("unroll: length is %d but %d input symbols were given"
                             % (length, len(inputs)))
        if merge is True:
            steps = [symbol.expand_dims(step, axis=axis) for step in inputs]
            inputs = symbol.Concat(*steps, dim=axis)
            in_axis = axis
    if isinstance(inputs, symbol.Symbol) and axis != in_axis:
        inputs = symbol.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


def _zeros_function():
    """mx.sym.zeros, looked up when a begin state is made."""
    try:
        return symbol.zeros
    except AttributeError:
        raise MXNetError("begin_state: mx.sym.zeros is not available; pass "
                         "func=mx.sym.Variable or give unroll explicit begin_state symbols"
                         ) from None


def _concatenate(arrays):
    """Concatenate along axis 0: NumPy arrays stay NumPy, anything else becomes an NDArray."""
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np.concatenate(arrays)
    return ndarray.concatenate([a if not isinstance(a, np.ndarray) else ndarray.array(a)
                                for a in arrays])


def _pop(args, name, cell):
    try:
        return args.pop(name)
    except KeyError:
        raise MXNetError("%s: parameter '%s' is missing from the arguments given"
                         % (type(cell).__name__, name)) from None


def _all_state_info(cells):
    return [info for cell in cells for info in cell.state_info]


def _all_begin_state(cells, **kwargs):
    return [state for cell in cells for state in cell.begin_state(**kwargs)]


# -- parameters -----------------------------------------------------------------------------------

class RNNParams(object):
    """Holds the weight Variables of cells, by name, so that cells can share them.

    Every name asked for is prefixed with `prefix`; the first request creates the Variable
    (keyword arguments go to mx.sym.Variable), later ones return the same Variable."""

    def __init__(self, prefix=''):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        full = self._prefix + name
        if full not in self._params:
            self._params[full] = symbol.Variable(full, **kwargs)
        return self._params[full]


# -- the base cell --------------------------------------------------------------------------------

class BaseRNNCell(object):
    """Base class of the recurrent cells.

    prefix names the cell's nodes (and its weights when `params` is None); params is an
    RNNParams container to share weights with another cell."""

    def __init__(self, prefix='', params=None):
        self._own_params = params is None
        self._params = RNNParams(prefix) if params is None else params
        self._prefix = prefix
        self._modified = False
        self.reset()

    def reset(self):
        """Restart step and begin-state numbering before the cell builds another graph."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, '_cells', ()):
            cell.reset()

    def __call__(self, inputs, states):
        """One time step: returns (output, new states)."""
        raise NotImplementedError()

    @property
    def params(self):
        """The RNNParams holding this cell's weights."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """One dict per state: 'shape' (0 for the batch dimension) and '__layout__'."""
        raise NotImplementedError()

    @property
    def state_shape(self):
        return [info['shape'] for info in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def begin_state(self, func=None, **kwargs):
        """Symbols for the states before the first step, one per entry of state_info, named
        `<prefix>begin_state_<k>`. func defaults to mx.sym.zeros (unknown batch dimension,
        filled by shape inference); mx.sym.Variable makes them inputs instead. kwargs and the
        state's info (shape, __layout__) are passed to func."""
        if self._modified:
            raise MXNetError("begin_state: this cell is wrapped by a modifier cell (e.g. "
                             "ZoneoutCell); call the modifier cell instead")
        if func is None:
            func = _zeros_function()
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            states.append(func(name='%sbegin_state_%d' % (self._prefix, self._init_counter),
                               **kwargs))
        return states

    def unpack_weights(self, args):
        """Split this cell's stacked i2h / h2h weights and biases into one entry per gate
        (`<prefix>i2h<gate>_weight`, ...). Returns a new dict; `args` is not changed."""
        args = dict(args)
        gates = self._gate_names
        if not gates:
            return args
        h = self._num_hidden
        for group in ('i2h', 'h2h'):
            weight = _pop(args, '%s%s_weight' % (self._prefix, group), self)
            bias = _pop(args, '%s%s_bias' % (self._prefix, group), self)
            if weight.shape[0] != h * len(gates) or bias.shape[0] != h * len(gates):
                raise MXNetError("%s: %s%s weight %s / bias %s do not hold %d gates of %d "
                                 "units" % (type(self).__name__, self._prefix, group,
                                            tuple(weight.shape), tuple(bias.shape),
                                            len(gates), h))
            for k, gate in enumerate(gates):
                rows = slice(k * h, (k + 1) * h)
                args['%s%s%s_weight' % (self._prefix, group, gate)] = weight[rows].copy()
                args['%s%s%s_bias' % (self._prefix, group, gate)] = bias[rows].copy()
        return args

    def pack_weights(self, args):
        """The inverse of unpack_weights: stack the per-gate entries back into
        `<prefix>i2h_weight`, `<prefix>i2h_bias`, `<prefix>h2h_weight`, `<prefix>h2h_bias`."""
        args = dict(args)
        gates = self._gate_names
        if not gates:
            return args
        for group in ('i2h', 'h2h'):
            for kind in ('weight', 'bias'):
                parts = [_pop(args, '%s%s%s_%s' % (self._prefix, group, gate, kind), self)
                         for gate in gates]
                args['%s%s_%s' % (self._prefix, group, kind)] = _concatenate(parts)
        return args

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        """Apply the cell `length` times.

        inputs: one Symbol shaped (batch, length, ...) for layout 'NTC' or (length, batch,
        ...) for 'TNC', or a list of `length` Symbols shaped (batch, ...). begin_state:
        symbols from begin_state() or another cell's states (default: begin_state()).
        merge_outputs: True stacks the outputs along the time axis of `layout`, False gives
        a list, None whichever is natural for the cell. Returns (outputs, final states)."""
        self.reset()
        steps, _ = _normalize_sequence(length, inputs, layout, False)
        states = self.begin_state() if begin_state is None else begin_state
        outputs = []
        for step in steps:
            output, states = self(step, states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        """An Activation node for a name ('tanh', 'relu', ...), else activation(inputs)."""
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


# -- plain cells ----------------------------------------------------------------------------------

class RNNCell(BaseRNNCell):
    """Elman cell: h' = activation(W_i x + b_i + W_h h + b_h)."""

    def __init__(self, num_hidden, activation='tanh', prefix='rnn_', params=None):
        super(RNNCell, self).__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._activation = activation
        self._iW = self.params.get('i2h_weight')
        self._iB = self.params.get('i2h_bias')
        self._hW = self.params.get('h2h_weight')
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ('',)

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden, name='%si2h' % step)
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden, name='%sh2h' % step)
        output = self._get_activation(i2h + h2h, self._activation, name='%sout' % step)
        return output, [output]


class LSTMCell(BaseRNNCell):
    """LSTM cell, gates stacked in the order input, forget, cell, output:
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c').
    forget_bias is the initial value of the forget gate's part of i2h_bias
    (mx.init.LSTMBias)."""

    def __init__(self, num_hidden, prefix='lstm_', params=None, forget_bias=1.0):
        super(LSTMCell, self).__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get('i2h_weight')
        self._hW = self.params.get('h2h_weight')
        self._iB = self.params.get('i2h_bias',
                                   init=initializer.LSTMBias(forget_bias=forget_bias))
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'},
                {'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ['_i', '_f', '_c', '_o']

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        h = self._num_hidden
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=4 * h, name='%si2h' % step)
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=4 * h, name='%sh2h' % step)
        gates = symbol.SliceChannel(i2h + h2h, num_outputs=4, name='%sslice' % step)
        in_gate = symbol.Activation(gates[0], act_type='sigmoid', name='%si' % step)
        forget_gate = symbol.Activation(gates[1], act_type='sigmoid', name='%sf' % step)
        in_transform = symbol.Activation(gates[2], act_type='tanh', name='%sc' % step)
        out_gate = symbol.Activation(gates[3], act_type='sigmoid', name='%so' % step)
        next_c = symbol.elemwise_add(forget_gate * states[1], in_gate * in_transform,
                                     name='%sstate' % step)
        next_h = symbol.elemwise_mul(out_gate, symbol.Activation(next_c, act_type='tanh'),
                                     name='%sout' % step)
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """GRU cell as cuDNN computes it, gates stacked reset, update, new:
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""

    def __init__(self, num_hidden, prefix='gru_', params=None):
        super(GRUCell, self).__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW = self.params.get('i2h_weight')
        self._iB = self.params.get('i2h_bias')
        self._hW = self.params.get('h2h_weight')
        self._hB = self.params.get('h2h_bias')

    @property
    def state_info(self):
        return [{'shape': (0, self._num_hidden), '__layout__': 'NC'}]

    @property
    def _gate_names(self):
        return ['_r', '_z', '_o']

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        h = self._num_hidden
        prev_h = states[0]
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=3 * h, name='%s_i2h' % step)
        h2h = symbol.FullyConnected(data=prev_h, weight=self._hW, bias=self._hB,
                                    num_hidden=3 * h, name='%s_h2h' % step)
        i2h_r, i2h_z, i2h_n = symbol.SliceChannel(i2h, num_outputs=3,
                                                  name='%s_i2h_slice' % step)
        h2h_r, h2h_z, h2h_n = symbol.SliceChannel(h2h, num_outputs=3,
                                                  name='%s_h2h_slice' % step)
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type='sigmoid',
                                       name='%s_r_act' % step)
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type='sigmoid',
                                        name='%s_z_act' % step)
        candidate = symbol.Activation(i2h_n + reset_gate * h2h_n, act_type='tanh',
                                      name='%s_h_act' % step)
        next_h = symbol.elemwise_add((1. - update_gate) * candidate, update_gate * prev_h,
                                     name='%sout' % step)
        return next_h, [next_h]


# -- the fused cell -------------------------------------------------------------------------------

class FusedRNNCell(BaseRNNCell):
    """All layers and time steps in one mx.sym.RNN node over MXNet's packed parameter
    vector `<prefix>parameters`.

    mode is 'rnn_relu', 'rnn_tanh', 'lstm' or 'gru'; dropout applies between layers in
    training; get_next_state adds the final states as outputs. unpack_weights / pack_weights
    convert between the packed vector and per-layer, per-direction, per-gate weights
    (`<prefix>l0_i2h_i_weight`, `<prefix>r1_h2h_o_bias`, ...); unfuse() gives the same
    network as plain cells that use those names."""

    _MODES = {'rnn_relu': [''], 'rnn_tanh': [''], 'lstm': ['_i', '_f', '_c', '_o'],
              'gru': ['_r', '_z', '_o']}

    def __init__(self, num_hidden, num_layers=1, mode='lstm', bidirectional=False,
                 dropout=0., get_next_state=False, forget_bias=1.0, prefix=None, params=None):
        if mode not in self._MODES:
            raise MXNetError("FusedRNNCell: mode must be one of %s, got %r"
                             % (sorted(self._MODES), mode))
        if prefix is None:
            prefix = '%s_' % mode
        super(FusedRNNCell, self).__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._dropout = dropout
        self._get_next_state = get_next_state
        self._directions = ['l', 'r'] if bidirectional else ['l']
        init = initializer.FusedRNN(None, num_hidden, num_layers, mode, bidirectional,
                                    forget_bias)
        self._parameter = self.params.get('parameters', init=init)

    @property
    def state_info(self):
        shape = ((2 if self._bidirectional else 1) * self._num_layers, 0, self._num_hidden)
        count = 2 if self._mode == 'lstm' else 1
        return [{'shape': shape, '__layout__': 'LNC'} for _ in range(count)]

    @property
    def _gate_names(self):
        return self._MODES[self._mode]

    @property
    def _num_gates(self):
        return len(self._gate_names)

    def _packed_size(self, num_input):
        """Length of the packed vector for `num_input` input features."""
        h, g, d = self._num_hidden, self._num_gates, len(self._directions)
        first = (num_input + h + 2) * h * g * d
        rest = (self._num_layers - 1) * (d * h + h + 2) * h * g * d
        return first + rest

    def _num_input(self, size):
        """Input features of the first layer, from the packed vector's length."""
        h, g, d = self._num_hidden, self._num_gates, len(self._directions)
        num_input = size // (d * h * g) - (self._num_layers - 1) * (d * h + h + 2) - h - 2
        if num_input <= 0 or self._packed_size(num_input) != size:
            raise MXNetError("FusedRNNCell %r: a packed parameter vector of %d values does not "
                             "fit %d layer(s) of %d units (mode %s, %s)"
                             % (self._prefix, size, self._num_layers, h, self._mode,
                                'bidirectional' if d == 2 else 'unidirectional'))
        return num_input

    def _layout(self, num_input):
        """(name, offset, shape) of every block of the packed vector, in MXNet's order: all
        weights (per layer, per direction: the i2h gates, then the h2h gates), then all
        biases in the same order."""
        h, gates, d = self._num_hidden, self._gate_names, len(self._directions)
        blocks = []
        offset = 0
        for kind in ('weight', 'bias'):
            for layer in range(self._num_layers):
                width = num_input if layer == 0 else d * h
                for direction in self._directions:
                    for group, cols in (('i2h', width), ('h2h', h)):
                        shape = (h, cols) if kind == 'weight' else (h,)
                        for gate in gates:
                            name = '%s%s%d_%s%s_%s' % (self._prefix, direction, layer, group,
                                                       gate, kind)
                            blocks.append((name, offset, shape))
                            offset += int(np.prod(shape))
        return blocks

    def unpack_weights(self, args):
        args = dict(args)
        packed = _pop(args, self._parameter.name, self)
        flat = packed.reshape((-1,))
        for name, offset, shape in self._layout(self._num_input(flat.shape[0])):
            args[name] = flat[offset:offset + int(np.prod(shape))].reshape(shape).copy()
        return args

    def pack_weights(self, args):
        args = dict(args)
        first = '%sl0_i2h%s_weight' % (self._prefix, self._gate_names[0])
        if first not in args:
            raise MXNetError("FusedRNNCell: parameter '%s' is missing from the arguments "
                             "given" % first)
        w0 = args[first]
        num_input = w0.shape[1]
        total = self._packed_size(num_input)
        numpy_in = isinstance(w0, np.ndarray)
        packed = np.zeros((total,), dtype=w0.dtype) if numpy_in else \
            ndarray.zeros((total,), ctx=w0.context, dtype=w0.dtype)
        for name, offset, shape in self._layout(num_input):
            value = _pop(args, name, self)
            if tuple(value.shape) != tuple(shape):
                raise MXNetError("FusedRNNCell: '%s' has shape %s, expected %s"
                                 % (name, tuple(value.shape), shape))
            packed[offset:offset + int(np.prod(shape))] = value.reshape((-1,))
        args[self._parameter.name] = packed
        return args

    def __call__(self, inputs, states):
        raise MXNetError("FusedRNNCell cannot be stepped; use unroll (or unfuse() first)")

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, True)
        if axis == 1:
            _LOG.info("FusedRNNCell %r: NTC layout, swapping to TNC around the RNN node "
                      "(TNC input avoids the two transposes)", self._prefix)
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        elif axis != 0:
            raise MXNetError("FusedRNNCell: unsupported layout %r" % (layout,))
        if begin_state is None:
            begin_state = self.begin_state()
        states = {'state': begin_state[0]}
        if self._mode == 'lstm':
            states['state_cell'] = begin_state[1]
        rnn = symbol.RNN(data=inputs, parameters=self._parameter,
                         state_size=self._num_hidden, num_layers=self._num_layers,
                         bidirectional=self._bidirectional, p=self._dropout,
                         state_outputs=self._get_next_state, mode=self._mode,
                         name=self._prefix + 'rnn', **states)
        if not self._get_next_state:
            outputs, states = rnn, []
        else:
            count = 2 if self._mode == 'lstm' else 1
            states = [rnn[k] for k in range(1, 1 + count)]
            for state in states:
                state._set_attr(__layout__='LNC')
            outputs = rnn[0]
        if axis == 1:
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def unfuse(self):
        """The same network as a SequentialRNNCell of plain cells (one per layer, or a
        BidirectionalCell per layer), with DropoutCells between layers when dropout > 0."""
        make = {'rnn_relu': functools.partial(RNNCell, self._num_hidden, activation='relu'),
                'rnn_tanh': functools.partial(RNNCell, self._num_hidden, activation='tanh'),
                'lstm': functools.partial(LSTMCell, self._num_hidden),
                'gru': functools.partial(GRUCell, self._num_hidden)}[self._mode]
        stack = SequentialRNNCell()
        for layer in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(
                    make(prefix='%sl%d_' % (self._prefix, layer)),
                    make(prefix='%sr%d_' % (self._prefix, layer)),
                    output_prefix='%sbi_l%d_' % (self._prefix, layer)))
            else:
                stack.add(make(prefix='%sl%d_' % (self._prefix, layer)))
            if self._dropout > 0 and layer != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout,
                                      prefix='%s_dropout%d_' % (self._prefix, layer)))
        return stack


# -- containers -----------------------------------------------------------------------------------

class SequentialRNNCell(BaseRNNCell):
    """A stack of cells: each cell's output is the next cell's input."""

    def __init__(self, params=None):
        super(SequentialRNNCell, self).__init__(prefix='', params=params)
        self._override_cell_params = params is not None
        self._cells = []

    def add(self, cell):
        """Append `cell` to the stack."""
        self._cells.append(cell)
        if self._override_cell_params:
            if not cell._own_params:
                raise MXNetError("SequentialRNNCell: give params to the SequentialRNNCell or "
                                 "to its cells, not both")
            cell.params._params.update(self.params._params)
        self.params._params.update(cell.params._params)

    @property
    def _bidirectional(self):
        return any(isinstance(cell, BidirectionalCell) for cell in self._cells)

    @property
    def state_info(self):
        return _all_state_info(self._cells)

    def begin_state(self, **kwargs):
        if self._modified:
            raise MXNetError("begin_state: this cell is wrapped by a modifier cell (e.g. "
                             "ZoneoutCell); call the modifier cell instead")
        return _all_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args):
        for cell in self._cells:
            args = cell.unpack_weights(args)
        return args

    def pack_weights(self, args):
        for cell in self._cells:
            args = cell.pack_weights(args)
        return args

    def __call__(self, inputs, states):
        self._counter += 1
        next_states = []
        used = 0
        for cell in self._cells:
            if isinstance(cell, BidirectionalCell):
                raise MXNetError("SequentialRNNCell holding a BidirectionalCell cannot be "
                                 "stepped; use unroll")
            count = len(cell.state_info)
            inputs, cell_states = cell(inputs, states[used:used + count])
            used += count
            next_states.extend(cell_states)
        return inputs, next_states

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        if begin_state is None:
            begin_state = self.begin_state()
        used = 0
        next_states = []
        last = len(self._cells) - 1
        for k, cell in enumerate(self._cells):
            count = len(cell.state_info)
            inputs, states = cell.unroll(length, inputs=inputs,
                                         begin_state=begin_state[used:used + count],
                                         layout=layout,
                                         merge_outputs=merge_outputs if k == last else None)
            used += count
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """Dropout on the input (no state)."""

    def __init__(self, dropout, prefix='dropout_', params=None):
        super(DropoutCell, self).__init__(prefix, params)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool):
            raise MXNetError("DropoutCell: dropout must be a number, got %r" % (dropout,))
        self.dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, symbol.Symbol):
            return self(inputs, [])
        return super(DropoutCell, self).unroll(length, inputs, begin_state=begin_state,
                                               layout=layout, merge_outputs=merge_outputs)


class ModifierCell(BaseRNNCell):
    """Base of the cells that wrap another cell (base_cell) and change what it computes.
    The wrapped cell is then used only through its modifier."""

    def __init__(self, base_cell):
        super(ModifierCell, self).__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=None, **kwargs):
        if self._modified:
            raise MXNetError("begin_state: this cell is wrapped by a modifier cell; call the "
                             "modifier cell instead")
        if init_sym is not None:
            kwargs['func'] = init_sym
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(**kwargs)
        finally:
            self.base_cell._modified = True

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError


class ZoneoutCell(ModifierCell):
    """Zoneout: in training, each unit of the output (probability zoneout_outputs) and of
    each state (zoneout_states) keeps its previous value instead of the new one."""

    def __init__(self, base_cell, zoneout_outputs=0., zoneout_states=0.):
        if isinstance(base_cell, FusedRNNCell):
            raise MXNetError("ZoneoutCell: FusedRNNCell does not support zoneout; unfuse() "
                             "it first")
        if isinstance(base_cell, BidirectionalCell) or \
                (isinstance(base_cell, SequentialRNNCell) and base_cell._bidirectional):
            raise MXNetError("ZoneoutCell: bidirectional cells cannot be stepped; wrap the "
                             "cells underneath instead")
        super(ZoneoutCell, self).__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.prev_output = None

    def reset(self):
        super(ZoneoutCell, self).reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        next_output, next_states = self.base_cell(inputs, states)

        def keep_new(p, new, old):
            # Dropout of ones: nonzero where the new value is kept (always, in inference)
            mask = symbol.Dropout(symbol.ones_like(new), p=p)
            return symbol.where(mask, new, old)

        if self.zoneout_outputs != 0.:
            prev = self.prev_output if self.prev_output is not None else \
                symbol.zeros_like(next_output)
            output = keep_new(self.zoneout_outputs, next_output, prev)
        else:
            output = next_output
        if self.zoneout_states != 0.:
            next_states = [keep_new(self.zoneout_states, new, old)
                           for new, old in zip(next_states, states)]
        self.prev_output = output
        return output, next_states


class ResidualCell(ModifierCell):
    """Adds the cell's input to its output (Wu et al. 2016)."""

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name='%s_plus_residual' % output.name)
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs=inputs,
                                                    begin_state=begin_state, layout=layout,
                                                    merge_outputs=merge_outputs)
        finally:
            self.base_cell._modified = True
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, symbol.Symbol)
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if merge_outputs:
            return symbol.elemwise_add(outputs, inputs,
                                       name='%s_plus_residual' % outputs.name), states
        return [symbol.elemwise_add(out, inp, name='%s_plus_residual' % out.name)
                for out, inp in zip(outputs, inputs)], states


class BidirectionalCell(BaseRNNCell):
    """l_cell runs forward in time, r_cell backward; each step's output is the two outputs
    concatenated (named `<output_prefix>t<step>`, or `<output_prefix>out` when merged).
    The final states are [l_cell's states, r_cell's states]."""

    def __init__(self, l_cell, r_cell, params=None, output_prefix='bi_'):
        super(BidirectionalCell, self).__init__('', params=params)
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            if not (l_cell._own_params and r_cell._own_params):
                raise MXNetError("BidirectionalCell: give params to the BidirectionalCell "
                                 "or to its cells, not both")
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args):
        for cell in self._cells:
            args = cell.unpack_weights(args)
        return args

    def pack_weights(self, args):
        for cell in self._cells:
            args = cell.pack_weights(args)
        return args

    def __call__(self, inputs, states):
        raise MXNetError("BidirectionalCell cannot be stepped; use unroll")

    @property
    def state_info(self):
        return _all_state_info(self._cells)

    def begin_state(self, **kwargs):
        if self._modified:
            raise MXNetError("begin_state: this cell is wrapped by a modifier cell; call the "
                             "modifier cell instead")
        return _all_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout='NTC', merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        l_cell, r_cell = self._cells
        n_left = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs,
                                            begin_state=begin_state[:n_left],
                                            layout=layout, merge_outputs=merge_outputs)
        r_outputs, r_states = r_cell.unroll(length, inputs=list(reversed(inputs)),
                                            begin_state=begin_state[n_left:],
                                            layout=layout, merge_outputs=merge_outputs)
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, symbol.Symbol) and \
                isinstance(r_outputs, symbol.Symbol)
            if not merge_outputs:
                if isinstance(l_outputs, symbol.Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, symbol.Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            outputs = symbol.Concat(l_outputs, symbol.reverse(r_outputs, axis=axis), dim=2,
                                    name='%sout' % self._output_prefix)
        else:
            outputs = [symbol.Concat(l_out, r_out, dim=1,
                                     name='%st%d' % (self._output_prefix, k))
                       for k, (l_out, r_out) in enumerate(zip(l_outputs,
                                                              reversed(r_outputs)))]
        return outputs, [l_states, r_states]


# -- convolutional cells --------------------------------------------------------------------------

class BaseConvRNNCell(BaseRNNCell):
    """Base of the convolutional cells: i2h and h2h are convolutions; the state has the
    shape of the i2h convolution's output (batch dimension 0)."""

    def __init__(self, input_shape, num_hidden, h2h_kernel, h2h_dilate, i2h_kernel,
                 i2h_stride, i2h_pad, i2h_dilate, i2h_weight_initializer,
                 h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                 activation, prefix='', params=None, conv_layout='NCHW'):
        super(BaseConvRNNCell, self).__init__(prefix=prefix, params=params)
        if any(k % 2 != 1 for k in h2h_kernel[:2]):
            raise MXNetError("%s: h2h_kernel must be odd in both dimensions, got %s"
                             % (type(self).__name__, tuple(h2h_kernel)))
        self._h2h_kernel = h2h_kernel
        self._h2h_pad = (h2h_dilate[0] * (h2h_kernel[0] - 1) // 2,
                         h2h_dilate[1] * (h2h_kernel[1] - 1) // 2)
        self._h2h_dilate = h2h_dilate
        self._i2h_kernel = i2h_kernel
        self._i2h_stride = i2h_stride
        self._i2h_pad = i2h_pad
        self._i2h_dilate = i2h_dilate
        self._num_hidden = num_hidden
        self._input_shape = input_shape
        self._conv_layout = conv_layout
        self._activation = activation
        probe = symbol.Convolution(data=symbol.Variable('data'), num_filter=num_hidden,
                                   kernel=i2h_kernel, stride=i2h_stride, pad=i2h_pad,
                                   dilate=i2h_dilate, layout=conv_layout)
        out_shape = probe.infer_shape(data=input_shape)[1][0]
        self._state_shape = (0,) + tuple(out_shape[1:])
        self._iW = self.params.get('i2h_weight', init=i2h_weight_initializer)
        self._hW = self.params.get('h2h_weight', init=h2h_weight_initializer)
        self._iB = self.params.get('i2h_bias', init=i2h_bias_initializer)
        self._hB = self.params.get('h2h_bias', init=h2h_bias_initializer)

    @property
    def _num_gates(self):
        return len(self._gate_names)

    @property
    def state_info(self):
        return [{'shape': self._state_shape, '__layout__': self._conv_layout},
                {'shape': self._state_shape, '__layout__': self._conv_layout}]

    def _conv_forward(self, inputs, states, name):
        filters = self._num_hidden * self._num_gates
        i2h = symbol.Convolution(name='%si2h' % name, data=inputs, num_filter=filters,
                                 kernel=self._i2h_kernel, stride=self._i2h_stride,
                                 pad=self._i2h_pad, dilate=self._i2h_dilate,
                                 weight=self._iW, bias=self._iB, layout=self._conv_layout)
        h2h = symbol.Convolution(name='%sh2h' % name, data=states[0], num_filter=filters,
                                 kernel=self._h2h_kernel, dilate=self._h2h_dilate,
                                 pad=self._h2h_pad, stride=(1, 1), weight=self._hW,
                                 bias=self._hB, layout=self._conv_layout)
        return i2h, h2h

    def __call__(self, inputs, states):
        raise NotImplementedError("BaseConvRNNCell is the base of the convolutional cells")


def _leaky(inputs, **kwargs):
    return symbol.LeakyReLU(inputs, act_type='leaky', slope=0.2, **kwargs)


class ConvRNNCell(BaseConvRNNCell):
    """Convolutional Elman cell."""

    def __init__(self, input_shape, num_hidden, h2h_kernel=(3, 3), h2h_dilate=(1, 1),
                 i2h_kernel=(3, 3), i2h_stride=(1, 1), i2h_pad=(1, 1), i2h_dilate=(1, 1),
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer='zeros', h2h_bias_initializer='zeros',
                 activation=_leaky, prefix='ConvRNN_', params=None, conv_layout='NCHW'):
        super(ConvRNNCell, self).__init__(
            input_shape, num_hidden, h2h_kernel, h2h_dilate, i2h_kernel, i2h_stride, i2h_pad,
            i2h_dilate, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
            h2h_bias_initializer, activation, prefix=prefix, params=params,
            conv_layout=conv_layout)

    @property
    def _gate_names(self):
        return ('',)

    @property
    def state_info(self):
        return [{'shape': self._state_shape, '__layout__': self._conv_layout}]

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        i2h, h2h = self._conv_forward(inputs, states, step)
        output = self._get_activation(i2h + h2h, self._activation, name='%sout' % step)
        return output, [output]


class ConvLSTMCell(BaseConvRNNCell):
    """Convolutional LSTM (Shi et al. 2015), gates i, f, c, o along the channel axis."""

    def __init__(self, input_shape, num_hidden, h2h_kernel=(3, 3), h2h_dilate=(1, 1),
                 i2h_kernel=(3, 3), i2h_stride=(1, 1), i2h_pad=(1, 1), i2h_dilate=(1, 1),
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer='zeros', h2h_bias_initializer='zeros',
                 activation=_leaky, prefix='ConvLSTM_', params=None, conv_layout='NCHW'):
        super(ConvLSTMCell, self).__init__(
            input_shape, num_hidden, h2h_kernel, h2h_dilate, i2h_kernel, i2h_stride, i2h_pad,
            i2h_dilate, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
            h2h_bias_initializer, activation, prefix=prefix, params=params,
            conv_layout=conv_layout)

    @property
    def _gate_names(self):
        return ['_i', '_f', '_c', '_o']

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        i2h, h2h = self._conv_forward(inputs, states, step)
        gates = symbol.SliceChannel(i2h + h2h, num_outputs=4,
                                    axis=self._conv_layout.find('C'), name='%sslice' % step)
        in_gate = symbol.Activation(gates[0], act_type='sigmoid', name='%si' % step)
        forget_gate = symbol.Activation(gates[1], act_type='sigmoid', name='%sf' % step)
        in_transform = self._get_activation(gates[2], self._activation, name='%sc' % step)
        out_gate = symbol.Activation(gates[3], act_type='sigmoid', name='%so' % step)
        next_c = symbol.elemwise_add(forget_gate * states[1], in_gate * in_transform,
                                     name='%sstate' % step)
        next_h = symbol.elemwise_mul(out_gate, self._get_activation(next_c, self._activation),
                                     name='%sout' % step)
        return next_h, [next_h, next_c]


class ConvGRUCell(BaseConvRNNCell):
    """Convolutional GRU, gates r, z, o along the channel axis."""

    def __init__(self, input_shape, num_hidden, h2h_kernel=(3, 3), h2h_dilate=(1, 1),
                 i2h_kernel=(3, 3), i2h_stride=(1, 1), i2h_pad=(1, 1), i2h_dilate=(1, 1),
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer='zeros', h2h_bias_initializer='zeros',
                 activation=_leaky, prefix='ConvGRU_', params=None, conv_layout='NCHW'):
        super(ConvGRUCell, self).__init__(
            input_shape, num_hidden, h2h_kernel, h2h_dilate, i2h_kernel, i2h_stride, i2h_pad,
            i2h_dilate, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
            h2h_bias_initializer, activation, prefix=prefix, params=params,
            conv_layout=conv_layout)

    @property
    def _gate_names(self):
        return ['_r', '_z', '_o']

    @property
    def state_info(self):
        return [{'shape': self._state_shape, '__layout__': self._conv_layout}]

    def __call__(self, inputs, states):
        self._counter += 1
        step = '%st%d_' % (self._prefix, self._counter)
        i2h, h2h = self._conv_forward(inputs, states, step)
        i2h_r, i2h_z, i2h_n = symbol.SliceChannel(i2h, num_outputs=3,
                                                  name='%s_i2h_slice' % step)
        h2h_r, h2h_z, h2h_n = symbol.SliceChannel(h2h, num_outputs=3,
                                                  name='%s_h2h_slice' % step)
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type='sigmoid',
                                       name='%s_r_act' % step)
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type='sigmoid',
                                        name='%s_z_act' % step)
        candidate = self._get_activation(i2h_n + reset_gate * h2h_n, self._activation,
                                         name='%s_h_act' % step)
        next_h = symbol.elemwise_add((1. - update_gate) * candidate, update_gate * states[0],
                                     name='%sout' % step)
        return next_h, [next_h]
