"""mx.module.module: Module, MXNet's intermediate and high-level training API, on compiled C.

Every forward, backward and optimizer step runs in the library the compiler generated for the
bound graph and shapes. `fit` on an NDArrayIter runs whole epochs in one C call (callbacks
still fire); other iterators go one batch per call.
"""
import logging
import pickle
import time
import warnings

import numpy as np

from .. import metric as _metric
from .. import ndarray as nd
from .. import profiler as _profiler
from ..base import MXNetError
from ..context import Context, cpu
from ..segmented_executor import executor_for
from ..io import DataBatch, DataDesc, check_real_data
from ..model import BatchEndParam
from . import data_parallel as _dp

_NOT_WD_SUFFIXES = ("_weight", "_bias", "_gamma", "_beta")


def _as_list(obj):
    if obj is None:
        return []
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _as_numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def _check_iterator(what, argname, data_iter):
    """MXNetError unless data_iter can be iterated and reset like a DataIter."""
    if not (hasattr(data_iter, "reset") and hasattr(data_iter, "__iter__")):
        raise MXNetError("Module.%s: %s must be a DataIter (such as mx.io.NDArrayIter), got %s"
                         % (what, argname, type(data_iter).__name__))


def _descs(shapes):
    out = []
    for s in shapes or []:
        if isinstance(s, DataDesc):
            out.append(s)
        else:
            name, shape = s[0], s[1]
            out.append(DataDesc(name, tuple(shape)))
    return out


class BaseModule:
    """The high-level loops (fit, score, predict) over the intermediate API."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None

    # -- high level ---------------------------------------------------------------------------
    def forward_backward(self, data_batch):
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        self._check_ready("score", params=True)
        _check_iterator("score", "eval_data", eval_data)
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        actual_num_batch = 0
        whole_pass = None
        if num_batch is None and batch_end_callback is None:
            whole_pass = self._fast_path(eval_data, eval_metric)
        if whole_pass is not None:
            actual_num_batch = whole_pass()
        for nbatch, eval_batch in enumerate(eval_data if whole_pass is None else ()):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            if isinstance(eval_batch, list):        # pre-sliced: one batch per context
                self.update_metric(eval_metric, [eb.label for eb in eval_batch],
                                   pre_sliced=True)
            else:
                self.update_metric(eval_metric, eval_batch.label)
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                       locals=locals())
                for cb in _as_list(batch_end_callback):
                    cb(params)
            actual_num_batch += 1
        if score_end_callback:
            params = BatchEndParam(epoch=epoch, nbatch=actual_num_batch,
                                   eval_metric=eval_metric, locals=locals())
            for cb in _as_list(score_end_callback):
                cb(params)
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        self._check_ready("iter_predict", params=True)
        _check_iterator("iter_predict", "eval_data", eval_data)
        if reset:
            eval_data.reset()
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad] for out in self.get_outputs()]
            yield (outputs, nbatch, eval_batch)

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        self._check_ready("predict", params=True)
        if isinstance(eval_data, (nd.NDArray, np.ndarray)):
            check_real_data("Module.predict: eval_data", eval_data)
            if isinstance(eval_data, np.ndarray):
                eval_data = nd.array(eval_data)
            self.forward(DataBatch([eval_data]))
            return self.get_outputs()[0].copy()
        from ..io import DataIter
        if not isinstance(eval_data, DataIter):
            raise ValueError("eval_data must be of type NDArray or DataIter")
        _check_iterator("predict", "eval_data", eval_data)
        if reset:
            eval_data.reset()
        output_list = []
        whole_pass = self._fast_path(eval_data) if num_batch is None and merge_batches \
            else None
        if whole_pass is not None:
            merged = whole_pass()
            return merged[0] if len(merged) == 1 and not always_output_list else merged
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [nd.NDArray(out.asnumpy()[0:out.shape[0] - pad])
                       for out in self.get_outputs()]
            output_list.append(outputs)
        if not output_list:
            return output_list
        if merge_batches:
            num_outputs = len(output_list[0])
            for out in output_list:
                assert len(out) == num_outputs, \
                    "Cannot merge batches, as num of outputs is not the same in mini-batches."
            merged = [nd.NDArray(np.concatenate([out[i]._data for out in output_list]))
                      for i in range(num_outputs)]
            if num_outputs == 1 and not always_output_list:
                return merged[0]
            return merged
        return output_list

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=None, arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None):
        if num_epoch is None:
            raise MXNetError("fit: please specify number of epochs (num_epoch)")
        _check_iterator("fit", "train_data", train_data)
        if eval_data is not None:
            _check_iterator("fit", "eval_data", eval_data)
        from ..initializer import Uniform
        if initializer is None:
            initializer = Uniform(0.01)
        self._kernel_hint = _kernel_kind(optimizer, optimizer_params)
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer=initializer, arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)

        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            whole_pass = self._fast_path(train_data, eval_metric, train=True) \
                if monitor is None else None
            if whole_pass is not None:
                whole_pass(self._batch_end(epoch, eval_metric, batch_end_callback))
            else:
                self._fit_epoch(epoch, train_data, eval_metric, batch_end_callback, monitor,
                                sparse_row_id_fn)
            for name, val in eval_metric.get_global_name_value():
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            toc = time.time()
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, (toc - tic))
            arg_params_, aux_params_ = self.get_params()
            self.set_params(arg_params_, aux_params_)
            for callback in _as_list(epoch_end_callback):
                callback(epoch, self.symbol, arg_params_, aux_params_)
            if eval_data:
                res = self.score(eval_data, validation_metric,
                                 score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback, epoch=epoch)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
            train_data.reset()

    def _fit_epoch(self, epoch, train_data, eval_metric, batch_end_callback, monitor,
                   sparse_row_id_fn):
        """One epoch, one batch at a time (any iterator)."""
        nbatch = 0
        data_iter = iter(train_data)
        end_of_batch = False
        try:
            next_data_batch = next(data_iter)
        except StopIteration:
            raise MXNetError("fit: train_data (%s) yields no batches in epoch %d; is it empty "
                             "or not reset?" % (type(train_data).__name__, epoch)) from None
        while not end_of_batch:
            data_batch = next_data_batch
            if monitor is not None:
                monitor.tic()
            self.forward_backward(data_batch)
            self.update()
            if isinstance(data_batch, list):
                self.update_metric(eval_metric, [db.label for db in data_batch],
                                   pre_sliced=True)
            else:
                self.update_metric(eval_metric, data_batch.label)
            try:
                next_data_batch = next(data_iter)
                self.prepare(next_data_batch, sparse_row_id_fn=sparse_row_id_fn)
            except StopIteration:
                end_of_batch = True
            if monitor is not None:
                monitor.toc_print()
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                       locals=locals())
                for cb in _as_list(batch_end_callback):
                    cb(params)
            nbatch += 1

    @staticmethod
    def _batch_end(epoch, eval_metric, batch_end_callback):
        """batch_end(nbatch) running the callbacks, or None when there are none."""
        if batch_end_callback is None:
            return None

        def batch_end(nbatch):
            params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                   locals=locals())
            for cb in _as_list(batch_end_callback):
                cb(params)
        return batch_end

    def _fast_path(self, data_iter, metric=None, train=False):
        """A callable running a whole pass over data_iter in compiled code, or None (the
        batch-by-batch loop runs). See Executor.fast_path."""
        return None

    def _check_ready(self, what, params=False, optimizer=False):
        """MXNetError naming what to call first when the module is not bound / initialised."""
        missing = [call for call, ok in (("bind()", self.binded),
                                         ("init_params()", not params or self.params_initialized),
                                         ("init_optimizer()",
                                          not optimizer or self.optimizer_initialized))
                   if not ok]
        if missing:
            calls = missing[0] if len(missing) == 1 else \
                "%s and %s" % (", ".join(missing[:-1]), missing[-1])
            raise MXNetError("Module.%s: call %s first" % (what, calls))

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Only matters for row_sparse parameters on a kvstore; dense parameters need nothing."""

    @property
    def symbol(self):
        return self._symbol

    # -- parameters, in terms of get_params / init_params --------------------------------------
    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """MXNet's set_params: every parameter given (init_params does the checks), or, with
        allow_missing, only the given ones written over the current values."""
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "set_params call ignored.", stacklevel=2)
            return
        self._write_params(arg_params, aux_params, allow_missing=True, allow_extra=allow_extra)
        self.params_initialized = True

    def _write_params(self, arg_params, aux_params, allow_missing, allow_extra):
        """Write the given parameters (a subclass may write them more directly)."""
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=True, allow_extra=allow_extra)

    def save_params(self, fname):
        """Write the parameters as MXNet's `.params` file (arg:NAME / aux:NAME arrays)."""
        arg_params, aux_params = self.get_params()
        save_dict = {("arg:%s" % k): v for k, v in arg_params.items()}
        save_dict.update({("aux:%s" % k): v for k, v in aux_params.items()})
        nd.save(fname, save_dict)

    def load_params(self, fname):
        """Set the parameters from a `.params` file written by save_params (mxc or MXNet)."""
        from ..model import split_params
        arg, aux = split_params(nd.load(fname), fname, strict=True)
        self.set_params(arg, aux)

    # -- the intermediate API every module defines ---------------------------------------------
    def _abstract(self, what):
        return NotImplementedError("%s does not define %s" % (type(self).__name__, what))

    @property
    def data_names(self):
        raise self._abstract("data_names")

    @property
    def output_names(self):
        raise self._abstract("output_names")

    @property
    def data_shapes(self):
        raise self._abstract("data_shapes")

    @property
    def label_shapes(self):
        raise self._abstract("label_shapes")

    @property
    def output_shapes(self):
        raise self._abstract("output_shapes")

    def get_params(self):
        raise self._abstract("get_params()")

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        raise self._abstract("init_params()")

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        raise self._abstract("bind()")

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        raise self._abstract("init_optimizer()")

    def forward(self, data_batch, is_train=None):
        raise self._abstract("forward()")

    def backward(self, out_grads=None):
        raise self._abstract("backward()")

    def update(self):
        raise self._abstract("update()")

    def get_outputs(self, merge_multi_context=True):
        raise self._abstract("get_outputs()")

    def get_input_grads(self, merge_multi_context=True):
        raise self._abstract("get_input_grads()")

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        raise self._abstract("update_metric()")

    def install_monitor(self, mon):
        raise self._abstract("install_monitor()")

    def get_states(self, merge_multi_context=True):
        if merge_multi_context:
            raise MXNetError("merge_multi_context=True is not supported for states")
        return []

    def set_states(self, states=None, value=None):
        if states is not None or value is not None:
            raise MXNetError("%s has no states" % type(self).__name__)


