"""Optimizers (`mx.optimizer`), the Updater, and the compiled-kernel contract.

Every built-in optimizer updates NDArrays in place with NumPy (the general path, also
used by user-defined optimizers).  Built-ins additionally describe themselves to the
compiled C update kernels:

* ``_c_kernel()`` -> ``(kind, n_states)`` or ``None``;
* ``_c_hyper(index)`` -> floats laid out as ``C_HYPER_LAYOUT[kind]`` for one update
  (it performs the update count exactly as ``update`` does);
* ``_c_states_from_mx`` / ``_c_states_to_mx`` map MXNet state objects to flat arrays.

``clip_gradient`` is passed as 0.0 when off; other optional bounds likewise use 0.0 = off.
"""
import logging
import math
import pickle
import warnings

import numpy as np

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdaGrad", "RMSProp", "AdaDelta", "Ftrl",
           "Signum", "FTML", "LAMB", "Adamax", "Nadam", "SGLD", "Updater", "get_updater",
           "create", "register", "C_HYPER_LAYOUT"]

from .compiler.optimizers import KERNELS as _KERNELS

C_HYPER_LAYOUT = {kind: layout for kind, (_n_states, layout) in _KERNELS.items()}
"""Order of the floats returned by ``_c_hyper`` for each kernel kind."""


# ----------------------------------------------------------------------------- helpers

def _np(arr):
    """NumPy value of an NDArray or array-like."""
    return arr.asnumpy() if hasattr(arr, 'asnumpy') else np.asarray(arr)


def _wrap(array):
    """Wrap a NumPy array as an NDArray (no copy)."""
    from .ndarray import NDArray
    return NDArray(array)


def _zeros_like(weight, dtype=None, stype="default"):
    value = _np(weight)
    zeros = _wrap(np.zeros(value.shape, dtype=dtype or value.dtype))
    if stype != "default":      # a sparse state stores nothing yet, as MXNet's zeros(stype=)
        from .sparse import cast_storage
        return cast_storage(zeros, stype)
    return zeros


def _stype(arr):
    return getattr(arr, "stype", "default")


def _as_float32(arr):
    """A float32 copy, keeping a sparse array's storage type (as MXNet's astype)."""
    if hasattr(arr, "astype") and hasattr(arr, "stype"):
        return arr.astype(np.float32)
    return _wrap(_np(arr).astype(np.float32))


def _clip(x, bound):
    return np.clip(x, -bound, bound) if bound else x


def _as_state_list(state):
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return list(state)
    return [state]


# ---------------------------------------------------------------------------- registry

_OPT_REGISTRY = {}


def register(klass):
    """Register an Optimizer subclass under its lowercased class name."""
    if not (isinstance(klass, type) and issubclass(klass, Optimizer)):
        raise TypeError("register expects an Optimizer subclass, got %r" % (klass,))
    name = klass.__name__.lower()
    if name in _OPT_REGISTRY:
        warnings.warn("WARNING: New optimizer %s.%s is overriding existing optimizer %s.%s"
                      % (klass.__module__, klass.__name__, _OPT_REGISTRY[name].__module__,
                         _OPT_REGISTRY[name].__name__))
    _OPT_REGISTRY[name] = klass
    return klass


def create(name, **kwargs):
    """Instantiate a registered optimizer by (case-insensitive) name."""
    if not isinstance(name, str) or name.lower() not in _OPT_REGISTRY:
        raise ValueError('Cannot find optimizer %s' % (name,))
    return _OPT_REGISTRY[name.lower()](**kwargs)


# ------------------------------------------------------------------------------- base

