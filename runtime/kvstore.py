"""mx.kvstore (mx.kv): MXNet 1.x's key-value store for parameters and gradients.

A store holds one dense array per key (an int or a str). `push` sums the values given for a
key (one per device) and either replaces the stored value with that sum or, once an updater
or optimizer is set, calls ``updater(key, summed, stored)``; `pull` copies the stored value
into every output array.

The local types run in this process. The distributed types (``dist_sync``,
``dist_device_sync``) in a script launched with ``mpirun -np N`` are a store across the N
processes (mxc.dist, over MPI); without such a launch they work as a single worker (rank 0
of 1). ``dist_async`` is refused outright.
"""
import logging
import os

import numpy as np

from .base import MXNetError
from .ndarray import NDArray

__all__ = ["KVStoreBase", "KVStore", "create"]

_log = logging.getLogger("mxc.kvstore")

_LAUNCH_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE",
                     "DMLC_NUM_WORKER")
_COMPRESSION_TYPES = ("1bit", "2bit")
_KNOWN_TYPES = ("local", "device", "nccl", "dist_sync", "dist_device_sync")


# ------------------------------------------------------------------------------ the base

class KVStoreBase(object):
    """What every kvstore offers; `register` adds a user-defined store to `create`."""

    OPTIMIZER = "optimizer"
    kv_registry = {}

    @staticmethod
    def register(klass):
        """Register a KVStoreBase subclass under its lowercased class name."""
        if not (isinstance(klass, type) and issubclass(klass, KVStoreBase)):
            raise TypeError("KVStoreBase.register expects a KVStoreBase subclass, got %r"
                            % (klass,))
        name = klass.__name__.lower()
        if name in KVStoreBase.kv_registry:
            _log.warning("new kvstore %s is overriding the existing kvstore %s",
                         klass.__name__, KVStoreBase.kv_registry[name].__name__)
        KVStoreBase.kv_registry[name] = klass
        return klass

    def is_capable(self, capability):
        """Whether the store supports `capability` (only OPTIMIZER is defined)."""
        if capability != KVStoreBase.OPTIMIZER:
            raise MXNetError("unknown kvstore capability %r (known: %r)"
                             % (capability, KVStoreBase.OPTIMIZER))
        return True


# ----------------------------------------------------------------------- keys and values

def _check_key(key):
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer, str)):
        raise MXNetError("kvstore keys must be ints or strs, got %r (%s)"
                         % (key, type(key).__name__))
    return int(key) if isinstance(key, np.integer) else key


def _check_value(key, value, what):
    if not isinstance(value, NDArray):
        raise MXNetError("kvstore.%s: the value for key %r must be an NDArray, got %s"
                         % (what, key, type(value).__name__))
    if value.stype != "default":
        raise MXNetError("kvstore.%s: key %r has a %s array; only dense arrays are supported"
                         % (what, key, value.stype))
    return value


