"""BucketingModule: one Module per bucket key, parameters and optimizer state shared.

`sym_gen(bucket_key)` returns `(symbol, data_names, label_names)`. Every bucket is its own
Module, so its own compiled library (the build cache keys it by graph and shapes, so a bucket
seen before, in this process or an earlier one, loads without compiling). The buckets hold
one set of parameters: whenever the current bucket changes, the parameters and auxiliary
states of the bucket just used are copied into the next one (the compiled code never sees two
copies at once). Buckets of one unrolled network lay their parameters out alike: the whole
parameter region is then one memory copy and all of them update one optimizer state buffer;
buckets laid out differently copy parameters and optimizer state by name.
"""
import logging
import warnings

from ..base import MXNetError
from .module import BaseModule, Module


class BucketingModule(BaseModule):
    """MXNet's BucketingModule over compiled Modules."""

    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=None,
                 work_load_list=None, fixed_param_names=None, state_names=None,
                 group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if default_bucket_key is None:
            raise MXNetError("BucketingModule: default_bucket_key is required")
        if not callable(sym_gen):
            raise MXNetError("BucketingModule: sym_gen must be callable, got %s"
                             % type(sym_gen).__name__)
        self._sym_gen = sym_gen
        self._default_bucket_key = default_bucket_key
        self._module_kwargs = dict(
            logger=logger, context=context, work_load_list=work_load_list,
            fixed_param_names=list(fixed_param_names or []),
            state_names=list(state_names or []), group2ctxs=group2ctxs,
            compression_params=compression_params)
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        self._default_names = (list(data_names), list(label_names or []),
                               symbol.list_outputs())
        self._symbol = symbol
        self._buckets = {}
        self._stash = {}            # parameters the current bucket lacks, kept for later ones
        self._curr_module = None
        self._curr_bucket_key = None
        self._grad_req = "write"
        self._monitor = None
        self._arg_params = self._aux_params = None       # pending until bind (load)

    def _call_sym_gen(self, bucket_key):
        """sym_gen(bucket_key) with fresh automatic names (MXNet's rule), so a bucket's graph
        is the same every time it is generated and its compiled library a cache hit."""
        from ..name import NameManager
        with NameManager():
            result = self._sym_gen(bucket_key)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise MXNetError("BucketingModule: sym_gen(%r) must return (symbol, data_names, "
                             "label_names), got %r" % (bucket_key, type(result).__name__))
        symbol, data_names, label_names = result
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        return symbol, data_names, label_names

    # -- properties ---------------------------------------------------------------------------
    @property
    def default_bucket_key(self):
        return self._default_bucket_key

    @property
    def data_names(self):
        return self._curr_module.data_names if self.binded else self._default_names[0]

    @property
    def output_names(self):
        return self._curr_module.output_names if self.binded else self._default_names[2]

    @property
    def data_shapes(self):
        self._check_ready("data_shapes")
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        self._check_ready("label_shapes")
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        self._check_ready("output_shapes")
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        self._check_ready("symbol")
        return self._curr_module.symbol

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        if not self.params_initialized:
            raise MXNetError("BucketingModule.get_params: call init_params() first")
        if not self.binded:
            return dict(self._arg_params), dict(self._aux_params)
        return self._curr_module.get_params()

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            return
        self._check_ready("init_params")
        self._curr_module.init_params(initializer=initializer, arg_params=arg_params,
                                      aux_params=aux_params, allow_missing=allow_missing,
                                      force_init=force_init, allow_extra=allow_extra)
        self._stash = {}
        self.params_initialized = True

    def _write_params(self, arg_params, aux_params, allow_missing, allow_extra):
        self._check_ready("set_params")
        self._curr_module.set_params(arg_params, aux_params, allow_missing=allow_missing,
                                     force_init=True, allow_extra=allow_extra)
        for name in arg_params or {}:
            self._stash.pop(name, None)

    def get_states(self, merge_multi_context=True):
        self._check_ready("get_states", params=True)
        return self._curr_module.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        self._check_ready("set_states", params=True)
        self._curr_module.set_states(states, value)

    # -- binding ------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        pending = None
        if self.params_initialized:
            pending = self.get_params()
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if shared_module is not None:
            raise MXNetError("BucketingModule.bind: shared_module is not supported (the "
                             "buckets already share their parameters)")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        module = self._new_module(self._default_bucket_key)
        module.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                    force_rebind=False, shared_module=None, grad_req=grad_req)
        self._buckets = {self._default_bucket_key: module}
        self._curr_module = module
        self._curr_bucket_key = self._default_bucket_key
        self.binded = True
        if pending is not None:
            self.set_params(*pending)
            self._arg_params = self._aux_params = None

    def _new_module(self, bucket_key):
        symbol, data_names, label_names = self._call_sym_gen(bucket_key)
        module = Module(symbol, data_names, label_names, **self._module_kwargs)
        module._kernel_hint = getattr(self, "_kernel_hint", None)
        return module

    def _reset_bind(self):
        self.binded = False
        self._buckets = {}
        self._stash = {}
        self._curr_module = None
        self._curr_bucket_key = None

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None):
        """Make `bucket_key` the current bucket, binding its Module on first use."""
        self._check_ready("switch_bucket")
        if bucket_key is None:
            bucket_key = self._default_bucket_key
        module = self._buckets.get(bucket_key)
        if module is None:
            if data_shapes is None:
                raise MXNetError("BucketingModule.switch_bucket: bucket %r is new and needs "
                                 "data_shapes" % (bucket_key,))
            module = self._new_module(bucket_key)
            module.bind(data_shapes, label_shapes, self.for_training, self.inputs_need_grad,
                        force_rebind=False, shared_module=None, grad_req=self._grad_req)
            self._check_shared_params(bucket_key, module)
            self._buckets[bucket_key] = module
        if module is not self._curr_module:
            self._hand_over(self._curr_module, module)
            if self._monitor is not None and module._monitor is None:
                module.install_monitor(self._monitor)
        self._curr_module = module
        self._curr_bucket_key = bucket_key

    def _check_shared_params(self, bucket_key, module):
        default = self._buckets[self._default_bucket_key]
        for name in module._param_names + module._aux_names:
            mine = module._exec.arg_arrays.get(name, module._exec.aux_arrays.get(name))
            theirs = default._exec.arg_arrays.get(name, default._exec.aux_arrays.get(name))
            if theirs is not None and mine.shape != theirs.shape:
                raise MXNetError("BucketingModule: parameter '%s' has shape %s in bucket %r "
                                 "but %s in the default bucket %r" % (
                                     name, mine.shape, bucket_key, theirs.shape,
                                     self._default_bucket_key))

    def _hand_over(self, src, dst):
        """Copy parameters and optimizer state from the bucket just used into the next.

        Buckets whose parameter regions have one layout (the same parameters, shapes and
        offsets: every bucket of an unrolled network) take the region as one memory copy and
        use one optimizer state buffer; others copy by name."""
        same = _same_layout(src, dst)
        if self.params_initialized:
            if same:
                s, d = src._exec, dst._exec
                d.arena[d.plan.param_begin:d.plan.param_end] = \
                    s.arena[s.plan.param_begin:s.plan.param_end]
                for name, arr in s.aux_arrays.items():
                    if name in d.aux_arrays:
                        d.aux_arrays[name][...] = arr
            else:
                self._stash_params(src, dst)
                dst._write_params(*src.get_params(), allow_missing=True, allow_extra=True)
            dst.params_initialized = True
        if self.optimizer_initialized:
            if not dst.optimizer_initialized or (same and src._opt_state is not dst._opt_state
                                                 and src._opt_kernel is not None):
                _share_optimizer(src, dst, share_state=same)
            _copy_optimizer_state(src, dst)
        if not same:
            self._unstash_params(src, dst)
        if src is not None and self.for_training:     # 'add' keeps accumulating across buckets
            for name, grad in src._exec.grad_arrays.items():
                if dst._grad_reqs.get(name) == "add" and name in dst._exec.grad_arrays:
                    dst._exec.grad_arrays[name][...] = grad

    def _stash_params(self, src, dst):
        """Keep the parameters (and their optimizer states) that src has and dst lacks: a later
        bucket that has them again takes them from here, not from its own stale copy."""
        states = _state_views(src)
        for name in src._param_names:
            if name not in dst._exec.arg_arrays:
                self._stash[name] = (src._exec.arg_arrays[name].copy(),
                                     [s.copy() for s in states.get(name, ())])

    def _unstash_params(self, src, dst):
        """The stashed parameters dst has and src lacks (written after the hand-over)."""
        states = _state_views(dst)
        for name in dst._param_names:
            if name in src._exec.arg_arrays or name not in self._stash:
                continue
            value, saved = self._stash.pop(name)
            dst._write_params({name: value}, {}, allow_missing=True, allow_extra=True)
            for view, arr in zip(states.get(name, ()), saved):
                view[...] = arr

    # -- optimizer ----------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._check_ready("init_optimizer", params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        self._curr_module.init_optimizer(kvstore, optimizer, optimizer_params,
                                         force_init=force_init)
        for module in self._buckets.values():
            if module is not self._curr_module:
                module.optimizer_initialized = False
        self.optimizer_initialized = True

    def borrow_optimizer(self, shared_module):
        raise MXNetError("BucketingModule.borrow_optimizer: a BucketingModule owns its "
                         "optimizer (call init_optimizer)")

    def save_optimizer_states(self, fname):
        self._check_ready("save_optimizer_states", params=True, optimizer=True)
        self._curr_module.save_optimizer_states(fname)

    def load_optimizer_states(self, fname):
        self._check_ready("load_optimizer_states", params=True, optimizer=True)
        self._curr_module.load_optimizer_states(fname)

    # -- computation --------------------------------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Dense parameters need no preparation; the bucket switch happens in forward."""

    def forward(self, data_batch, is_train=None):
        self._check_ready("forward", params=True)
        self.switch_bucket(getattr(data_batch, "bucket_key", None),
                           getattr(data_batch, "provide_data", None),
                           getattr(data_batch, "provide_label", None))
        self._curr_module.forward(data_batch, is_train=is_train)

    def backward(self, out_grads=None):
        self._check_ready("backward", params=True)
        self._curr_module.backward(out_grads=out_grads)

    def update(self):
        self._check_ready("update", params=True, optimizer=True)
        self._curr_module.update()

    def get_outputs(self, merge_multi_context=True):
        self._check_ready("get_outputs", params=True)
        return self._curr_module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check_ready("get_input_grads", params=True)
        return self._curr_module.get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._check_ready("update_metric", params=True)
        self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._check_ready("install_monitor")
        self._monitor = mon
        self._curr_module.install_monitor(mon)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False):
        """`prefix-<bucket_key>-symbol.json` for every bound bucket and `prefix-%04d.params`."""
        self._check_ready("save_checkpoint", params=True)
        for bucket_key, module in self._buckets.items():
            module.symbol.save("%s-%s-symbol.json" % (prefix, bucket_key),
                               remove_amp_cast=remove_amp_cast)
        param_name = "%s-%04d.params" % (prefix, epoch)
        self.save_params(param_name)
        logging.getLogger("mxc.module").info('Saved checkpoint to "%s"', param_name)

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None, **kwargs):
        """A BucketingModule holding the parameters of `prefix-%04d.params` (set at bind)."""
        if sym_gen is None:
            raise MXNetError("BucketingModule.load: sym_gen is required")
        if default_bucket_key is None:
            raise MXNetError("BucketingModule.load: default_bucket_key is required")
        from ..model import load_params
        mod = BucketingModule(sym_gen, default_bucket_key=default_bucket_key, **kwargs)
        mod._arg_params, mod._aux_params = load_params(prefix, epoch)
        mod.params_initialized = True
        return mod