class Optimizer(object):
    """Base optimizer: learning-rate/weight-decay bookkeeping and update counting."""

    opt_registry = _OPT_REGISTRY
    register = staticmethod(register)
    create_optimizer = staticmethod(create)

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None:
            if lr_scheduler.base_lr != learning_rate:
                logging.warning("learning rate from ``lr_scheduler`` has been overwritten by "
                                "``learning_rate`` in optimizer.")
                lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise TypeError("param_idx2name should be a dict of param indexes to names, got %r"
                            % type(param_idx2name))
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # -- learning rate
    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        """Set a fixed learning rate (not allowed when a scheduler is in use)."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. "
                              "Note that set_learning_rate can mutate the value of the "
                              "learning rate of the optimizer only when the LRScheduler of "
                              "the optimizer is undefined.")
        self.lr = lr

    def set_lr_mult(self, args_lr_mult):
        """Per-parameter learning-rate multipliers (symbol `__lr_mult__` first)."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__lr_mult__' in attr[name]:
                    self.lr_mult[name] = float(attr[name]['__lr_mult__'])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Per-parameter wd multipliers; names not ending in _weight/_gamma get 0."""
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith('_weight') or name.endswith('_gamma')):
                self.wd_mult[name] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and '__wd_mult__' in attr[name]:
                    self.wd_mult[name] = float(attr[name]['__wd_mult__'])
        self.wd_mult.update(args_wd_mult)

    def _set_current_context(self, device_id):
        """Switch the per-device update counters."""
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        indices = index if isinstance(index, (list, tuple)) else [index]
        for idx in indices:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _get_lr(self, index):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        if index in self.param_dict:
            lr *= self.param_dict[index].lr_mult
        elif index in self.lr_mult:
            lr *= self.lr_mult[index]
        elif index in self.idx2name:
            lr *= self.lr_mult.get(self.idx2name[index], 1.0)
        return lr

    def _get_wd(self, index):
        wd = self.wd
        if index in self.param_dict:
            wd *= self.param_dict[index].wd_mult
        elif index in self.wd_mult:
            wd *= self.wd_mult[index]
        elif index in self.idx2name:
            wd *= self.wd_mult.get(self.idx2name[index], 1.0)
        return wd

    # -- state and update
    def create_state(self, index, weight):
        """State for one parameter (None by default)."""
        return None

    def create_state_multi_precision(self, index, weight):
        """State with an fp32 master copy for float16 weights when multi_precision."""
        if self.multi_precision and _np(weight).dtype == np.float16:
            master = _as_float32(weight)
            return (master, self.create_state(index, master))
        if _np(weight).dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy "
                          "or slow convergence. Consider using multi_precision=True option "
                          "of the optimizer")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update `weight` in place from `grad`."""
        raise NotImplementedError()

    def update_multi_precision(self, index, weight, grad, state):
        """Update through the fp32 master copy for float16 weights."""
        if self.multi_precision and _np(weight).dtype == np.float16:
            master, inner = state
            self.update(index, master, _as_float32(grad), inner)
            weight[:] = _np(master).astype(np.float16)
        else:
            self.update(index, weight, grad, state)

    # -- compiled-kernel contract
    def _c_kernel(self):
        """(kind, n_states) of the compiled kernel, or None (Python update)."""
        return None

    def _c_extra(self, index):
        """Kind-specific hyper-parameters, after the common four (see C_HYPER_LAYOUT)."""
        return {}

    def _c_hyper(self, index):
        """Count one update of `index` and return the resolved kernel floats."""
        kernel = self._c_kernel()
        if kernel is None:
            raise NotImplementedError("%s has no compiled kernel" % type(self).__name__)
        hyper = self._hyper(index)
        return tuple(float(hyper[key]) for key in C_HYPER_LAYOUT[kernel[0]])

    def _hyper(self, index):
        """Count the update and resolve every hyper-parameter into a dict."""
        self._update_count(index)
        hyper = {'lr': self._get_lr(index), 'wd': self._get_wd(index),
                 'rescale_grad': self.rescale_grad,
                 'clip_gradient': float(self.clip_gradient) if self.clip_gradient else 0.0,
                 't': float(self._index_update_count[index])}
        hyper.update(self._c_extra(index))
        return hyper

    def _c_states_from_mx(self, index, state):
        """MXNet state object -> list of n_states NumPy arrays."""
        arrays = [_np(s) for s in _as_state_list(state)]
        kernel = self._c_kernel()
        if kernel is not None and len(arrays) != kernel[1]:
            raise ValueError("state of parameter %r has %d arrays, %s expects %d"
                             % (index, len(arrays), type(self).__name__, kernel[1]))
        return arrays

    _state_is_tuple = True

    def _c_states_to_mx(self, index, arrays):
        """List of NumPy arrays -> MXNet state object (None, NDArray or tuple)."""
        arrays = list(arrays)
        if not arrays:
            return None
        wrapped = [_wrap(np.asarray(a)) for a in arrays]
        if len(wrapped) == 1 and not self._state_is_tuple:
            return wrapped[0]
        return tuple(wrapped)

    def _sparse_rows(self, hyper, weight, grad, states):
        """The rows a lazy update with a row_sparse gradient touches (MXNet's sparse update
        kernels), or None for the dense update (the "std" update and operator fallback)."""
        return None

    def _apply(self, index, weight, grad, state, rule):
        """Run `rule(hyper, w, g, states)` on NumPy copies and write results back; with a
        lazy sparse update, on the gradient's stored rows only."""
        hyper = self._hyper(index)
        holders = _as_state_list(state)
        rows = self._sparse_rows(hyper, weight, grad, holders)
        stypes = tuple(_stype(a) for a in [weight, grad] + holders)
        if any(s != "default" for s in stypes):
            from .sparse import log_once
            log_once((type(self).__name__, stypes, rows is None),
                     "%s with storage types %s (weight, gradient, states): %s",
                     type(self).__name__, stypes, "the dense update (storage fallback)"
                     if rows is None else "the lazy update of the gradient's stored rows")
        if rows is not None:
            from .sparse import fill_states, write_rows
            fill_states(holders)
            states = [np.asarray(s)[rows] for s in holders]
            new_rows = rule(hyper, np.asarray(weight)[rows], np.asarray(grad)[rows], states)
            for holder, value in zip(holders, states):
                write_rows(holder, rows, value)
            write_rows(weight, rows, new_rows)
            return
        states = [_np(s).copy() for s in holders]
        new_weight = rule(hyper, _np(weight).copy(), _np(grad), states)
        for holder, value in zip(holders, states):
            holder[:] = value
        weight[:] = new_weight

    def __getstate__(self):
        ret = self.__dict__.copy()
        del ret['param_dict']
        return ret

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}


