"""mx.module.executor_group: DataParallelExecutorGroup, MXNet's per-context executor group.

The group is a view of a Module bound on its contexts: one compiled executor per context,
each over its slice of the batch (see data_parallel). The array lists keep MXNet's layout
(`param_arrays[i][k]` is parameter i on context k) and are views of the executors' memory, so
writing them writes the values the compiled code uses.
"""
import logging

from .. import ndarray as nd
from ..base import MXNetError
from . import data_parallel as _dp
from .module import Module, _descs


class DataParallelExecutorGroup:
    """The executors of one bound symbol, one per context."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None, group2ctxs=None):
        contexts = list(contexts) if isinstance(contexts, (list, tuple)) else [contexts]
        self.symbol = symbol
        self.contexts = contexts
        self.workload = list(workload) if workload else [1] * len(contexts)
        self.param_names = list(param_names)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.logger = logger
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self.grad_req = grad_req
        data_shapes = _descs(data_shapes)
        label_shapes = _descs(label_shapes) if label_shapes else None
        io_names = [d.name for d in data_shapes] + [d.name for d in label_shapes or []]
        extra = [n for n in self.arg_names
                 if n not in self.param_names and n not in io_names + self.state_names]
        if extra:
            raise MXNetError("DataParallelExecutorGroup: argument(s) %s are neither data, "
                             "labels, states nor param_names" % extra)
        self._module = Module(symbol, [d.name for d in data_shapes],
                              [d.name for d in label_shapes or []], logger=logger,
                              context=contexts, work_load_list=workload,
                              fixed_param_names=self.fixed_param_names,
                              state_names=self.state_names)
        self._module.bind(data_shapes, label_shapes, for_training=for_training,
                          inputs_need_grad=inputs_need_grad, grad_req=grad_req)
        self._module.params_initialized = True       # the group's owner sets the values
        if shared_group is not None:
            arg, aux = {}, {}
            shared_group.get_params(arg, aux)
            self.set_params(arg, aux, allow_extra=True)
        self._refresh()

    @classmethod
    def _of_module(cls, module):
        """The group of an already bound Module (its `_exec_group`), sharing its executor."""
        group = cls.__new__(cls)
        group.symbol = module.symbol
        group.contexts = list(module._context)
        group.workload = list(module._work_load_list)
        group.param_names = list(module._param_names)
        group.arg_names = module.symbol.list_arguments()
        group.aux_names = module.symbol.list_auxiliary_states()
        group.for_training = module.for_training
        group.inputs_need_grad = module.inputs_need_grad
        group.logger = module.logger
        group.fixed_param_names = list(module._fixed_param_names)
        group.state_names = list(module._state_names)
        group.grad_req = module._grad_reqs
        group._module = module
        group._refresh()
        return group

    def _refresh(self):
        """MXNet's per-context array lists, as views of the current executors."""
        mod = self._module
        execs = self.execs = list(mod._execs)
        self.data_shapes = mod.data_shapes
        self.label_shapes = mod.label_shapes
        self.batch_size = self.data_shapes[0].shape[max(_dp.axis_of(self.data_shapes[0]), 0)]
        self.slices = mod._context_slices()

        def views(table, name):
            return [nd.NDArray(getattr(ex, table)[name]) if name in getattr(ex, table)
                    else None for ex in execs]
        self.data_arrays = [list(zip(self.slices, views("arg_arrays", d.name)))
                            for d in self.data_shapes]
        self.label_arrays = [list(zip(self.slices, views("arg_arrays", d.name)))
                             for d in self.label_shapes or [] if d.name in execs[0].arg_arrays]
        self.state_arrays = [views("arg_arrays", n) for n in self.state_names]
        self.param_arrays = [views("arg_arrays", n) for n in self.param_names]
        self.grad_arrays = [views("grad_arrays", n) for n in self.param_names] \
            if self.for_training else []
        self.aux_arrays = [views("aux_arrays", n) for n in self.aux_names]
        self.input_grad_arrays = [views("grad_arrays", d.name) for d in self.data_shapes] \
            if self.inputs_need_grad else []

    def decide_slices(self, data_shapes):
        """The batch slice of each context (MXNet's split by the work load list)."""
        desc = _descs(data_shapes)[0]
        return _dp.split_batch(desc.shape[max(_dp.axis_of(desc), 0)], self.workload)

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        self.reshape(data_shapes, label_shapes)

    def reshape(self, data_shapes, label_shapes):
        self._module.reshape(data_shapes, label_shapes)
        self._refresh()

    def set_params(self, arg_params, aux_params, allow_extra=False):
        self._module.set_params(arg_params, aux_params, allow_missing=True, force_init=True,
                                allow_extra=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Copy the parameters into the dicts arg_params and aux_params (MXNet's contract)."""
        arg, aux = self._module.get_params()
        arg_params.update(arg)
        aux_params.update(aux)

    def forward(self, data_batch, is_train=None):
        self._module.forward(data_batch, is_train=is_train)
        if self._module._execs != self.execs:
            self._refresh()

    def backward(self, out_grads=None):
        self._module.backward(out_grads=out_grads)

    def get_output_shapes(self):
        return self._module.output_shapes

    def get_outputs(self, merge_multi_context=True, begin=0, end=None):
        return self._module.get_outputs(merge_multi_context=merge_multi_context)[begin:end]

    def get_input_grads(self, merge_multi_context=True):
        return self._module.get_input_grads(merge_multi_context=merge_multi_context)

    def get_states(self, merge_multi_context=False):
        return self._module.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        self._module.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._module.install_monitor(mon)
        self._refresh()
