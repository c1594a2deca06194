"""Parameter initializers (`mx.init`), MXNet 1.x dispatch and registry.

Initializers write in place (`arr[:] = value`) into the NDArray (or NumPy array) given;
random values come from NumPy's global RNG, so `mx.random.seed` reproduces them.
"""
import json
import logging
import re
import warnings

import numpy as np

from .registry import get_alias_func, get_create_func, get_register_func, get_registry

__all__ = ["InitDesc", "Initializer", "Uniform", "Normal", "Xavier", "MSRAPrelu",
           "Orthogonal", "Zero", "One", "Constant", "Bilinear", "LSTMBias", "FusedRNN", "Load",
           "Mixed", "register", "alias", "create"]



def _as_numpy(arr):
    return arr.asnumpy() if hasattr(arr, 'asnumpy') else np.asarray(arr)


def _fill(arr, value):
    """Write `value` into `arr` in place, in arr's dtype."""
    dtype = getattr(arr, 'dtype', np.float32)
    arr[:] = np.broadcast_to(np.asarray(value, dtype=dtype), arr.shape)


class InitDesc(str):
    """A parameter name carrying its variable's attribute dict."""

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super(InitDesc, cls).__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


class Initializer(object):
    """Base initializer: dispatches on `__init__` attrs, then on the name's suffix."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized array with `print_func(arr)` (default: rms value)."""
        self._verbose = verbose
        if print_func is None:
            def asum_stat(x):
                value = _as_numpy(x).astype(np.float64)
                return str(np.linalg.norm(value) / np.sqrt(value.size))
            print_func = asum_stat
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            logging.info('Initialized %s as %s: %s', desc, init, self._print_func(arr))

    def dumps(self):
        """JSON `[lowercased class name, ctor kwargs]`."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get('__init__', "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method, label in (('weight', self._init_weight, 'weight'),
                                      ('bias', self._init_bias, 'bias'),
                                      ('gamma', self._init_gamma, 'gamma'),
                                      ('beta', self._init_beta, 'beta'),
                                      ('min', self._init_zero, 'min'),
                                      ('max', self._init_one, 'max'),
                                      ('weight_quantize', self._init_quantized_weight,
                                       'weight_quantize'),
                                      ('bias_quantize', self._init_quantized_bias,
                                       'bias_quantize')):
            if desc.endswith(suffix):
                method(desc, arr)
                self._verbose_print(desc, label, arr)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        """Old `init(str, arr)` path with its own name table."""
        warnings.warn("Calling initializer with init(str, NDArray) has been deprecated. "
                      "please use init(mx.init.InitDesc(...), NDArray) instead.",
                      DeprecationWarning, stacklevel=3)
        if not isinstance(name, str):
            raise TypeError('name must be string, got %r' % (name,))
        if not hasattr(arr, 'shape'):
            raise TypeError('arr must be NDArray, got %s' % type(arr).__name__)
        if name.startswith('upsampling'):
            self._init_bilinear(name, arr)
        elif name.startswith('stn_loc') and name.endswith('weight'):
            self._init_zero(name, arr)
        elif name.startswith('stn_loc') and name.endswith('bias'):
            self._init_loc_bias(name, arr)
        elif name.endswith('bias'):
            self._init_bias(name, arr)
        elif name.endswith('gamma'):
            self._init_gamma(name, arr)
        elif name.endswith('beta'):
            self._init_beta(name, arr)
        elif name.endswith('weight'):
            self._init_weight(name, arr)
        elif name.endswith('moving_mean') or name.endswith('moving_inv_var') \
                or name.endswith('moving_avg') or name.endswith('min'):
            self._init_zero(name, arr)
        elif name.endswith('moving_var') or name.endswith('max'):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)

    def _init_bilinear(self, _, arr):
        shape = arr.shape
        if len(shape) != 4:
            raise ValueError("bilinear init needs a 4-D array, got shape %s" % (shape,))
        f = np.ceil(shape[3] / 2.)
        c = (2 * f - 1 - f % 2) / (2. * f)
        idx = np.arange(int(np.prod(shape)))
        x = idx % shape[3]
        y = (idx // shape[3]) % shape[2]
        weight = (1 - np.abs(x / f - c)) * (1 - np.abs(y / f - c))
        _fill(arr, weight.astype('float32').reshape(shape))

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise ValueError("stn_loc bias must have 6 entries, got shape %s" % (arr.shape,))
        _fill(arr, np.array([1.0, 0, 0, 0, 1.0, 0]))

    def _init_zero(self, _, arr):
        _fill(arr, 0.0)

    def _init_one(self, _, arr):
        _fill(arr, 1.0)

    def _init_bias(self, _, arr):
        _fill(arr, 0.0)

    def _init_quantized_bias(self, _, arr):
        _fill(arr, 0)

    def _init_gamma(self, _, arr):
        _fill(arr, 1.0)

    def _init_beta(self, _, arr):
        _fill(arr, 0.0)

    def _init_quantized_weight(self, _, arr):
        _fill(arr, np.int8(np.random.randint(-127, 127, size=arr.shape)))

    def _init_weight(self, name, arr):
        raise NotImplementedError("Must override it")

    def _init_default(self, name, _):
        raise ValueError(
            'Unknown initialization pattern for %s. Default initialization is now limited '
            'to "weight", "bias", "gamma" (1.0), and "beta" (0.0). Please use '
            'mx.sym.Variable(init=mx.init.*) to set initialization pattern' % name)

    def __eq__(self, other):
        return isinstance(other, Initializer) and self.dumps() == other.dumps()

    def __hash__(self):
        return hash(self.dumps())


register = get_register_func(Initializer, "initializer")
alias = get_alias_func(Initializer, "initializer")
create = get_create_func(Initializer, "initializer")
_REGISTRY = get_registry(Initializer)


class Load(object):
    """Initialize from saved arrays (dict or `.params` file), else `default_init`."""

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from .ndarray import load
            param = load(param)
        if not isinstance(param, dict):
            raise TypeError("Load expects a dict of name -> array or a file name, got %s"
                            % type(param).__name__)
        self.param = {}
        for name, arr in param.items():
            if name.startswith('arg:') or name.startswith('aux:'):
                self.param[name[4:]] = arr
            else:
                self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            loaded = self.param[name]
            assert tuple(arr.shape) == tuple(loaded.shape), \
                'Parameter %s cannot be initialized from loading. ' % name + \
                'Shape mismatch, target %s vs loaded %s' % (str(arr.shape), loaded.shape)
            _fill(arr, _as_numpy(loaded))
            if self.verbose:
                logging.info('Initialized %s by loading', name)
        else:
            assert self.default_init is not None, \
                "Cannot Initialize %s. Not found in loaded param " % name + \
                "and no default Initializer is provided."
            self.default_init(name, arr)
            if self.verbose:
                logging.info('Initialized %s by default', name)



class Mixed(object):
    """Pick the initializer of the first regex (re.match) matching the name."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise ValueError("Mixed got %d patterns but %d initializers"
                             % (len(patterns), len(initializers)))
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError('Parameter name %s did not match any pattern. Consider add a ".*" '
                         'pattern at the and with default Initializer.' % name)