# --------------------------------------------------------------- update rules (numpy)

def _rule_sgd(h, w, g, s):
    return (1 - h['lr'] * h['wd']) * w - h['lr'] * _clip(h['rescale_grad'] * g, h['clip_gradient'])


def _rule_sgd_mom(h, w, g, s):
    mom = s[0]
    mom[...] = h['momentum'] * mom - h['lr'] * h['wd'] * w \
        - h['lr'] * _clip(h['rescale_grad'] * g, h['clip_gradient'])
    return w + mom


def _rule_nag(h, w, g, s):
    mom = s[0]
    # MXNet's nag_mom_update runs in place: the momentum's wd term sees the new weight
    g = _clip(h['rescale_grad'] * g, h['clip_gradient'])
    m = h['momentum'] * mom
    new_w = w - m + (h['momentum'] + 1) * (m - h['lr'] * (g + h['wd'] * w))
    mom[...] = m - h['lr'] * (g + h['wd'] * new_w)
    return new_w


def _rule_adam(h, w, g, s):
    mean, var = s
    t = h['t']
    lr_t = h['lr'] * math.sqrt(1 - h['beta2'] ** t) / (1 - h['beta1'] ** t)
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    mean[...] = h['beta1'] * mean + (1 - h['beta1']) * g
    var[...] = h['beta2'] * var + (1 - h['beta2']) * g * g
    return w - lr_t * mean / (np.sqrt(var) + h['epsilon'])


def _rule_adagrad(h, w, g, s):
    history = s[0]
    g = _clip(h['rescale_grad'] * g, h['clip_gradient'])
    history[...] = history + g * g
    return w - h['lr'] * (g / np.sqrt(history + h['eps']) + h['wd'] * w)


