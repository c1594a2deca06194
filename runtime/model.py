"""mx.model: checkpoint files (`prefix-symbol.json`, `prefix-%04d.params`), BatchEndParam, and
the choice of kvstore for training (`_create_kvstore`)."""
import logging
import os
from collections import namedtuple

import numpy as np

from . import ndarray as nd
from .base import MXNetError

BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write `prefix-symbol.json` (unless symbol is None) and `prefix-%04d.params`; in a
    multi-process job (kvstore 'dist_sync' under mpirun) only rank 0 writes."""
    from .dist import writes_checkpoints
    if not writes_checkpoints():
        logging.debug("checkpoint %s-%04d: written by rank 0, not this worker", prefix, epoch)
        return
    if symbol is not None:
        symbol.save("%s-symbol.json" % prefix, remove_amp_cast=remove_amp_cast)
    save_dict = {("arg:%s" % k): v.as_in_context(_cpu()) for k, v in arg_params.items()}
    save_dict.update({("aux:%s" % k): v.as_in_context(_cpu()) for k, v in aux_params.items()})
    param_name = "%s-%04d.params" % (prefix, epoch)
    nd.save(param_name, save_dict)
    logging.info('Saved checkpoint to "%s"', param_name)


def _cpu():
    from .context import cpu
    return cpu()


def split_params(save_dict, fname=None, strict=False):
    """Split a loaded `.params` dict into (arg_params, aux_params) by their prefixes."""
    arg_params, aux_params = {}, {}
    if not save_dict:
        logging.warning("Params file '%s' is empty", fname)
        return arg_params, aux_params
    if not isinstance(save_dict, dict):
        raise MXNetError("params file '%s' holds an unnamed list of arrays, not arg:/aux: "
                         "parameters" % fname)
    for k, v in save_dict.items():
        tp, _, name = k.partition(":")
        if tp == "arg":
            arg_params[name] = v
        elif tp == "aux":
            aux_params[name] = v
        elif strict:
            raise ValueError("Invalid param file %s: key %r has no arg:/aux: prefix"
                             % (fname, k))
    return arg_params, aux_params


def load_params(prefix, epoch):
    """(arg_params, aux_params) from `prefix-%04d.params`."""
    fname = "%s-%04d.params" % (prefix, epoch)
    return split_params(nd.load(fname), fname)


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) from a checkpoint written by MXNet or mxc."""
    from . import symbol as sym
    symbol = sym.load("%s-symbol.json" % prefix)
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params


_LOCAL_UPDATE_SIZE = 16 * 1024 * 1024   # 'local' updates on the devices above this many elements


def _create_kvstore(kvstore, num_device, arg_params):
    """(kvstore or None, update_on_kvstore) for training on `num_device` contexts, as MXNet
    decides: None and a plain type name on one device need no store; a dist type name or a
    KVStore object gets one, which runs the optimizer unless MXNET_UPDATE_ON_KVSTORE=0, the
    store cannot, or a 'local' store has a parameter above 16M elements.
    `arg_params` maps names to anything with a `.shape`."""
    from . import kvstore as kvs
    update_on_kvstore = bool(int(os.getenv("MXNET_UPDATE_ON_KVSTORE", "1")))
    if kvstore is None:
        kv = None
    elif isinstance(kvstore, kvs.KVStoreBase):
        kv = kvstore
    elif isinstance(kvstore, str):
        if num_device == 1 and "dist" not in kvstore:
            kvs._check_type(kvstore)            # a misspelt type still gets a clear error
            kv = None
        else:
            kv = kvs.create(kvstore)
            if kvstore == "local" and arg_params and max(
                    int(np.prod(p.shape)) for p in arg_params.values()) > _LOCAL_UPDATE_SIZE:
                update_on_kvstore = False
    else:
        raise TypeError("kvstore must be KVStore, str or None, got %s" % type(kvstore).__name__)
    if kv is None:
        return None, False
    return kv, update_on_kvstore and kv.is_capable(kvs.KVStoreBase.OPTIMIZER)