def _state_views(module):
    """{parameter name: views of its compiled optimizer states}; empty without them."""
    if not module.optimizer_initialized or module._opt_kernel is None \
            or module._opt_state is None:
        return {}
    slices = module._exec.state_slices(module._opt_kernel[1])
    return {name: [module._opt_state[sl] for sl in sls] for name, sls in slices.items()}


def _param_layout(module):
    """(name, shape, offset in the parameter region) of each parameter of module's bound plan,
    and the region's length; None unless the module runs one executor over a host arena (not
    several contexts, a device, or a graph cut at Custom operators)."""
    from ..executor import HostMemory
    execs = getattr(module, "_execs", None) or [module._exec]
    ex = execs[0]
    if len(execs) != 1 or not isinstance(getattr(ex, "memory", None), HostMemory):
        return None
    layout = getattr(ex, "_param_layout", None)
    if layout is None:
        plan = ex.plan
        layout = (tuple((a.name, tuple(a.value.shape), a.value.offset - plan.param_begin)
                        for a in plan.params), plan.param_end - plan.param_begin, ex.dtype)
        ex._param_layout = layout
    return layout


def _same_layout(src, dst):
    a = _param_layout(src)
    return a is not None and a == _param_layout(dst)


def _share_optimizer(src, dst, share_state=False):
    """dst uses src's optimizer object (update counts, learning rate schedule) from now on;
    with share_state (the parameter regions have one layout) also src's compiled state
    buffer, so a switch copies no optimizer state."""
    same_layout = src._param_names == dst._param_names
    if src._opt_kernel is None and not same_layout:
        raise MXNetError("BucketingModule: buckets must list their parameters in the same "
                         "order for an optimizer without a compiled kernel (%s vs. %s)"
                         % (src._param_names, dst._param_names))
    dst._optimizer = src._optimizer
    dst._kvstore, dst._update_on_kvstore = src._kvstore, src._update_on_kvstore
    if src._opt_kernel is None:
        dst._updater, dst._opt_kernel, dst._opt_state = src._updater, None, None
        dst._lazy_params = getattr(src, "_lazy_params", {})     # lazy row_sparse updates
        dst.optimizer_initialized = True
        return
    if share_state and dst._exec.use_optimizer(src._opt_kernel[0]):
        from .module import _CompiledUpdater
        dst._opt_kernel, dst._opt_state = src._opt_kernel, src._opt_state
        dst._updater = _CompiledUpdater(dst)
    else:
        dst._setup_updater()    # dst's own state buffer, filled by _copy_optimizer_state
    dst.optimizer_initialized = True


def _copy_optimizer_state(src, dst):
    """Optimizer state of src's parameters, by name, into dst's compiled state buffer."""
    if src._opt_kernel is None or dst._opt_kernel is None:
        return
    if src._opt_state is dst._opt_state:
        return
    if src._opt_kernel[0] != dst._opt_kernel[0]:
        raise MXNetError("BucketingModule: buckets bound different optimizer kernels (%s, %s)"
                         % (src._opt_kernel[0], dst._opt_kernel[0]))
    n_states = src._opt_kernel[1]
    src_slices = src._exec.state_slices(n_states)
    dst_slices = dst._exec.state_slices(n_states)
    for name, slices in dst_slices.items():
        for s, d in zip(src_slices.get(name, ()), slices):
            dst._opt_state[d] = src._opt_state[s]