def _clip_weights(w, bound):
    return np.clip(w, -bound, bound) if bound else w


def _rule_rmsprop(h, w, g, s):
    n = s[0]
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    n[...] = (1 - h['gamma1']) * g * g + h['gamma1'] * n
    return _clip_weights(w - h['lr'] * g / np.sqrt(n + h['epsilon']), h['clip_weights'])


def _rule_rmsprop_centered(h, w, g, s):
    n, gbar, delta = s
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    n[...] = (1 - h['gamma1']) * g * g + h['gamma1'] * n
    gbar[...] = (1 - h['gamma1']) * g + h['gamma1'] * gbar
    delta[...] = h['gamma2'] * delta - h['lr'] * g / np.sqrt(n - gbar * gbar + h['epsilon'])
    return _clip_weights(w + delta, h['clip_weights'])


def _rule_adadelta(h, w, g, s):
    acc_g, acc_delta = s
    g = _clip(h['rescale_grad'] * g, h['clip_gradient'])
    acc_g[...] = h['rho'] * acc_g + (1 - h['rho']) * g * g
    delta = np.sqrt(acc_delta + h['epsilon']) / np.sqrt(acc_g + h['epsilon']) * g
    acc_delta[...] = h['rho'] * acc_delta + (1 - h['rho']) * delta * delta
    return w - delta - h['wd'] * w


def _rule_ftrl(h, w, g, s):
    z, n = s
    lr = h['lr']
    g = _clip(h['rescale_grad'] * g, h['clip_gradient'])
    z[...] = z + g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
    n[...] = n + g * g
    new_w = (np.sign(z) * h['lamda1'] - z) / ((h['beta'] + np.sqrt(n)) / lr + h['wd'])
    return np.where(np.abs(z) > h['lamda1'], new_w, 0).astype(w.dtype)


def _rule_signum(h, w, g, s):
    mom = s[0]
    mom[...] = h['momentum'] * mom - (1 - h['momentum']) * (
        h['wd'] * w + _clip(h['rescale_grad'] * g, h['clip_gradient']))
    return (1 - h['lr'] * h['wd_lh']) * w + h['lr'] * np.sign(mom)


def _rule_signsgd(h, w, g, s):
    return (1 - h['lr'] * h['wd']) * w \
        - h['lr'] * np.sign(_clip(h['rescale_grad'] * g, h['clip_gradient']))


def _rule_ftml(h, w, g, s):
    prev_d, prev_v, prev_z = s
    t = h['t']
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    prev_v[...] = h['beta2'] * prev_v + (1 - h['beta2']) * g * g
    d_t = (1 - h['beta1'] ** t) / h['lr'] * (np.sqrt(prev_v / (1 - h['beta2'] ** t))
                                             + h['epsilon'])
    sigma = d_t - h['beta1'] * prev_d
    prev_z[...] = h['beta1'] * prev_z + (1 - h['beta1']) * g - sigma * w
    prev_d[...] = d_t
    return -prev_z / d_t


def _rule_lamb(h, w, g, s):
    mean, var = s
    t = h['t']
    g = _clip(h['rescale_grad'] * g, h['clip_gradient'])
    mean[...] = h['beta1'] * mean + (1 - h['beta1']) * g
    var[...] = h['beta2'] * var + (1 - h['beta2']) * g * g
    if h['bias_correction']:
        step = (mean / (1 - h['beta1'] ** t)) / (np.sqrt(var / (1 - h['beta2'] ** t))
                                                 + h['epsilon'])
    else:
        step = mean / (np.sqrt(var) + h['epsilon'])
    step = step + h['wd'] * w
    r1 = float(np.linalg.norm(w))
    if h['lower_bound']:
        r1 = max(r1, h['lower_bound'])
    if h['upper_bound']:
        r1 = min(r1, h['upper_bound'])
    r2 = float(np.linalg.norm(step))
    ratio = 1.0 if r1 == 0 or r2 == 0 else r1 / r2
    return w - h['lr'] * ratio * step


