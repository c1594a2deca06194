"""mx.mod: Module, MXNet's intermediate and high-level training API, on compiled C.

Every forward, backward and optimizer step runs in the library the compiler generated for the
bound graph and shapes. `fit` on an NDArrayIter runs whole epochs in one C call (callbacks
still fire); other iterators go one batch per call.
"""
import logging
import pickle
import time
import warnings

import numpy as np

from . import metric as _metric
from . import ndarray as nd
from .base import MXNetError
from .context import Context, cpu
from .executor import Executor
from .io import DataBatch, DataDesc
from .model import BatchEndParam

_NOT_WD_SUFFIXES = ("_weight", "_bias", "_gamma", "_beta")


def _as_list(obj):
    if obj is None:
        return []
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _as_numpy(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


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
        assert self.binded and self.params_initialized
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        actual_num_batch = 0
        plain = num_batch is None and batch_end_callback is None
        fast = None
        done = self._score_c(eval_data, eval_metric) if plain else None
        if done is not None:
            actual_num_batch = done
        else:
            fast = self._fast_batches(eval_data) if plain else None
        if fast is not None:
            actual_num_batch = self._score_fast(fast, eval_metric)
        for nbatch, eval_batch in enumerate(eval_data if (fast is None and done is None)
                                            else ()):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
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
        assert self.binded and self.params_initialized
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
        assert self.binded and self.params_initialized
        if isinstance(eval_data, (nd.NDArray, np.ndarray)):
            if isinstance(eval_data, np.ndarray):
                eval_data = nd.array(eval_data)
            self.forward(DataBatch([eval_data]))
            return self.get_outputs()[0].copy()
        from .io import DataIter
        if not isinstance(eval_data, DataIter):
            raise ValueError("eval_data must be of type NDArray or DataIter")
        if reset:
            eval_data.reset()
        output_list = []
        if num_batch is None and merge_batches:
            merged = self._predict_c(eval_data)
            if merged is not None:
                if len(merged) == 1 and not always_output_list:
                    return merged[0]
                return merged
        fast = self._fast_batches(eval_data) if (num_batch is None and merge_batches) else None
        if fast is not None:
            merged = self._predict_fast(fast)
            if merged is not None:
                if merged and len(merged) == 1 and not always_output_list:
                    return merged[0]
                return merged
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
        assert num_epoch is not None, "please specify number of epochs"
        from .initializer import Uniform
        if initializer is None:
            initializer = Uniform(0.01)
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
            if not self._fit_epoch_fast(epoch, train_data, eval_metric, batch_end_callback,
                                        monitor):
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
        next_data_batch = next(data_iter)
        while not end_of_batch:
            data_batch = next_data_batch
            if monitor is not None:
                monitor.tic()
            self.forward_backward(data_batch)
            self.update()
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

    def _fit_epoch_fast(self, epoch, train_data, eval_metric, batch_end_callback, monitor):
        return False

    # -- defaults of the intermediate API -----------------------------------------------------
    def _score_c(self, eval_data, eval_metric):
        """Score the whole iterator in one compiled call: the number of batches, or None
        when this module cannot (another path runs)."""
        return None

    def _predict_c(self, eval_data):
        """Merged outputs of the whole iterator from one compiled call, or None."""
        return None

    def _fast_batches(self, eval_data):
        """An iterator of (nbatch, labels, pad) running inference batches straight from the
        iterator's arrays, or None when this module cannot (the generic loop runs)."""
        return None

    def _score_fast(self, batches, eval_metric):
        """Feed each batch's outputs to the metric; accuracy is counted here directly (the
        same int32 comparison as metric.Accuracy). Returns the number of batches."""
        count = 0
        direct = self._fast_metric(eval_metric) == "acc" and len(self._output_names) == 1
        for _nbatch, labels, _pad in batches:
            if direct and len(labels) == 1:
                pred = self._exec.outputs[0]
                label = labels[0]
                if pred.shape != label.shape:
                    pred = pred.argmax(axis=1)
                pred = pred.astype(np.int32).ravel()
                label = label.astype(np.int32).ravel()
                if pred.shape != label.shape:
                    raise ValueError("Shape of labels {} does not match shape of predictions "
                                     "{}".format(label.shape[0], pred.shape[0]))
                eval_metric._add(int(np.count_nonzero(pred == label)), pred.shape[0])
            else:
                self.update_metric(eval_metric, [nd.NDArray(lab) for lab in labels])
            count += 1
        return count

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Only matters for row_sparse parameters on a kvstore; dense parameters need nothing."""

    @property
    def symbol(self):
        return self._symbol


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
                logging.warning("You created Module with Module(..., label_names=%s) but "
                                "input with name '%s' is not found in symbol.list_arguments()."
                                , label_names, name)
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
        self._preload_opt_states = None
        self._data_shapes = self._label_shapes = None
        self._grad_req = None
        self._monitor = None
        self._fixed_gammas = None                        # BatchNorm fix_gamma gamma names
        self._executors = {}                             # shapes -> Executor (reshape cache)

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
        assert self.binded
        return self._data_shapes

    @property
    def label_shapes(self):
        assert self.binded
        return self._label_shapes

    @property
    def output_shapes(self):
        assert self.binded
        return [(n, tuple(o.shape)) for n, o in zip(self._output_names, self._exec.outputs)]

    # -- binding ------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not for_training and inputs_need_grad:
            raise ValueError("inputs_need_grad=True requires for_training=True")
        for ctx in self._context:
            if ctx.device_type == "gpu":
                from .executor_cuda import check_available
                check_available(ctx)
        if len(self._context) > 1:
            raise MXNetError("data parallelism over %d contexts is not supported yet; bind on "
                             "a single context" % len(self._context))
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
                logging.warning("Data provided by label_shapes don't match names specified by "
                                "label_names (%s vs. %s)", lnames, self._label_names)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = self._make_grad_req(grad_req)
        self._data_shapes, self._label_shapes = data_shapes, label_shapes
        pending = None
        if self._exec is not None:
            pending = self._exec
        self._exec = self._new_executor(data_shapes, label_shapes)
        self.binded = True
        if pending is not None:
            self._copy_params(pending, self._exec, self._param_names)
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

    def _reset_bind(self):
        if self.binded and self.params_initialized:
            self._arg_params, self._aux_params = self.get_params()
        self.binded = False
        self._exec = None
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

    def _new_executor(self, data_shapes, label_shapes, fuse=True):
        shapes = self._shape_dict(data_shapes, label_shapes)
        key = tuple(sorted(shapes.items()))     # one compile per input shapes
        if not fuse:
            key += (("<unfused>", ()),)
        if self._exec is not None:          # parameters keep their shapes on reshape
            for name, arr in self._exec.arg_arrays.items():
                if name in self._param_names:
                    shapes.setdefault(name, arr.shape)
        if key in self._executors:
            return self._executors[key]
        labels = [d.name for d in label_shapes or []
                  if d.name in self._symbol.list_arguments()]
        ctx = self._context[0]
        if ctx.device_type == "gpu":
            from .executor_cuda import CudaExecutor
            ex = CudaExecutor(self._symbol, shapes, data_names=self._data_names,
                              label_names=labels, grad_req=self._grad_req,
                              for_training=self.for_training, logger=self.logger,
                              device_id=ctx.device_id)
        else:
            ex = Executor(self._symbol, shapes, data_names=self._data_names,
                          label_names=labels, grad_req=self._grad_req,
                          for_training=self.for_training, logger=self.logger, fuse=fuse)
        self._executors[key] = ex
        return ex

    def reshape(self, data_shapes, label_shapes=None):
        """Re-bind for new input shapes (a cached compile per shape); parameters carry over."""
        assert self.binded
        data_shapes = _descs(data_shapes)
        label_shapes = _descs(label_shapes) if label_shapes is not None else None
        old = self._exec
        new = self._new_executor(data_shapes, label_shapes, fuse=self._monitor is None)
        if new is not old:
            self._copy_params(old, new, self._param_names)
        self._exec = new
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
        assert self.binded, "call bind before initializing the parameters"
        if initializer is None and arg_params is None and aux_params is None:
            from .initializer import Uniform
            initializer = Uniform(0.01)
        from .initializer import InitDesc
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
        if not allow_extra:
            pass  # extra names in the dicts are ignored here, as MXNet does
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
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
                dst[name][...] = value
        if not allow_missing:
            missing = [n for n in self._param_names if n not in (arg_params or {})]
            if missing:
                raise RuntimeError("%s is not presented" % missing[0])

    def get_params(self):
        assert self.params_initialized, "parameters are not initialized"
        if not self.binded:
            return dict(self._arg_params), dict(self._aux_params)
        ex = self._exec
        arg = {n: nd.NDArray(ex.arg_arrays[n].copy()) for n in self._param_names}
        aux = {n: nd.NDArray(ex.aux_arrays[n].copy()) for n in self._aux_names}
        return arg, aux

    def save_params(self, fname):
        arg_params, aux_params = self.get_params()
        save_dict = {("arg:%s" % k): v for k, v in arg_params.items()}
        save_dict.update({("aux:%s" % k): v for k, v in aux_params.items()})
        nd.save(fname, save_dict)

    def load_params(self, fname):
        from .model import split_params
        arg, aux = split_params(nd.load(fname), fname, strict=True)
        self.set_params(arg, aux)

    # -- optimizer ----------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        assert self.binded and self.params_initialized
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        from . import optimizer as opt
        batch_size = self._data_shapes[0].shape[
            max(DataDesc.get_batch_axis(self._data_shapes[0].layout), 0)]
        if isinstance(kvstore, str) and "dist" in kvstore and "_sync" in kvstore:
            raise MXNetError("kvstore '%s' is not supported yet" % kvstore)
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
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _setup_updater(self):
        from . import optimizer as opt
        from .compiler import optimizers as kernels
        kernel = self._optimizer._c_kernel()
        if kernel is not None and kernel[0] not in getattr(self._exec, "optimizer_kinds",
                                                           kernels.KERNELS):
            kernel = None
        self._opt_kernel = kernel
        if kernel is None:
            self.logger.info("optimizer %s has no compiled kernel: updates run in Python "
                             "(slower)", type(self._optimizer).__name__)
            self._updater = opt.get_updater(self._optimizer)
            self._opt_state = None
            return
        self._updater = None
        n_states = kernel[1]
        self._opt_state = np.zeros(max(n_states * self._exec.param_span, 1),
                                   dtype=self._exec.dtype)
        slices = self._exec.state_slices(n_states)
        for i, name in enumerate(self._param_names):
            if self._grad_req.get(name, "null") == "null":
                continue
            weight = nd.NDArray(self._exec.arg_arrays[name])
            state = self._optimizer.create_state_multi_precision(i, weight) \
                if hasattr(self._optimizer, "create_state_multi_precision") \
                else self._optimizer.create_state(i, weight)
            for sl, arr in zip(slices[name], self._optimizer._c_states_from_mx(i, state)):
                self._opt_state[sl] = np.asarray(arr, dtype=self._exec.dtype).ravel()

    def borrow_optimizer(self, shared_module):
        assert shared_module.optimizer_initialized
        self._optimizer = shared_module._optimizer
        self._updater = shared_module._updater
        self._opt_kernel = shared_module._opt_kernel
        self._opt_state = shared_module._opt_state
        self.optimizer_initialized = True

    def _updated_params(self):
        return [(i, n) for i, n in enumerate(self._param_names)
                if self._grad_req.get(n, "null") != "null"]

    def _hyper_rows(self, nbatch):
        from .compiler import optimizers as kernels
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
        from .compiler import optimizers as kernels
        opt = self._optimizer
        return (opt.lr_scheduler is None and "t" not in kernels.hyper_layout(self._opt_kernel[0])
                and np.array_equal(hyper[0], hyper[1]))

    def update(self):
        assert self.binded and self.params_initialized and self.optimizer_initialized
        ex = self._exec
        if self._opt_kernel is not None:
            ex.update(self._opt_state, self._opt_kernel[0], self._hyper_rows(1))
            return
        for i, name in self._updated_params():
            self._updater(i, nd.NDArray(ex.grad_arrays[name]), nd.NDArray(ex.arg_arrays[name]))

    def _optimizer_states(self):
        from . import states_format
        if self._opt_kernel is None:
            return states_format.dumps(self._updater.states)
        slices = self._exec.state_slices(self._opt_kernel[1])
        states = {}
        for i, name in enumerate(self._param_names):
            if self._grad_req.get(name, "null") == "null":
                continue
            shape = self._exec.arg_arrays[name].shape
            arrays = [self._opt_state[sl].reshape(shape).copy() for sl in slices[name]]
            states[i] = self._optimizer._c_states_to_mx(i, arrays)
        return states_format.dumps(states)

    def save_optimizer_states(self, fname):
        assert self.optimizer_initialized
        from .compiler.fileio import atomic_write
        atomic_write(fname, self._optimizer_states())

    def load_optimizer_states(self, fname):
        assert self.optimizer_initialized
        try:
            with open(fname, "rb") as f:
                blob = f.read()
            from . import states_format
            states = states_format.loads(blob)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError,
                ImportError) as err:
            raise MXNetError("cannot read optimizer states from '%s': %s" % (fname, err)) \
                from None
        if isinstance(states, tuple) and len(states) == 2:
            states = states[0]
        if not isinstance(states, dict):
            raise MXNetError("optimizer state file '%s' holds %s, expected a dict of "
                             "parameter index -> state" % (fname, type(states).__name__))
        if self._opt_kernel is None:
            self._updater.set_states(blob)
            return
        slices = self._exec.state_slices(self._opt_kernel[1])
        for i, name in enumerate(self._param_names):
            if i not in states or self._grad_req.get(name, "null") == "null":
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
                self._opt_state[sl] = arr

    # -- computation --------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        assert self.binded and self.params_initialized
        if is_train is None:
            is_train = self.for_training
        if isinstance(data_batch, list):
            raise MXNetError("pre-sliced batches (a list of DataBatch) need several contexts")
        data = _as_list(data_batch.data)
        if len(data) != len(self._data_names):
            raise MXNetError("the batch has %d data arrays, the module expects %d (%s)"
                             % (len(data), len(self._data_names), self._data_names))
        new_shapes = [tuple(d.shape) for d in data]
        cur_shapes = [tuple(d.shape) for d in self._data_shapes]
        data_names = [d.name for d in self._data_shapes]
        labels = _as_list(data_batch.label) if data_batch.label is not None else []
        if new_shapes != cur_shapes:
            provide = getattr(data_batch, "provide_data", None)
            new_data = _descs(provide) if provide else \
                [DataDesc(n, s) for n, s in zip(data_names, new_shapes)]
            if self._label_shapes:
                provide_l = getattr(data_batch, "provide_label", None)
                if provide_l:
                    new_label = _descs(provide_l)
                elif labels:
                    new_label = [DataDesc(d.name, tuple(l.shape))
                                 for d, l in zip(self._label_shapes, labels)]
                else:       # no labels in the batch: they follow the new batch size (MXNet)
                    new_label = [DataDesc(d.name, (new_data[0].shape[0],) + tuple(d.shape[1:]))
                                 for d in self._label_shapes]
            else:
                new_label = None
            self.reshape(new_data, new_label)
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
        self._force_fixed_gammas()
        ex.forward(is_train)
        if self._monitor is not None:
            self._monitor.collect(self)

    def backward(self, out_grads=None):
        assert self.binded and self.params_initialized
        if not self.for_training:
            raise MXNetError("re-bind with for_training=True to run backward")
        ex = self._exec
        if out_grads is not None:
            for hg, g in zip(ex.head_grads, _as_list(out_grads)):
                if hg is not None:
                    hg[...] = _as_numpy(g)
        ex.backward()

    def get_outputs(self, merge_multi_context=True):
        assert self.binded and self.params_initialized
        outs = [nd.NDArray(o) for o in self._exec.outputs]
        return outs if merge_multi_context else [[o] for o in outs]

    def get_input_grads(self, merge_multi_context=True):
        assert self.binded and self.params_initialized and self.inputs_need_grad
        grads = [nd.NDArray(self._exec.grad_arrays[n]) for n in self._data_names]
        return grads if merge_multi_context else [[g] for g in grads]

    def get_states(self, merge_multi_context=True):
        assert not merge_multi_context, "merge_multi_context=True is not supported for states"
        return [[nd.NDArray(self._exec.arg_arrays[n])] for n in self._state_names]

    def set_states(self, states=None, value=None):
        for k, name in enumerate(self._state_names):
            if value is not None:
                self._exec.arg_arrays[name][...] = value
            else:
                self._exec.arg_arrays[name][...] = _as_numpy(states[k][0]
                                                             if isinstance(states[k], list)
                                                             else states[k])

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        labels = _as_list(labels)
        label_dict = {name: lab for name, lab in zip(self._label_names, labels)}
        if len(label_dict) < len(labels):
            label_dict.update({"label%d" % i: lab for i, lab in enumerate(labels)
                               if i >= len(self._label_names)})
        pred_dict = {name: out for name, out in zip(self._output_names, self.get_outputs())}
        eval_metric.update_dict(label_dict, pred_dict)

    def install_monitor(self, mon):
        assert self.binded
        self._unfuse()
        self._monitor = mon
        mon.install(self)

    def _unfuse(self):
        """Rebind to a plan without fused kernels, so every internal output exists."""
        old = self._exec
        if not isinstance(old, Executor) or not old.fuse or not old.plan.fused:
            return
        new = self._new_executor(self._data_shapes, self._label_shapes, fuse=False)
        if new.state_slices(1) != old.state_slices(1):
            raise MXNetError("install_monitor: the unfused plan lays out the parameters "
                             "differently")
        self._copy_params(old, new, self._param_names)
        for name, arr in old.grad_arrays.items():
            if name in new.grad_arrays:
                new.grad_arrays[name][...] = arr
        self._exec = new

    def _fixed_gamma_names(self):
        """Gammas of BatchNorm nodes with fix_gamma=True: MXNet writes 1 into them each forward."""
        if self._fixed_gammas is None:
            names = []
            for node in self._symbol._order():
                if node.op is None or node.op.name != "BatchNorm" \
                        or not node.params.get("fix_gamma"):
                    continue
                slots = node.input_names()
                if "gamma" in slots:
                    src = node.inputs[slots.index("gamma")][0]
                    if src.is_variable:
                        names.append(src.name)
            self._fixed_gammas = names
        return self._fixed_gammas

    def _force_fixed_gammas(self):
        for name in self._fixed_gamma_names():
            if name in self._exec.arg_arrays:
                self._exec.arg_arrays[name][...] = 1

    # -- inference straight from an NDArrayIter's arrays (predict / score) -----------------
    def _fast_batches(self, eval_data):
        from .io import NDArrayIter
        ex = self._exec
        if type(eval_data) is not NDArrayIter or self._monitor is not None:
            return None
        data = dict(eval_data.data)
        if sorted(data) != sorted(self._data_names) or \
                [(d.name, tuple(d.shape)) for d in eval_data.provide_data] != \
                [(d.name, tuple(d.shape)) for d in self._data_shapes]:
            return None
        sources = []
        for desc in self._data_shapes:
            src = data[desc.name]._data
            if src.dtype != ex.dtype or not src.flags.c_contiguous:
                return None
            sources.append((src, ex.arg_arrays[desc.name]))
        label_srcs = [arr._data for _name, arr in eval_data.label]
        label_dst = [ex.arg_arrays.get(name) if self._label_shapes else None
                     for name, _arr in eval_data.label]
        if any(d is not None and (d.dtype != s.dtype or d.size != eval_data.batch_size
                                  * (s.size // max(1, s.shape[0])))
               for s, d in zip(label_srcs, label_dst)):
            return None
        plan = eval_data._fast_epoch_plan()
        if plan is None:
            return None
        rows, pads = plan
        return self._run_fast_batches(eval_data, rows, pads, sources, label_srcs, label_dst)

    def _c_batches(self, eval_data, need_labels):
        """(sources, nsource, rows, pads) for Executor.infer_batches over the iterator's
        arrays, or None when the iterator or the bound shapes do not allow it."""
        from .io import NDArrayIter
        ex = self._exec
        if type(eval_data) is not NDArrayIter or self._monitor is not None \
                or not hasattr(ex, "infer_batches"):
            return None
        if [(d.name, tuple(d.shape)) for d in eval_data.provide_data] != \
                [(d.name, tuple(d.shape)) for d in self._data_shapes]:
            return None
        data, labels = dict(eval_data.data), dict(eval_data.label)
        bs = eval_data.batch_size
        sources = []
        for a in ex.plan.args:
            if a.role not in ("data", "label"):
                continue
            arr = data.get(a.name) if a.role == "data" else labels.get(a.name)
            if arr is None:
                if a.role == "data" or need_labels or labels:
                    return None
                sources.append(None)
                continue
            src = arr._data
            rows_of = a.value.size // max(1, a.value.shape[0]) if a.value.shape else 0
            if src.dtype != ex.dtype or not src.flags.c_contiguous or src.ndim == 0 \
                    or not a.value.shape or a.value.shape[0] != bs \
                    or src.size // max(1, src.shape[0]) != rows_of:
                return None
            sources.append(src)
        present = [s for s in sources if s is not None]
        if not present:
            return None
        plan = eval_data._fast_epoch_plan()
        if plan is None or plan[0].shape[0] == 0:
            return None
        rows, pads = plan
        return sources, min(s.shape[0] for s in present), rows, pads

    def _score_c(self, eval_data, eval_metric):
        ex = self._exec
        metric = self._fast_metric(eval_metric)
        if metric is None or getattr(ex, "metric_io", None) is None \
                or len(self._output_names) != 1 or len(self._label_names) != 1 \
                or ex.metric_io[1].name != self._label_names[0] \
                or [n for n, _ in eval_data.label] != self._label_names:
            return None
        batches = self._c_batches(eval_data, need_labels=True)
        if batches is None:
            return None
        sources, nsource, rows, _pads = batches
        self._force_fixed_gammas()
        res = ex.infer_batches(sources, nsource, rows, metric)
        eval_metric._add(float(res[0]), int(round(res[1])))
        eval_data._fast_epoch_done()
        return rows.shape[0]

    def _predict_c(self, eval_data):
        ex = self._exec
        bs = self._data_shapes[0].shape[0]
        if any(o.ndim == 0 or o.shape[0] != bs for o in ex.outputs):
            return None
        batches = self._c_batches(eval_data, need_labels=False)
        if batches is None:
            return None
        sources, nsource, rows, pads = batches
        nbatch = rows.shape[0]
        if any(pads[:-1]):
            return None
        outs = [np.empty((nbatch * bs,) + o.shape[1:], dtype=ex.dtype) for o in ex.outputs]
        self._force_fixed_gammas()
        ex.infer_batches(sources, nsource, rows, "none", outs)
        eval_data._fast_epoch_done()
        keep = nbatch * bs - pads[-1]
        return [nd.NDArray(o[:keep]) for o in outs]

    def _run_fast_batches(self, eval_data, rows, pads, sources, label_srcs, label_dst):
        ex = self._exec
        forward = ex.lib.mxc_forward
        for b in range(rows.shape[0]):
            idx = rows[b]
            for src, dst in sources:
                np.take(src, idx, axis=0, out=dst, mode="clip")   # rows are in range
            labels = []
            for src, dst in zip(label_srcs, label_dst):
                lab = np.take(src, idx, axis=0)
                if dst is not None:
                    dst[...] = lab.reshape(dst.shape)
                labels.append(lab)
            self._force_fixed_gammas()
            ex.check(forward(ex.mem, 0))
            yield b, labels, pads[b]
        eval_data._fast_epoch_done()

    def _predict_fast(self, batches):
        """Outputs of every batch with pads trimmed and merged, or None (the generic loop
        runs) when an output is not batch-major; `batches` is not consumed then."""
        ex = self._exec
        bs = self._data_shapes[0].shape[0]
        if any(o.ndim == 0 or o.shape[0] != bs for o in ex.outputs):
            return None
        results = [[] for _ in ex.outputs]
        for _b, _labels, pad in batches:
            for k, o in enumerate(ex.outputs):
                results[k].append(o[:bs - pad].copy())
        if not results[0]:
            return []
        return [nd.NDArray(np.concatenate(r)) for r in results]

    # -- whole epochs in C --------------------------------------------------------------------
    def _fast_metric(self, eval_metric):
        if type(eval_metric) is _metric.Accuracy and eval_metric.axis == 1 \
                and eval_metric.output_names is None and eval_metric.label_names is None:
            return "acc"
        if type(eval_metric) is _metric.MSE and eval_metric.output_names is None \
                and eval_metric.label_names is None:
            return "mse"
        return None

    def _fit_epoch_fast(self, epoch, train_data, eval_metric, batch_end_callback, monitor):
        from .io import NDArrayIter
        ex = self._exec
        if (type(train_data) is not NDArrayIter or monitor is not None
                or self._opt_kernel is None or ex.metric_io is None
                or len(self._output_names) != 1 or len(self._label_names) != 1):
            return False
        metric = self._fast_metric(eval_metric)
        if metric is None:
            return False
        provided = [d.name for d in train_data.provide_data]
        provided_l = [d.name for d in train_data.provide_label]
        if sorted(provided) != sorted(self._data_names) or provided_l != self._label_names:
            return False
        if [tuple(d.shape) for d in train_data.provide_data] != \
                [tuple(d.shape) for d in self._data_shapes]:
            return False
        plan = train_data._fast_epoch_plan()
        if plan is None:
            return False
        rows, _pads = plan
        arrays = dict(train_data.data)
        arrays.update(dict(train_data.label))
        inputs = [a.name for a in ex.plan.args if a.role in ("data", "label")]
        sources = []
        for name in inputs:
            src = arrays[name]._data
            if src.dtype != ex.dtype or not src.flags.c_contiguous:
                return False
            sources.append(src)
        nsource = min(s.shape[0] for s in sources)
        nbatch = rows.shape[0]
        # one batch per call when a callback runs or fix_gamma gammas must be reset to 1
        one_by_one = batch_end_callback is not None or bool(self._fixed_gamma_names())
        step = 1 if one_by_one else nbatch
        for begin in range(0, nbatch, step):
            chunk = rows[begin:begin + step]
            self._force_fixed_gammas()
            hyper = self._hyper_rows(chunk.shape[0])
            res = ex.train_epoch(self._opt_state, self._opt_kernel[0], hyper, sources, nsource,
                                 chunk, metric)
            eval_metric._add(float(res[:, 0].sum()), int(round(res[:, 1].sum())))
            if batch_end_callback is not None:
                nb = begin
                params = BatchEndParam(epoch=epoch, nbatch=nb, eval_metric=eval_metric,
                                       locals=locals())
                for cb in _as_list(batch_end_callback):
                    cb(params)
        train_data._fast_epoch_done()
        return True

    # -- checkpoints --------------------------------------------------------------------------
    def export(self, path, kind="inference", name="model", embed=False, target=None,
               cc=None, target_flags="", optimizer=None, optimizer_params=None, metric="acc"):
        """Write this bound module as standalone C into folder `path` (see mxc.compiler.export).

        A trainer uses `optimizer` (an Optimizer, or a name with optimizer_params), else the
        module's own optimizer when init_optimizer ran, else SGD; its kind, constants,
        per-parameter multipliers and lr_scheduler are baked into the C."""
        if target not in (None, "c", "cpu", "cuda", "gpu"):
            raise MXNetError("export target %r is not supported (c or cuda)" % (target,))
        assert self.binded and self.params_initialized
        if target in ("cuda", "gpu"):
            return self._export_cuda(path, kind, name)
        from .compiler import export as _export
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
        from . import optimizer as opt_mod
        from .trainer_export import optimizer_spec
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
        from .compiler.cuda import export_cuda
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
        from .model import save_checkpoint
        arg, aux = self.get_params()
        save_checkpoint(prefix, epoch, self._symbol, arg, aux, remove_amp_cast=remove_amp_cast)
        if save_optimizer_states:
            state_name = "%s-%04d.states" % (prefix, epoch)
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        from .model import load_checkpoint
        sym, args, auxs = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._arg_params, mod._aux_params = args, auxs
        mod.params_initialized = True
        if load_optimizer_states:
            mod._preload_opt_states = "%s-%04d.states" % (prefix, epoch)
        return mod