class Module(BaseModule):
    """A symbol bound to compiled C: MXNet's Module API."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        context = cpu() if context is None else context
        self._context = context if isinstance(context, (list, tuple)) else [context]
        for ctx in self._context:
            if not isinstance(ctx, Context):
                raise TypeError("context must be a Context or a list of Contexts, got %r"
                                % (ctx,))
        self._work_load_list = work_load_list or [1] * len(self._context)
        if len(self._work_load_list) != len(self._context):
            raise ValueError("work_load_list has %d entries for %d contexts"
                             % (len(self._work_load_list), len(self._context)))
        self._symbol = symbol
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        arg_names = symbol.list_arguments()
        for name in data_names:
            if name not in arg_names:
                candidates = [a for a in arg_names if not a.endswith(_NOT_WD_SUFFIXES)]
                raise ValueError("You created Module with Module(..., data_names=%s) but input "
                                 "with name '%s' is not found in symbol.list_arguments(). Did "
                                 "you mean one of:\n\t%s" % (data_names, name,
                                                             "\n\t".join(candidates)))
        for name in label_names:
            if name not in arg_names:
                warnings.warn("You created Module with Module(..., label_names=%s) but "
                              "input with name '%s' is not found in symbol.list_arguments()."
                              % (label_names, name), stacklevel=2)
        for name in state_names + fixed_param_names:
            if name not in arg_names:
                raise ValueError("'%s' is not an argument of the symbol (arguments: %s)"
                                 % (name, ", ".join(arg_names)))
        self._data_names = data_names
        self._label_names = [n for n in label_names if n in arg_names]
        self._state_names = state_names
        self._fixed_param_names = fixed_param_names
        io_names = set(data_names) | set(label_names) | set(state_names)
        self._param_names = [n for n in arg_names if n not in io_names]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._exec = None
        self._arg_params = self._aux_params = None      # pending until bind (Module.load)
        self._optimizer = self._updater = None
        self._opt_kernel = None
        self._opt_state = None
        self._kernel_hint = None                         # optimizer kernel fit() will bind
        self._preload_opt_states = None
        self._compression_params = compression_params
        self._kvstore, self._update_on_kvstore = None, False
        self._data_shapes = self._label_shapes = None
        self._stored = None     # float16 for float16 data: the dtype of get_outputs /
        # get_input_grads (the executor computes float32)
        self._grad_req = self._grad_reqs = None
        self._monitor = None
        self._forwarded = False                          # a forward ran since the bind
        self._executors = {}                             # shapes -> Executor (reshape cache)
        self._execs = []                                 # one executor per context
        self._dp_states = None       # further contexts' optimizer states (no kvstore)
        self._group2ctxs = group2ctxs
        self._var_contexts = {}                          # variable -> its ctx_group's context

    # -- properties ---------------------------------------------------------------------------
    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        self._check_ready("data_shapes")
        return self._data_shapes

    @property
    def label_shapes(self):
        self._check_ready("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self):
        self._check_ready("output_shapes")
        shapes = [(n, tuple(o.shape)) for n, o in zip(self._output_names, self._exec.outputs)]
        if len(self._execs) > 1:        # the contexts' parts along the batch axis
            total = sum(s.stop - s.start for s in self._context_slices())
            shapes = [(n, s if _dp.output_axis(self._symbol, n) < 0 else
                       s[:_dp.output_axis(self._symbol, n)] + (total,) +
                       s[_dp.output_axis(self._symbol, n) + 1:]) for n, s in shapes]
        return shapes

    # -- binding ------------------------------------------------------------------------------
    @_profiler.timed("bind")
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not for_training and inputs_need_grad:
            raise ValueError("inputs_need_grad=True requires for_training=True")
        _dp.check_contexts(self._context)
        for ctx in self._context:
            if ctx.device_type == "gpu":
                from ..executor_cuda import check_available
                check_available(ctx)
        self._var_contexts = _dp.group_contexts(self._symbol, self._context, self._group2ctxs)
        data_shapes = _descs(data_shapes)
        label_shapes = _descs(label_shapes) if label_shapes is not None else None
        names = sorted(d.name for d in data_shapes)
        if names != sorted(self._data_names):
            raise ValueError("Data provided by data_shapes don't match names specified by "
                             "data_names (%s vs. %s)" % ([d.name for d in data_shapes],
                                                         self._data_names))
        if label_shapes:
            lnames = [d.name for d in label_shapes]
            unknown = [n for n in lnames if n not in self._symbol.list_arguments()]
            if unknown:
                raise ValueError("label_shapes name(s) %s are not arguments of the symbol "
                                 "(label_names %s)" % (unknown, self._label_names))
            if sorted(lnames) != sorted(self._label_names):
                warnings.warn("Data provided by label_shapes don't match names specified by "
                              "label_names (%s vs. %s)" % (lnames, self._label_names),
                              stacklevel=2)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req           # as given (MXNet keeps it so)
        self._grad_reqs = self._make_grad_req(grad_req)     # {argument: request}
        self._data_shapes, self._label_shapes = data_shapes, label_shapes
        self._stored = np.float16 if data_shapes and all(
            np.dtype(d.dtype) == np.float16 for d in data_shapes) else None
        if len(self._context) > 1 and data_shapes:
            logging.getLogger("mxc.module").info(
                "data parallelism over %s: one executor per context, batch slices %s",
                ", ".join(str(c) for c in self._context),
                [(s.start, s.stop) for s in self._context_slices()])
        pending = list(self._execs)
        self._execs = self._new_executors(data_shapes, label_shapes)
        self._exec = self._execs[0]
        self._forwarded = False
        self.binded = True
        if pending:
            for old, new in zip(pending, self._execs):
                self._copy_params(old, new, self._param_names)
        elif self.params_initialized and self._arg_params is not None:
            self._write_params(self._arg_params, self._aux_params, allow_missing=True)
            self._arg_params = self._aux_params = None
        if shared_module is not None:
            assert shared_module.binded and shared_module.params_initialized
            arg, aux = shared_module.get_params()
            self._write_params(arg, aux, allow_missing=False)
            self.params_initialized = True
            if shared_module.optimizer_initialized:
                self.borrow_optimizer(shared_module)

    def _context_slices(self):
        """Per-context slices of the bound batch (MXNet's split by work_load_list)."""
        desc = self._data_shapes[0]
        axis = max(DataDesc.get_batch_axis(getattr(desc, "layout", None)), 0)
        return _dp.split_batch(desc.shape[axis], self._work_load_list)

    @property
    def _total_exec_bytes(self):
        """Bytes of memory held by this module's compiled executors (their arenas: parameters,
        gradients, auxiliary states and activations), MXNet's figure of executor memory."""
        seen = {id(ex): ex for ex in list(self._executors.values()) + [self._exec]
                if ex is not None}
        return sum(int(ex.plan.size) * np.dtype(ex.dtype).itemsize
                   for ex in seen.values() if hasattr(ex, "plan"))

    @property
    def _exec_group(self):
        """MXNet's executor group of the bound module: per-context array lists that are views
        of the one compiled executor (see DataParallelExecutorGroup)."""
        self._check_ready("_exec_group")
        from .executor_group import DataParallelExecutorGroup
        return DataParallelExecutorGroup._of_module(self)

    def _reset_bind(self):
        if self.binded and self.params_initialized:
            self._arg_params, self._aux_params = self.get_params()
        self.binded = False
        self._exec = None
        self._execs = []
        self._executors = {}

    def _make_grad_req(self, grad_req):
        req = {}
        for name in self._symbol.list_arguments():
            if name in self._param_names:
                r = "null" if name in self._fixed_param_names else (
                    grad_req if isinstance(grad_req, str) else "write")
            elif name in self._data_names:
                r = (grad_req if isinstance(grad_req, str) else "write") \
                    if self.inputs_need_grad else "null"
            else:
                r = "null"
            req[name] = r if self.for_training else "null"
        if isinstance(grad_req, (list, tuple)):
            for name, r in zip(self._symbol.list_arguments(), grad_req):
                req[name] = r
        elif isinstance(grad_req, dict):
            req.update(grad_req)
        return req

    def _shape_dict(self, data_shapes, label_shapes):
        shapes = {d.name: tuple(d.shape) for d in data_shapes}
        for d in label_shapes or []:
            if d.name in self._symbol.list_arguments():
                shapes[d.name] = tuple(d.shape)
        return shapes

    def _new_executors(self, data_shapes, label_shapes, fuse=True):
        """One executor per context, over the context's slice of the batch (MXNet's
        DataParallelExecutorGroup; see data_parallel)."""
        if len(self._context) == 1:
            return [self._new_executor(data_shapes, label_shapes, fuse)]
        desc = data_shapes[0]
        slices = _dp.split_batch(desc.shape[max(_dp.axis_of(desc), 0)], self._work_load_list)
        return _dp.as_one_context([
            (lambda k=k, sl=sl: self._new_executor(_dp.sliced_descs(data_shapes, sl),
                                                   _dp.sliced_descs(label_shapes, sl), fuse, k))
            for k, sl in enumerate(slices)])

    def _new_executor(self, data_shapes, label_shapes, fuse=True, k=0):
        shapes = self._shape_dict(data_shapes, label_shapes)
        key = tuple(sorted(shapes.items()))     # one compile per input shapes
        if not fuse:
            key += (("<unfused>", ()),)
        if len(self._context) > 1:              # one executor (memory) per context
            key += (("<context>", (k,)),)
        if self._exec is not None:          # parameters keep their shapes on reshape
            for name, arr in self._exec.arg_arrays.items():
                if name in self._param_names:
                    shapes.setdefault(name, arr.shape)
        if key in self._executors:
            return self._executors[key]
        labels = [d.name for d in label_shapes or []
                  if d.name in self._symbol.list_arguments()]
        ctx = self._context[k]
        ex = executor_for(self._symbol, shapes, data_names=self._data_names, label_names=labels,
                          grad_req=self._grad_reqs, for_training=self.for_training,
                          logger=self.logger, fuse=fuse, optimizer_kinds=self._bind_kinds(),
                          device_id=ctx.device_id if ctx.device_type == "gpu" else None)
        self._executors[key] = ex
        return ex

    def _bind_kinds(self):
        """The optimizer kernels a new library carries: none for inference; else the kernel
        already in use, the one fit() is about to set up, or MXNet's default (plain sgd).
        Another optimizer later loads a second library (Executor.use_optimizer)."""
        if not self.for_training:
            return []
        kind = (self._opt_kernel or (None,))[0] or self._kernel_hint
        return [kind or "sgd"]

    def reshape(self, data_shapes, label_shapes=None):
        """Re-bind for new input shapes (a cached compile per shape); parameters carry over."""
        self._check_ready("reshape")
        data_shapes = _descs(data_shapes)
        label_shapes = _descs(label_shapes) if label_shapes is not None else None
        olds = self._execs
        news = self._new_executors(data_shapes, label_shapes, fuse=self._monitor is None)
        for old, new in zip(olds, news):
            if new is not old:
                self._copy_params(old, new, self._param_names)
                self._forwarded = False
        self._execs, self._exec = news, news[0]
        self._data_shapes, self._label_shapes = data_shapes, label_shapes

    @staticmethod
    def _copy_params(src, dst, param_names):
        for name, arr in src.arg_arrays.items():
            if name in dst.arg_arrays and name in param_names:
                dst.arg_arrays[name][...] = arr
        for name, arr in src.aux_arrays.items():
            dst.aux_arrays[name][...] = arr

    # -- parameters ---------------------------------------------------------------------------
    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "init_params call ignored.", stacklevel=2)
            return
        self._check_ready("init_params")
        if initializer is None and arg_params is None and aux_params is None:
            from ..initializer import Uniform
            initializer = Uniform(0.01)
        from ..initializer import InitDesc
        attrs = self._symbol.attr_dict()

        def fill(name, arr, cache):
            if cache is not None:
                if name in cache:
                    src = cache[name]
                    value = _as_numpy(src)
                    if value.shape != arr.shape:
                        raise MXNetError("parameter '%s': shape %s does not match the bound "
                                         "shape %s" % (name, value.shape, arr.shape))
                    arr[...] = value
                    return
                if not allow_missing:
                    raise RuntimeError("%s is not presented" % name)
                if initializer is not None:
                    initializer(InitDesc(name, attrs.get(name, None)), nd.NDArray(arr))
            else:
                initializer(InitDesc(name, attrs.get(name, None)), nd.NDArray(arr))

        ex = self._exec
        for name in sorted(self._param_names):
            fill(name, ex.arg_arrays[name], arg_params)
        for name in sorted(self._aux_names):
            fill(name, ex.aux_arrays[name], aux_params)
        for other in self._execs[1:]:      # every context starts from the same values
            self._copy_params(ex, other, self._param_names)
        self.params_initialized = True     # extra names in the dicts are ignored, as MXNet
        # MXNet keeps the initial values in _arg_params / _aux_params (until a sync)
        self._arg_params, self._aux_params = self.get_params()

    def _write_params(self, arg_params, aux_params, allow_missing, allow_extra=True):
        ex = self._exec
        for src, dst, kind in ((arg_params or {}, ex.arg_arrays, "arg"),
                               (aux_params or {}, ex.aux_arrays, "aux")):
            for name, value in src.items():
                if name not in dst or (kind == "arg" and name not in self._param_names):
                    if not allow_extra:
                        raise ValueError("Found name \"%s\" that is not in the %s names"
                                         % (name, "arguments" if kind == "arg" else
                                            "auxiliary states"))
                    continue
                value = _as_numpy(value)
                if value.shape != dst[name].shape:
                    raise MXNetError("parameter '%s': shape %s does not match the bound shape "
                                     "%s" % (name, value.shape, dst[name].shape))
                for other in self._execs or [ex]:       # the value on every context
                    (other.arg_arrays if kind == "arg" else other.aux_arrays)[name][...] = value
        if not allow_missing:
            missing = [n for n in self._param_names if n not in (arg_params or {})]
            if missing:
                raise RuntimeError("%s is not presented" % missing[0])

    def get_params(self):
        if not self.params_initialized:
            raise MXNetError("Module.get_params: call init_params() first")
        if not self.binded:
            return dict(self._arg_params), dict(self._aux_params)
        from ..sparse import declared_stypes, with_declared_stypes
        stypes = declared_stypes(self._symbol)      # parameters declared row_sparse / csr
        if len(self._execs) > 1:    # MXNet's executor group: the mean over the contexts
            return (with_declared_stypes({n: nd.NDArray(_dp.mean([e.arg_arrays[n]
                                                                 for e in self._execs]))
                                          for n in self._param_names}, stypes),
                    {n: nd.NDArray(_dp.mean([e.aux_arrays[n] for e in self._execs]))
                     for n in self._aux_names})
        ex = self._exec
        arg = {n: nd.NDArray(ex.arg_arrays[n].copy()) for n in self._param_names}
        aux = {n: nd.NDArray(ex.aux_arrays[n].copy()) for n in self._aux_names}
        return with_declared_stypes(arg, stypes), aux

    # -- optimizer ----------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._check_ready("init_optimizer", params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        from .. import optimizer as opt
        batch_size = self._data_shapes[0].shape[
            max(DataDesc.get_batch_axis(self._data_shapes[0].layout), 0)]
        from ..model import _create_kvstore
        # one context: the compiled step updates whether or not MXNet would on the store
        kv, update_on_kvstore = _create_kvstore(kvstore, len(self._context), {
            n: self._exec.arg_arrays[n] for n in self._param_names})
        if kv is not None and "dist" in kv.type and "_sync" in kv.type:
            batch_size *= kv.num_workers
        rescale_grad = 1.0 / batch_size
        idx2name = {i: n for i, n in enumerate(self._param_names)}
        if isinstance(optimizer, str):
            optimizer_params = dict(optimizer_params)
            if "rescale_grad" not in optimizer_params:
                optimizer_params["rescale_grad"] = rescale_grad
            optimizer = opt.create(optimizer, sym=self.symbol, param_idx2name=idx2name,
                                   **optimizer_params)
        else:
            if not isinstance(optimizer, opt.Optimizer):
                raise TypeError("optimizer must be a name or an mx.optimizer.Optimizer")
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn("Optimizer created manually outside Module but rescale_grad is "
                              "not normalized to 1.0/batch_size/num_workers (%s vs. %s). Is "
                              "this intended?" % (optimizer.rescale_grad, rescale_grad),
                              stacklevel=2)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        self._optimizer = optimizer
        self._setup_updater()
        self._attach_kvstore(kv)
        if len(self._execs) > 1:
            self._update_on_kvstore = kv is not None and update_on_kvstore
            _dp.copy_params(self._execs, self._param_names)     # the store's start values
        if kv is not None and update_on_kvstore:
            kv._updater = self._updater     # MXNet keeps the optimizer on the store here
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _setup_updater(self):
        from .. import optimizer as opt
        from ..compiler import optimizers as kernels
        kernel = self._optimizer._c_kernel()
        from ..sparse import lazy_module_params
        self._lazy_params = lazy_module_params(self._optimizer, self._symbol)
        if self._lazy_params:   # MXNet's lazy row_sparse updates run in Python
            kernel = None
        if kernel is not None and not self._exec.use_optimizer(kernel[0]):
            kernel = None
        self._opt_kernel = kernel
        if kernel is None:
            self.logger.info("optimizer %s has no compiled kernel: updates run in Python "
                             "(slower)", type(self._optimizer).__name__)
            self._updater = opt.get_updater(self._optimizer)
            self._opt_state = None
            return
        self._updater = _CompiledUpdater(self)
        n_states = kernel[1]
        self._opt_state = np.zeros(max(n_states * self._exec.param_span, 1),
                                   dtype=self._exec.dtype)
        slices = self._exec.state_slices(n_states)
        for i, name in enumerate(self._param_names):
            if self._grad_reqs.get(name, "null") == "null":
                continue
            weight = nd.NDArray(self._exec.arg_arrays[name])
            state = self._optimizer.create_state_multi_precision(i, weight) \
                if hasattr(self._optimizer, "create_state_multi_precision") \
                else self._optimizer.create_state(i, weight)
            for sl, arr in zip(slices[name], self._optimizer._c_states_from_mx(i, state)):
                self._opt_state[sl] = np.asarray(arr, dtype=self._exec.dtype).ravel()

    def _attach_kvstore(self, kv):
        """MXNet's kvstore set-up, for one process on one context: the store gets the
        compression settings and the initial parameters, and the compiled step goes on
        updating the parameters itself. That is the result updating on the store would give:
        the sum of one device's gradients is that gradient, and one worker waits for none."""
        self._kvstore, self._update_on_kvstore = kv, False
        if kv is None:
            return
        if kv.num_workers != 1 and not hasattr(kv, "allreduce_"):
            raise MXNetError("kvstore '%s' has %d workers but cannot all-reduce gradients"
                             % (kv.type, kv.num_workers))
        if self._compression_params:
            kv.set_gradient_compression(self._compression_params)
        for name in self._param_names:
            kv.init(name, nd.NDArray(self._exec.arg_arrays[name]))
        if kv.num_workers != 1:         # every worker starts from rank 0's parameters
            for name in self._param_names:
                kv.pull(name, nd.NDArray(self._exec.arg_arrays[name]))
            kv.set_grad_layout(self._exec)

    def borrow_optimizer(self, shared_module):
        assert shared_module.optimizer_initialized
        self._kvstore = shared_module._kvstore
        self._update_on_kvstore = shared_module._update_on_kvstore
        self._optimizer = shared_module._optimizer
        self._updater = shared_module._updater
        self._opt_kernel = shared_module._opt_kernel
        self._opt_state = shared_module._opt_state
        self._lazy_params = getattr(shared_module, "_lazy_params", {})
        self.optimizer_initialized = True

    def _updated_params(self):
        return [(i, n) for i, n in enumerate(self._param_names)
                if self._grad_reqs.get(n, "null") != "null"]

    def _hyper_rows(self, nbatch):
        from ..compiler import optimizers as kernels
        nparam = len(self._exec.plan.params)
        hyper = np.zeros((nbatch, nparam, kernels.MAX_HYPER), dtype=np.float64)
        pos = {a.name: k for k, a in enumerate(self._exec.plan.params)}
        updated = self._updated_params()
        opt = self._optimizer
        for b in range(nbatch):
            if b == 2 and self._constant_hyper(hyper):
                # the same floats every step: count the remaining updates in one go
                hyper[2:] = hyper[1]
                counts = opt._index_update_count
                for i, _name in updated:
                    counts[i] += nbatch - 2
                    opt.num_update = max(opt.num_update, counts[i])
                break
            for i, name in updated:
                h = opt._c_hyper(i)
                hyper[b, pos[name], :len(h)] = h
        return hyper

    def _constant_hyper(self, hyper):
        """True when the first two batches got identical kernel floats and nothing (a learning
        rate schedule, a step count in the kernel's layout) can change them later."""
        from ..compiler import optimizers as kernels
        opt = self._optimizer
        return (opt.lr_scheduler is None and "t" not in kernels.hyper_layout(self._opt_kernel[0])
                and np.array_equal(hyper[0], hyper[1]))

    @_profiler.timed("update")
    def update(self):
        self._check_ready("update", params=True, optimizer=True)
        if len(self._execs) > 1:
            return _dp.update(self)
        ex = self._exec
        if self._kvstore is not None and self._kvstore.num_workers > 1:
            self._allreduce_grads()
        if self._opt_kernel is not None:
            ex.update(self._opt_state, self._opt_kernel[0], self._hyper_rows(1))
            return
        for i, name in self._updated_params():
            grad, weight = nd.NDArray(ex.grad_arrays[name]), nd.NDArray(ex.arg_arrays[name])
            if name in getattr(self, "_lazy_params", ()):
                from ..sparse import row_sparse_views
                grad, weight = row_sparse_views(grad, weight, self._lazy_params[name],
                                                ex.arg_arrays)
            self._updater(i, grad, weight)

    def _allreduce_grads(self):
        """Sum the gradients over the workers of a dist kvstore (mxc.dist), in place."""
        self._kvstore.allreduce_grads(self._exec)

    def _optimizer_states(self):
        from .. import states_format
        if len(self._execs) > 1:        # MXNet's keys on several contexts (data_parallel)
            return states_format.dumps(_dp.saved_states(self))
        if self._opt_kernel is None:
            return states_format.dumps(self._updater.states)
        return states_format.dumps(self._compiled_states())

    def _compiled_states(self, state=None):
        """{parameter index: MXNet state object} of the compiled optimizer (copies), from the
        state buffer `state` (default: the module's)."""
        state = self._opt_state if state is None else state
        slices = self._exec.state_slices(self._opt_kernel[1])
        states = {}
        for i, name in enumerate(self._param_names):
            if self._grad_reqs.get(name, "null") == "null":
                continue
            shape = self._exec.arg_arrays[name].shape
            arrays = [state[sl].reshape(shape).copy() for sl in slices[name]]
            states[i] = self._optimizer._c_states_to_mx(i, arrays)
        return states

    def save_optimizer_states(self, fname):
        if not self.optimizer_initialized:
            raise MXNetError("Module.save_optimizer_states: call init_optimizer() first")
        from ..compiler.fileio import atomic_write
        atomic_write(fname, self._optimizer_states())

    def load_optimizer_states(self, fname):
        if not self.optimizer_initialized:
            raise MXNetError("Module.load_optimizer_states: call init_optimizer() first")
        try:
            with open(fname, "rb") as f:
                blob = f.read()
        except OSError as err:
            raise MXNetError("cannot read optimizer states from '%s': %s" % (fname, err)) \
                from None
        self._set_optimizer_states(blob, fname)

    def _set_optimizer_states(self, blob, fname):
        """Write MXNet-serialized optimizer states (`blob`, read from `fname`)."""
        try:
            from .. import states_format
            states = states_format.loads(blob, fname)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError,
                ImportError) as err:
            raise MXNetError("cannot read optimizer states from '%s': %s" % (fname, err)) \
                from None
        if isinstance(states, tuple) and len(states) == 2:
            states = states[0]
        if not isinstance(states, dict):
            raise MXNetError("optimizer state file '%s' holds %s, expected a dict of "
                             "parameter index -> state" % (fname, type(states).__name__))
        if len(self._execs) > 1:        # MXNet's keys on several contexts (data_parallel)
            return _dp.load_states(self, states, fname)
        if self._opt_kernel is None:
            self._updater.set_states(blob)
            return
        self._write_compiled_states(states, self._opt_state, fname)

    def _write_compiled_states(self, states, state, fname):
        """Write {parameter index: MXNet state object} into the compiled state buffer `state`."""
        slices = self._exec.state_slices(self._opt_kernel[1])
        for i, name in enumerate(self._param_names):
            if i not in states or self._grad_reqs.get(name, "null") == "null":
                continue
            try:
                arrays = self._optimizer._c_states_from_mx(i, states[i])
            except ValueError as err:
                raise MXNetError("optimizer state file '%s', parameter '%s': %s"
                                 % (fname, name, err)) from None
            for sl, arr in zip(slices[name], arrays):
                arr = np.asarray(arr, dtype=self._exec.dtype).ravel()
                if arr.size != sl.stop - sl.start:
                    raise MXNetError("optimizer state file '%s': state of '%s' has %d values, "
                                     "expected %d" % (fname, name, arr.size,
                                                      sl.stop - sl.start))
                state[sl] = arr

    # -- computation --------------------------------------------------------------------------
    @_profiler.timed("forward")
    def forward(self, data_batch, is_train=None):
        self._check_ready("forward", params=True)
        if is_train is None:
            is_train = self.for_training
        presliced = isinstance(data_batch, list)
        if presliced:           # one DataBatch per context (MXNet's pre-sliced batches)
            data, labels, new_shapes, label_whole = _dp.pre_sliced(
                data_batch, len(self._context), self._data_names)
        else:
            if getattr(data_batch, "data", None) is None:
                raise MXNetError("Module.forward: data_batch must be a DataBatch with data, "
                                 "got %s" % type(data_batch).__name__)
            data = _as_list(data_batch.data)
            if len(data) != len(self._data_names):
                raise MXNetError("the batch has %d data arrays, the module expects %d (%s)"
                                 % (len(data), len(self._data_names), self._data_names))
            label = getattr(data_batch, "label", None)      # a batch may carry data only
            labels = _as_list(label) if label is not None else []
            new_shapes = [tuple(d.shape) for d in data]
            label_whole = [tuple(lab.shape) for lab in labels]
        for name, arr in list(zip(self._data_names, data)) + \
                list(zip([d.name for d in self._label_shapes or []], labels)):
            for part in (arr if presliced else [arr]):
                check_real_data("Module.forward: input '%s'" % name, part)
        cur_shapes = [tuple(d.shape) for d in self._data_shapes]
        data_names = [d.name for d in self._data_shapes]
        if new_shapes != cur_shapes:
            provide = getattr(data_batch, "provide_data", None)
            new_data = _descs(provide) if provide else \
                [DataDesc(n, s) for n, s in zip(data_names, new_shapes)]
            if self._label_shapes:
                provide_l = getattr(data_batch, "provide_label", None)
                if provide_l:
                    new_label = _descs(provide_l)
                elif labels:
                    new_label = [DataDesc(d.name, shape)
                                 for d, shape in zip(self._label_shapes, label_whole)]
                else:       # no labels in the batch: they follow the new batch size (MXNet)
                    new_label = [DataDesc(d.name, (new_data[0].shape[0],) + tuple(d.shape[1:]))
                                 for d in self._label_shapes]
            else:
                new_label = None
            self.reshape(new_data, new_label)
        if presliced or len(self._execs) > 1:
            _dp.load_inputs(self._execs, self._context_slices(), self._data_shapes,
                            self._label_shapes, data, labels, presliced)
            _dp.forward(self._execs, is_train)
            self._forwarded = True
            if self._monitor is not None:       # every context's outputs, as MXNet's group
                for ex in self._execs:
                    self._monitor.collect(ex)
            return
        ex = self._exec
        for desc, arr in zip(self._data_shapes, data):
            ex.arg_arrays[desc.name][...] = _as_numpy(arr)
        if self._label_shapes and labels:
            for desc, arr in zip(self._label_shapes, labels):
                if desc.name in ex.arg_arrays:
                    value = _as_numpy(arr)
                    dst = ex.arg_arrays[desc.name]
                    if value.size != dst.size:
                        raise MXNetError("label '%s': %d values for a bound shape %s"
                                         % (desc.name, value.size, dst.shape))
                    dst[...] = value.reshape(dst.shape)
        ex.forward(is_train)
        self._forwarded = True
        if self._monitor is not None:
            self._monitor.collect(self)

    @_profiler.timed("backward")
    def backward(self, out_grads=None):
        self._check_ready("backward", params=True)
        if not self.for_training:
            raise MXNetError("re-bind with for_training=True to run backward")
        if not self._forwarded:
            raise MXNetError("Module.backward: call forward() first (backward needs the "
                             "outputs of a forward pass on the bound executor)")
        if len(self._execs) > 1:
            if out_grads is not None:
                _dp.load_head_grads(self._symbol, self._execs, self._context_slices(),
                                    _as_list(out_grads))
            _dp.backward(self._execs)
            for ex in self._execs if self._monitor is not None else ():
                self._monitor.collect_backward(ex)
            return
        ex = self._exec
        if out_grads is not None:
            for hg, g in zip(ex.head_grads, _as_list(out_grads)):
                if hg is not None:
                    hg[...] = _as_numpy(g)
        ex.backward()
        if self._monitor is not None:
            self._monitor.collect_backward(self)

    def get_outputs(self, merge_multi_context=True):
        self._check_ready("get_outputs", params=True)
        parts = [[nd.NDArray(o if self._stored is None else o.astype(self._stored))
                  for o in ex.outputs] for ex in self._execs]
        parts = [list(p) for p in zip(*parts)]          # per output, one part per context
        if not merge_multi_context:
            return parts
        return [_dp.merge(p, _dp.output_axis(self._symbol, n))    # concatenated: new arrays
                for n, p in zip(self._output_names, parts)]

    def get_input_grads(self, merge_multi_context=True):
        self._check_ready("get_input_grads", params=True)
        if not self.inputs_need_grad:
            raise MXNetError("Module.get_input_grads: bind with inputs_need_grad=True first")
        parts = [[nd.NDArray(ex.grad_arrays[n] if self._stored is None else
                             ex.grad_arrays[n].astype(self._stored),
                             ctx=self._var_contexts.get(n))
                  if n in ex.grad_arrays else None      # grad_req 'null': None, as MXNet
                  for ex in self._execs] for n in self._data_names]
        if not merge_multi_context:
            return parts
        axes = {d.name: _dp.axis_of(d) for d in self._data_shapes}
        return [None if p[0] is None else _dp.merge(p, axes.get(n, 0))
                for n, p in zip(self._data_names, parts)]

    def get_states(self, merge_multi_context=True):
        assert not merge_multi_context, "merge_multi_context=True is not supported for states"
        return [[nd.NDArray(ex.arg_arrays[n]) for ex in self._execs]
                for n in self._state_names]

    def set_states(self, states=None, value=None):
        """A value for every state, or per state one array per context (a whole-batch
        array is sliced over the contexts)."""
        slices = self._context_slices() if len(self._execs) > 1 else None
        for k, name in enumerate(self._state_names):
            for c, ex in enumerate(self._execs):
                if value is not None:
                    ex.arg_arrays[name][...] = value
                elif isinstance(states[k], (list, tuple)):
                    ex.arg_arrays[name][...] = _as_numpy(states[k][c])
                else:
                    ex.arg_arrays[name][...] = _dp.take(states[k], 0, slices[c]) \
                        if slices else _as_numpy(states[k])

    @_profiler.timed("update_metric")
    def update_metric(self, eval_metric, labels, pre_sliced=False):
        if pre_sliced or len(self._execs) > 1:      # once per context slice, as MXNet
            return _dp.update_metric(self, eval_metric, labels, pre_sliced)
        labels = _as_list(labels)
        label_dict = {name: lab for name, lab in zip(self._label_names, labels)}
        if len(label_dict) < len(labels):
            label_dict.update({"label%d" % i: lab for i, lab in enumerate(labels)
                               if i >= len(self._label_names)})
        pred_dict = {name: out for name, out in zip(self._output_names, self.get_outputs())}
        eval_metric.update_dict(label_dict, pred_dict)

    def _fast_path(self, data_iter, metric=None, train=False):
        if self._monitor is not None or _profiler._PROFILER.active:
            return None     # a recording profiler times each forward / backward / update
        if len(self._execs) > 1:
            return None     # several contexts: batch by batch, each through every context
        if train and self._kvstore is not None and self._kvstore.num_workers > 1:
            return None     # the batch loop all-reduces the gradients in update()
        optimizer = None
        if train:
            if self._opt_kernel is None:
                return None
            optimizer = (self._opt_state, self._opt_kernel[0], self._hyper_rows)
        return self._exec.fast_path(data_iter, metric, optimizer)

    def install_monitor(self, mon):
        self._check_ready("install_monitor")
        self._unfuse()
        self._monitor = mon
        mon.install(self)

    def _unfuse(self):
        """Rebind to a plan without fused kernels, so every internal output exists."""
        if not self._exec.fuse or not self._exec.plan.fused:
            return
        news = self._new_executors(self._data_shapes, self._label_shapes, fuse=False)
        for old, new in zip(self._execs, news):
            if new.state_slices(1) != old.state_slices(1):
                raise MXNetError("install_monitor: the unfused plan lays out the parameters "
                                 "differently")
            self._copy_params(old, new, self._param_names)
            for name, arr in old.grad_arrays.items():
                if name in new.grad_arrays:
                    new.grad_arrays[name][...] = arr
        self._execs, self._exec = news, news[0]

    # -- checkpoints --------------------------------------------------------------------------
    def export(self, path, kind="inference", name="model", embed=False, target=None,
               cc=None, target_flags="", optimizer=None, optimizer_params=None, metric="acc"):
        """Write this bound module as standalone C into folder `path` (see mxc.compiler.export).

        A trainer uses `optimizer` (an Optimizer, or a name with optimizer_params), else the
        module's own optimizer when init_optimizer ran, else SGD; its kind, constants,
        per-parameter multipliers and lr_scheduler are baked into the C."""
        if target not in (None, "c", "cpu", "cuda", "gpu"):
            raise MXNetError("export target %r is not supported (c or cuda)" % (target,))
        self._check_ready("export", params=True)
        if target in ("cuda", "gpu"):
            return self._export_cuda(path, kind, name)
        from ..compiler import export as _export
        arg, aux = self.get_params()
        shapes = {d.name: tuple(d.shape) for d in self._data_shapes}
        if kind == "trainer":
            shapes.update({d.name: tuple(d.shape) for d in (self._label_shapes or [])})
            optimizer = self._trainer_spec(optimizer, optimizer_params)
        return _export.export(self._symbol, {k: v.asnumpy() for k, v in arg.items()},
                              {k: v.asnumpy() for k, v in aux.items()}, shapes, path,
                              name=name, kind=kind, data_names=self._data_names,
                              label_names=self._label_names, embed=embed, cc=cc,
                              target_flags=target_flags, optimizer=optimizer,
                              optimizer_params=optimizer_params, metric=metric)

    def _trainer_spec(self, optimizer, optimizer_params):
        """The trainer spec of `optimizer` (see Module.export)."""
        from .. import optimizer as opt_mod
        from ..trainer_export import optimizer_spec
        if optimizer is None and self.optimizer_initialized:
            optimizer = self._optimizer
        if not isinstance(optimizer, opt_mod.Optimizer):
            params = dict(optimizer_params or {})
            if "rescale_grad" not in params and self._data_shapes:
                params["rescale_grad"] = 1.0 / self._data_shapes[0].shape[0]
            optimizer = opt_mod.create(optimizer or "sgd", sym=self._symbol,
                                       param_idx2name=dict(enumerate(self._param_names)),
                                       **params)
        return optimizer_spec(optimizer, self._param_names)

    def _export_cuda(self, path, kind, name):
        """target='cuda': <name>.cu, <name>.h and a Makefile for nvcc (no GPU or nvcc needed)."""
        from ..compiler.cuda import export_cuda
        if kind not in ("inference", "trainer"):
            raise MXNetError("export kind must be 'inference' or 'trainer', got %r" % (kind,))
        shapes = {d.name: tuple(d.shape) for d in self._data_shapes}
        if kind == "trainer":
            shapes.update({d.name: tuple(d.shape) for d in (self._label_shapes or [])})
        return export_cuda(self._symbol, path, name=name, input_shapes=shapes,
                           data_names=self._data_names, label_names=self._label_names,
                           for_training=kind == "trainer")

    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        from ..model import save_checkpoint
        from ..dist import writes_checkpoints
        arg, aux = self.get_params()
        save_checkpoint(prefix, epoch, self._symbol, arg, aux, remove_amp_cast=remove_amp_cast)
        if save_optimizer_states and writes_checkpoints():
            state_name = "%s-%04d.states" % (prefix, epoch)
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        from ..model import load_checkpoint
        sym, args, auxs = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._arg_params, mod._aux_params = args, auxs
        mod.params_initialized = True
        if load_optimizer_states:
            mod._preload_opt_states = "%s-%04d.states" % (prefix, epoch)
        return mod