def _rule_adamax(h, w, g, s):
    m, u = s
    lr_t = h['lr'] / (1 - h['beta1'] ** h['t'])
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    m[...] = h['beta1'] * m + (1 - h['beta1']) * g
    u[...] = np.maximum(h['beta2'] * u, np.abs(g))
    return w - lr_t * m / u


def _rule_nadam(h, w, g, s):
    m, v = s
    t = h['t']
    g = _clip(h['rescale_grad'] * g + h['wd'] * w, h['clip_gradient'])
    m[...] = h['beta1'] * m + (1 - h['beta1']) * g
    v[...] = h['beta2'] * v + (1 - h['beta2']) * g * g
    g_prime = g / (1 - h['m_schedule'])
    m_prime = m / (1 - h['m_schedule_next'])
    v_prime = v / (1 - h['beta2'] ** t)
    m_bar = (1 - h['momentum_t']) * g_prime + h['momentum_t_1'] * m_prime
    return w - h['lr'] * m_bar / (np.sqrt(v_prime) + h['epsilon'])


_RULES = {name[len('_rule_'):]: fn for name, fn in globals().items()
          if name.startswith('_rule_')}


class _KernelOptimizer(Optimizer):
    """Built-in optimizer whose update is one rule shared with the compiled kernel."""

    def update(self, index, weight, grad, state):
        self._apply(index, weight, grad, state, _RULES[self._c_kernel()[0]])


class _MasterLast(object):
    """MXNet's SGD and NAG keep (momentum or None, float32 master copy) for float16
    weights under multi_precision (the other optimizers: master copy first)."""

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and _np(weight).dtype == np.float16:
            master = _as_float32(weight)
            return (self.create_state(index, master), master)
        return super(_MasterLast, self).create_state_multi_precision(index, weight)

    def update_multi_precision(self, index, weight, grad, state):
        if self.multi_precision and _np(weight).dtype == np.float16:
            momentum, master = state
            self.update(index, master, _as_float32(grad), momentum)
            weight[:] = _np(master).astype(np.float16)
        else:
            self.update(index, weight, grad, state)


class _LazyUpdate(object):
    """MXNet's `lazy_update` (SGD, Adam): with a row_sparse gradient and states of the
    weight's storage type, only the gradient's stored rows of weight and states change."""

    def _state_stype(self, weight):
        return _stype(weight) if self.lazy_update else "default"

    def _sparse_rows(self, hyper, weight, grad, states):
        from .sparse import lazy_rows
        rows = lazy_rows(weight, grad, states, type(self).__name__)
        if rows is None or not self.lazy_update or \
                any(_stype(s) != _stype(weight) for s in states):
            return None
        return rows


# -------------------------------------------------------------------------- optimizers

@register
class SGD(_MasterLast, _LazyUpdate, _KernelOptimizer):
    """SGD, with momentum when `momentum` is non-zero."""
    _state_is_tuple = False

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super(SGD, self).__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return None
        return _zeros_like(weight, stype=self._state_stype(weight))

    def _c_kernel(self):
        return ('sgd_mom', 1) if self.momentum != 0.0 else ('sgd', 0)

    def _c_extra(self, index):
        return {'momentum': self.momentum}


register(type('ccSGD', (SGD,), {'__doc__': "Alias of SGD.", '__module__': __name__}))


@register
class NAG(_MasterLast, _KernelOptimizer):
    """Nesterov accelerated gradient; plain SGD when momentum is 0."""
    _state_is_tuple = False

    def __init__(self, momentum=0.0, **kwargs):
        super(NAG, self).__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def _c_kernel(self):
        return ('nag', 1) if self.momentum != 0.0 else ('sgd', 0)

    def _c_extra(self, index):
        return {'momentum': self.momentum}