@register
@alias("zeros")
class Zero(Initializer):
    """Fill with 0."""

    def __init__(self):
        super(Zero, self).__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 0)


@register
@alias("ones")
class One(Initializer):
    """Fill with 1."""

    def __init__(self):
        super(One, self).__init__()

    def _init_weight(self, _, arr):
        _fill(arr, 1)


@register
class Constant(Initializer):
    """Fill with `value` (scalar or array-like broadcastable to the parameter)."""

    def __init__(self, value):
        super(Constant, self).__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        _fill(arr, _as_numpy(self.value))

    def dumps(self):
        """As MXNet's: an array value is kept in the constructor arguments as a list from
        now on, so that `_kwargs` itself is what the JSON holds."""
        value = self._kwargs['value']
        if hasattr(value, 'asnumpy') or isinstance(value, np.ndarray):
            self._kwargs['value'] = _as_numpy(value).tolist()
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])


@register
class Uniform(Initializer):
    """Weights ~ U(-scale, scale)."""

    def __init__(self, scale=0.07):
        super(Uniform, self).__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _fill(arr, np.random.uniform(-self.scale, self.scale, size=arr.shape))


@register
class Normal(Initializer):
    """Weights ~ N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super(Normal, self).__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _fill(arr, np.random.normal(0, self.sigma, size=arr.shape))


@register
class Orthogonal(Initializer):
    """Orthogonal matrix (from the SVD of a random matrix) times `scale`."""

    def __init__(self, scale=1.414, rand_type="uniform"):
        super(Orthogonal, self).__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = np.random.uniform(-1.0, 1.0, size=(nout, nin))
        elif self.rand_type == "normal":
            tmp = np.random.normal(0.0, 1.0, size=(nout, nin))
        else:
            raise ValueError("Unknown rand_type %r (expected 'uniform' or 'normal')"
                             % (self.rand_type,))
        u, _, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        _fill(arr, self.scale * res.reshape(arr.shape))


@register
class Xavier(Initializer):
    """Glorot initialization scaled by fan-in/fan-out (`factor_type`) and `magnitude`."""

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super(Xavier, self).__init__(rnd_type=rnd_type, factor_type=factor_type,
                                     magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError('Xavier initializer cannot be applied to vector {0}. It requires '
                             'at least 2D.'.format(name))
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        if self.factor_type == "avg":
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == "in":
            factor = fan_in
        elif self.factor_type == "out":
            factor = fan_out
        else:
            raise ValueError("Incorrect factor type %r" % (self.factor_type,))
        scale = np.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            _fill(arr, np.random.uniform(-scale, scale, size=shape))
        elif self.rnd_type == "gaussian":
            _fill(arr, np.random.normal(0, scale, size=shape))
        else:
            raise ValueError("Unknown random type %r" % (self.rnd_type,))


@register
class MSRAPrelu(Xavier):
    """He initialization for PReLU: gaussian Xavier with magnitude 2/(1+slope^2)."""

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super(MSRAPrelu, self).__init__("gaussian", factor_type, magnitude)
        self._kwargs = {'factor_type': factor_type, 'slope': slope}


@register
class Bilinear(Initializer):
    """Bilinear upsampling kernel (for Deconvolution weights)."""

    def __init__(self):
        super(Bilinear, self).__init__()

    def _init_weight(self, name, arr):
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """Zeros, with the forget-gate quarter (second of four) set to `forget_bias`."""

    def __init__(self, forget_bias=1.0):
        super(LSTMBias, self).__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        value = np.zeros(arr.shape)
        num_hidden = int(arr.shape[0] / 4)
        value[num_hidden:2 * num_hidden] = self.forget_bias
        _fill(arr, value)


@register
class FusedRNN(Initializer):
    """The packed parameter vector of a fused RNN (mx.sym.RNN / mx.rnn.FusedRNNCell).

    The vector is split into its per-layer, per-direction, per-gate weights and biases
    (FusedRNNCell.unpack_weights), each is initialized by `init` (by the global initializer
    when init is None) as a `..._weight` or `..._bias` array, the LSTM forget-gate biases
    are set to `forget_bias`, and the pieces are packed back. The other arguments must match
    the cell's."""

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        if isinstance(init, str):
            init = create(init)
        super(FusedRNN, self).__init__(init=init.dumps() if init is not None else None,
                                       num_hidden=num_hidden, num_layers=num_layers,
                                       mode=mode, bidirectional=bidirectional,
                                       forget_bias=forget_bias)
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        from .rnn.rnn_cell import FusedRNNCell
        cell = FusedRNNCell(self._num_hidden, self._num_layers, self._mode,
                            self._bidirectional, forget_bias=self._forget_bias, prefix='')
        pieces = cell.unpack_weights({'parameters': np.array(_as_numpy(arr), copy=True)})
        global_init = getattr(desc, 'global_init', None)
        for name, piece in pieces.items():
            if self._mode == 'lstm' and name.endswith('_f_bias'):
                _fill(piece, self._forget_bias)
                continue
            init = self._init if self._init is not None else global_init
            if init is None:
                raise ValueError("FusedRNN: no initializer for %s (give init, or use it "
                                 "through a global initializer)" % name)
            init(InitDesc(name, global_init=global_init), piece)
        _fill(arr, cell.pack_weights(pieces)['parameters'])