def _kernel_kind(optimizer, optimizer_params):
    """The compiled kernel kind that init_optimizer(optimizer, optimizer_params) will use, or
    None when it cannot be told without running it (init_optimizer then reports any error)."""
    from .. import optimizer as opt
    try:
        if isinstance(optimizer, str):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optimizer = opt.create(optimizer, **dict(optimizer_params or ()))
        kernel = optimizer._c_kernel() if isinstance(optimizer, opt.Optimizer) else None
    except Exception:           # noqa: BLE001  (a bad optimizer is init_optimizer's error)
        return None
    return kernel[0] if kernel else None


class _CompiledUpdater:
    """MXNet's Updater, for a Module whose optimizer step is compiled: `states` maps each
    parameter index to its optimizer state (copies of the compiled buffer, as NDArrays);
    get_states / set_states read and write them in MXNet's serialized form. The update itself
    runs in Module.update()."""

    def __init__(self, module):
        self._module = module

    @property
    def states(self):
        return self._module._compiled_states()

    @property
    def optimizer(self):
        return self._module._optimizer

    def get_states(self, dump_optimizer=False):
        from .. import states_format
        states = self.states
        return states_format.dumps((states, self.optimizer) if dump_optimizer else states)

    def set_states(self, states):
        self._module._set_optimizer_states(states, "<states>")

    def __call__(self, index, grad, weight):
        raise MXNetError("the optimizer step of this Module is compiled: call Module.update()")