@register
class Adam(_LazyUpdate, _KernelOptimizer):
    """Adam with bias-corrected step size."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super(Adam, self).__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        stype = self._state_stype(weight)
        return (_zeros_like(weight, stype=stype), _zeros_like(weight, stype=stype))

    def _c_kernel(self):
        return ('adam', 2)

    def _c_extra(self, index):
        return {'beta1': self.beta1, 'beta2': self.beta2, 'epsilon': self.epsilon}


@register
class AdaGrad(_KernelOptimizer):
    """AdaGrad (dense)."""
    _state_is_tuple = False

    def __init__(self, eps=1e-7, **kwargs):
        super(AdaGrad, self).__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight, stype=_stype(weight))

    def _sparse_rows(self, hyper, weight, grad, states):
        # MXNet's sparse adagrad_update: a row_sparse gradient updates its rows only, for a
        # dense or row_sparse weight whose history has the same storage type, without wd
        if _stype(grad) != "row_sparse":
            return None
        from .base import MXNetError
        from .sparse import lazy_rows
        if hyper['wd'] != 0:
            raise MXNetError("AdaGrad: the sparse update (row_sparse gradient) does not "
                             "support weight decay, got wd=%g" % hyper['wd'])
        if _stype(weight) not in ("default", "row_sparse") or \
                any(_stype(s) != _stype(weight) for s in states):
            raise MXNetError("AdaGrad: a row_sparse gradient needs a dense or row_sparse "
                             "weight and history of one storage type, got weight %s, "
                             "history %s" % (_stype(weight), _stype(states[0])))
        return lazy_rows(weight, grad, states, "AdaGrad")

    def _c_kernel(self):
        return ('adagrad', 1)

    def _c_extra(self, index):
        return {'eps': self.float_stable_eps}


@register
class RMSProp(_KernelOptimizer):
    """RMSProp (Tieleman & Hinton) or, with centered=True, the Graves variant."""

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super(RMSProp, self).__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered = centered
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        stype = _stype(weight)
        if self.centered:
            return tuple(_zeros_like(weight, stype=stype) for _ in range(3))
        return (_zeros_like(weight, stype=stype),)

    def _c_kernel(self):
        return ('rmsprop_centered', 3) if self.centered else ('rmsprop', 1)

    def _c_extra(self, index):
        return {'gamma1': self.gamma1, 'gamma2': self.gamma2, 'epsilon': self.epsilon,
                'clip_weights': float(self.clip_weights) if self.clip_weights else 0.0}


@register
class AdaDelta(_KernelOptimizer):
    """AdaDelta; the learning rate is not used.  Like MXNet, rescales `grad` in place."""

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super(AdaDelta, self).__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        super(AdaDelta, self).update(index, weight, grad, state)
        grad[:] = _np(grad) * self.rescale_grad

    def _c_kernel(self):
        return ('adadelta', 2)

    def _c_extra(self, index):
        return {'rho': self.rho, 'epsilon': self.epsilon}


@register
class Ftrl(_KernelOptimizer):
    """Follow the regularized leader (FTRL-proximal)."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super(Ftrl, self).__init__(learning_rate=learning_rate, **kwargs)
        self.lamda1, self.beta = lamda1, beta

    def create_state(self, index, weight):
        stype = _stype(weight)
        return (_zeros_like(weight, stype=stype), _zeros_like(weight, stype=stype))

    def _sparse_rows(self, hyper, weight, grad, states):
        # MXNet's sparse ftrl_update: weight, gradient, z and n all row_sparse
        if any(_stype(a) != "row_sparse" for a in [weight, grad] + list(states)):
            return None
        from .sparse import lazy_rows
        return lazy_rows(weight, grad, states, "Ftrl")

    def _c_kernel(self):
        return ('ftrl', 2)

    def _c_extra(self, index):
        return {'lamda1': self.lamda1, 'beta': self.beta}


@register
class Signum(_KernelOptimizer):
    """Signum (sign of momentum); signSGD when momentum is 0."""
    _state_is_tuple = False

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super(Signum, self).__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.wd_lh = momentum, wd_lh

    def create_state(self, index, weight):
        return _zeros_like(weight, stype=_stype(weight)) if self.momentum != 0.0 else None

    def _c_kernel(self):
        return ('signum', 1) if self.momentum != 0.0 else ('signsgd', 0)

    def _c_extra(self, index):
        return {'momentum': self.momentum, 'wd_lh': self.wd_lh}