def _value_list(key, value, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise MXNetError("kvstore.%s: no value given for key %r" % (what, key))
    return [_check_value(key, v, what) for v in values]


def _init_pairs(store, key, value):
    """(key, value) of an init call: a key already in `store`, or several values, refused."""
    for k, vals in _pairs(key, value, "init"):
        if k in store:
            raise MXNetError("kvstore.init: duplicate init of key %r" % (k,))
        if len(vals) != 1:
            raise MXNetError("kvstore.init: key %r got %d values, init takes one"
                             % (k, len(vals)))
        yield k, vals[0]


def _pairs(key, value, what):
    """[(key, [NDArray, ...])] for one key or a list of keys, duplicate keys grouped in the
    order they first appear (a list of values for one key: one value per device)."""
    if isinstance(key, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(key):
            raise MXNetError("kvstore.%s: %d keys need a list of %d values, got %s"
                             % (what, len(key), len(key),
                                "%d values" % len(value) if isinstance(value, (list, tuple))
                                else type(value).__name__))
        items = [(_check_key(k), _value_list(k, v, what)) for k, v in zip(key, value)]
    else:
        items = [(_check_key(key), _value_list(key, value, what))]
    grouped = {}
    for k, vals in items:
        grouped.setdefault(k, []).extend(vals)
    return list(grouped.items())


# ------------------------------------------------------------------------------ types

def _launched_processes():
    """(variable, process count) of a multi-process launch around this process, or None."""
    for var in _LAUNCH_SIZE_VARS:
        raw = os.environ.get(var, "").strip()
        if raw.isdigit() and int(raw) > 1:
            return var, int(raw)
    return None


def _check_type(name):
    """The lowercased type name, or a clear error for the types that cannot run here."""
    if not isinstance(name, str):
        raise TypeError("kvstore name must be a string, got %s" % type(name).__name__)
    name = name.lower()
    if "dist" in name:
        if "async" in name:
            raise MXNetError("kvstore '%s' is not supported: asynchronous distributed "
                             "training is not available in mxc; use 'dist_sync' (or 'local' "
                             "in one process)" % name)
        return name                     # any other dist type is synchronous, as in MXNet
    if name in ("horovod", "byteps"):
        raise MXNetError("kvstore '%s' is not supported; use 'local', 'device' or 'dist_sync'"
                         % name)
    if any(kind in name for kind in ("local", "device", "nccl")):
        return name
    raise MXNetError("unknown kvstore type '%s' (known: %s)" % (name, ", ".join(_KNOWN_TYPES)))


def _check_single_process(name):
    launch = _launched_processes()
    if launch is not None:
        raise MXNetError("kvstore '%s': this process is one of %d launched processes (%s=%d); "
                         "create the store with mx.kv.create('%s') to train across them"
                         % (name, launch[1], launch[0], launch[1], name))
    _log.warning("kvstore '%s' runs in this one process as rank 0 of 1 worker; training "
                 "across several processes needs the script launched with "
                 "`mpirun -np N python SCRIPT`", name)


# ------------------------------------------------------------------------------ the store

class KVStore(KVStoreBase):
    """A key-value store in this process (create one with `mx.kv.create`)."""

    def __init__(self, kvstore_type="local"):
        self._type = _check_type(kvstore_type)
        if "dist" in self._type:
            _check_single_process(self._type)
        self._store = {}
        self._updater = None
        self._compression = None

    # -- attributes
    @property
    def type(self):
        """The type name given to `create` (lowercased)."""
        return self._type

    @property
    def rank(self):
        """This worker's rank: 0, the only worker."""
        return 0

    @property
    def num_workers(self):
        """Number of workers: 1 (everything runs in this process)."""
        return 1

    @property
    def gradient_compression(self):
        """The compression set by `set_gradient_compression` (a dict), or None."""
        return dict(self._compression) if self._compression else None

    def barrier(self):
        """Wait for every worker: with one worker there is no one to wait for."""

    _barrier = barrier

    def num_dead_node(self, node_id, timeout_sec=60):
        """Dead nodes in the group: none (no other node exists)."""
        return 0

    # -- data
    def _lookup(self, key, what):
        if key not in self._store:
            raise MXNetError("kvstore.%s: key %r has not been initialized (call init first)"
                             % (what, key))
        return self._store[key]

    def init(self, key, value):
        """Store a copy of `value` under `key` (or each of a list of keys)."""
        for k, v in _init_pairs(self._store, key, value):
            self._store[k] = v.copy()

    def _merge(self, key, values, stored):
        """The sum of the values pushed for `key`, in the stored array's dtype."""
        for v in values:
            if v.shape != stored.shape:
                raise MXNetError("kvstore.push: key %r holds shape %s, got a value of shape %s"
                                 % (key, stored.shape, v.shape))
        merged = np.array(values[0].asnumpy(), dtype=stored.dtype)
        for v in values[1:]:
            merged += v.asnumpy()
        return NDArray(merged, stored.context)

    def push(self, key, value, priority=0):
        """Sum the values for each key; update the stored value with the updater if one is
        set, else replace it with the sum."""
        for k, vals in _pairs(key, value, "push"):
            stored = self._lookup(k, "push")
            merged = self._merge(k, vals, stored)
            if self._updater is not None:
                self._updater(k, merged, stored)
            else:
                stored[:] = merged

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy the stored value of each key into its output array(s)."""
        if out is None:
            raise MXNetError("kvstore.pull: out must be given (the arrays to copy into)")
        for k, outs in _pairs(key, out, "pull"):
            stored = self._lookup(k, "pull")
            for o in outs:
                if o.shape != stored.shape:
                    raise MXNetError("kvstore.pull: key %r holds shape %s, the output array "
                                     "has shape %s" % (k, stored.shape, o.shape))
                o[:] = stored

    def pushpull(self, key, value, out=None, priority=0):
        """push(key, value), then pull into `out` (into `value` when out is None)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """init(key, value), then pull into `out`."""
        self.init(key, value)
        self.pull(key, out, priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Not available: mxc arrays are dense."""
        raise MXNetError("kvstore.row_sparse_pull (key %r): row_sparse storage is not "
                         "supported; mxc arrays are dense, use pull" % (key,))

    # -- updates
    def _set_updater(self, updater):
        """Call `updater(key, merged_value, stored_value)` on every push."""
        if not callable(updater):
            raise MXNetError("kvstore: the updater must be callable, got %s"
                             % type(updater).__name__)
        self._updater = updater

    set_updater = _set_updater

    def set_optimizer(self, optimizer):
        """Run `optimizer` on every push (through mx.optimizer.get_updater)."""
        from . import optimizer as opt
        if not isinstance(optimizer, opt.Optimizer):
            raise MXNetError("kvstore.set_optimizer expects an mx.optimizer.Optimizer, got %s"
                             % type(optimizer).__name__)
        self._set_updater(opt.get_updater(optimizer))

    def set_gradient_compression(self, compression_params):
        """Accept MXNet's compression settings ({'type': '2bit', 'threshold': 0.5})."""
        if "device" not in self._type and "dist" not in self._type:
            raise MXNetError("gradient compression is not supported for kvstore type '%s' "
                             "(only 'device' and 'dist_*' types)" % self._type)
        self._compression = _compression_settings(compression_params)
        _log.info("kvstore '%s': gradient compression %s accepted; with one process on one "
                  "device no gradient is sent anywhere, so nothing is quantized",
                  self._type, self._compression)

    def _updater_with_states(self, what):
        if self._updater is None:
            raise MXNetError("kvstore.%s: no optimizer is set on this kvstore (call "
                             "set_optimizer first)" % what)
        if not hasattr(self._updater, "states"):
            raise MXNetError("kvstore.%s: the updater %s keeps no optimizer states"
                             % (what, type(self._updater).__name__))
        return self._updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the updater's states (with the optimizer when dump_optimizer) to `fname`."""
        from . import states_format
        from .compiler.fileio import atomic_write
        updater = self._updater_with_states("save_optimizer_states")
        states = (updater.states, updater.optimizer) if dump_optimizer else updater.states
        atomic_write(fname, states_format.dumps(states))

    def load_optimizer_states(self, fname):
        """Read states written by save_optimizer_states (mxc's or MXNet's) from `fname`."""
        from . import states_format
        updater = self._updater_with_states("load_optimizer_states")
        try:
            with open(fname, "rb") as f:
                blob = f.read()
        except OSError as err:
            raise MXNetError("kvstore.load_optimizer_states: cannot read '%s': %s"
                             % (fname, err)) from None
        states_format.loads(blob, fname)        # a clear error naming the file if bad
        try:
            updater.set_states(blob)
        except ValueError as err:
            raise MXNetError("kvstore.load_optimizer_states: '%s': %s" % (fname, err)) \
                from None


def _compression_settings(params):
    if not isinstance(params, dict):
        raise MXNetError("compression_params must be a dict such as {'type': '2bit', "
                         "'threshold': 0.5}, got %s" % type(params).__name__)
    unknown = sorted(set(params) - {"type", "threshold"})
    if unknown:                         # MXNet ignores them too; say so
        _log.warning("compression_params: ignoring unknown key(s) %s (known: type, "
                     "threshold)", unknown)
    kind = params.get("type")
    if kind not in _COMPRESSION_TYPES:
        raise MXNetError("compression_params: type must be one of %s, got %r"
                         % (", ".join(_COMPRESSION_TYPES), kind))
    try:
        threshold = float(params.get("threshold", 0.5))
    except (TypeError, ValueError):
        raise MXNetError("compression_params: threshold must be a number, got %r"
                         % (params.get("threshold"),)) from None
    if kind == "2bit" and not threshold > 0:
        raise MXNetError("compression_params: the 2bit threshold must be positive, got %g"
                         % threshold)
    return {"type": kind, "threshold": threshold}


def create(name="local"):
    """A new kvstore: 'local', 'device', 'nccl', 'dist_sync', 'dist_device_sync', or the
    name of a class registered with KVStoreBase.register."""
    if not isinstance(name, str):
        raise TypeError("kvstore name must be a string, got %s" % type(name).__name__)
    registered = KVStoreBase.kv_registry.get(name.lower())
    if registered is not None:
        return registered()
    if "dist" in name.lower():
        from . import dist
        dist.check_launcher(_check_type(name))
        if dist.launched_size() > 1:
            return dist.create(name)
    return KVStore(name)