@register
class FTML(_KernelOptimizer):
    """Follow the moving leader."""

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        # MXNet 1.x: the learning rate defaults to the Optimizer's (0.01)
        super(FTML, self).__init__(**kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))

    def _c_kernel(self):
        return ('ftml', 3)

    def _c_extra(self, index):
        return {'beta1': self.beta1, 'beta2': self.beta2, 'epsilon': self.epsilon}


@register
class LAMB(_KernelOptimizer):
    """Layer-wise adaptive moments (LAMB)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 lower_bound=None, upper_bound=None, bias_correction=True, **kwargs):
        super(LAMB, self).__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _c_kernel(self):
        return ('lamb', 2)

    def _c_extra(self, index):
        return {'beta1': self.beta1, 'beta2': self.beta2, 'epsilon': self.epsilon,
                'bias_correction': 1.0 if self.bias_correction else 0.0,
                'lower_bound': float(self.lower_bound) if self.lower_bound else 0.0,
                'upper_bound': float(self.upper_bound) if self.upper_bound else 0.0}


@register
class Adamax(_KernelOptimizer):
    """AdaMax (Adam with the infinity norm)."""

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super(Adamax, self).__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2 = beta1, beta2

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _c_kernel(self):
        return ('adamax', 2)

    def _c_extra(self, index):
        return {'beta1': self.beta1, 'beta2': self.beta2}


@register
class Nadam(_KernelOptimizer):
    """Nesterov Adam.  `m_schedule` is shared by all parameters, as in MXNet."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super(Nadam, self).__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def _c_kernel(self):
        return ('nadam', 2)

    def _c_extra(self, index):
        t = self._index_update_count[index]
        momentum_t = self.beta1 * (1. - 0.5 * pow(0.96, t * self.schedule_decay))
        momentum_t_1 = self.beta1 * (1. - 0.5 * pow(0.96, (t + 1) * self.schedule_decay))
        self.m_schedule = self.m_schedule * momentum_t
        return {'beta1': self.beta1, 'beta2': self.beta2, 'epsilon': self.epsilon,
                'momentum_t': momentum_t, 'momentum_t_1': momentum_t_1,
                'm_schedule': self.m_schedule,
                'm_schedule_next': self.m_schedule * momentum_t_1}


@register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics (noise from NumPy's global RNG; no C kernel)."""

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w = _np(weight)
        g = _clip(self.rescale_grad * _np(grad), self.clip_gradient)
        noise = np.random.normal(0, math.sqrt(lr), size=w.shape)
        weight[:] = (w - lr / 2 * (g + wd * w) + noise).astype(w.dtype)


# ----------------------------------------------------------------------------- updater

class Updater(object):
    """Apply an optimizer to (index, grad, weight), keeping per-index states."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        if isinstance(index, (list, tuple)):
            for idx, g, w in zip(index, grad, weight):
                self._update_one(idx, g, w)
        else:
            self._update_one(index, grad, weight)

    def _update_one(self, index, grad, weight):
        if index not in self.states:
            self.states[index] = self.optimizer.create_state_multi_precision(index, weight)
        self.states_synced[index] = True
        self.optimizer.update_multi_precision(index, weight, grad, self.states[index])

    def set_states(self, states):
        """Load pickled states (a dict, or (dict, optimizer) when it was dumped)."""
        states = _loads_states(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        if not isinstance(self.states, dict):
            raise ValueError("optimizer states must unpickle to a dict, got %s"
                             % type(self.states).__name__)
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """Pickle the states (with the optimizer when `dump_optimizer`)."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def _loads_states(blob, source=None):
    """Optimizer states from a `.states` pickle, through the allow-list unpickler."""
    from .states_format import loads
    return loads(blob, source)


def get_updater(optimizer):
    """Updater closure for `optimizer`."""
    return Updater(optimizer)
