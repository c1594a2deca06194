"""mx.module.executor_group: DataParallelExecutorGroup, MXNet's per-context executor group.

mxc binds one compiled executor on one context, so the group holds one executor; the array
lists keep MXNet's layout (one entry per context: `param_arrays[i][0]` is parameter i on the
only context) and are views of the executor's memory, so writing them writes the parameters
the compiled code uses. Several contexts raise an MXNetError naming what is not built.
"""
import logging

from .. import ndarray as nd
from ..base import MXNetError
from .module import Module, _descs


class DataParallelExecutorGroup:
    """The executors of one bound symbol (one, on one context, in mxc)."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None, group2ctxs=None):
        contexts = list(contexts) if isinstance(contexts, (list, tuple)) else [contexts]
        if len(contexts) != 1:
            raise MXNetError("DataParallelExecutorGroup: data parallelism over %d contexts is "
                             "not supported yet; use a single context" % len(contexts))
        self.symbol = symbol
        self.contexts = contexts
        self.workload = workload
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
                              context=contexts[0], fixed_param_names=self.fixed_param_names,
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
        group.grad_req = module._grad_req
        group._module = module
        group._refresh()
        return group

    def _refresh(self):
        """MXNet's per-context array lists, as views of the current executor."""
        ex = self._module._exec
        self.execs = [ex]
        self.data_shapes = self._module.data_shapes
        self.label_shapes = self._module.label_shapes
        self.batch_size = self.data_shapes[0].shape[0]
        self.slices = [slice(0, self.batch_size)]
        self.data_arrays = [[(self.slices[0], nd.NDArray(ex.arg_arrays[d.name]))]
                            for d in self.data_shapes]
        self.label_arrays = [[(self.slices[0], nd.NDArray(ex.arg_arrays[d.name]))]
                             for d in self.label_shapes or [] if d.name in ex.arg_arrays]
        self.param_arrays = [[nd.NDArray(ex.arg_arrays[n])] for n in self.param_names]
        self.grad_arrays = [[nd.NDArray(ex.grad_arrays[n])] if n in ex.grad_arrays else [None]
                            for n in self.param_names] if self.for_training else []
        self.aux_arrays = [[nd.NDArray(ex.aux_arrays[n])] for n in self.aux_names]
        self.input_grad_arrays = [[nd.NDArray(ex.grad_arrays[d.name])]
                                  for d in self.data_shapes] if self.inputs_need_grad else []

    def decide_slices(self, data_shapes):
        """The batch slice of each context: the whole batch on the one context."""
        return [slice(0, _descs(data_shapes)[0].shape[0])]

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
        if self._module._exec is not self.execs[0]:
            self._refresh()

    def backward(self, out_grads=None):
        self._module.backward(out_grads=out_grads)

    def get_output_shapes(self):
        return self._module.output_shapes

    def get_outputs(self, merge_multi_context=True, begin=0, end=None):
        outputs = self._module.get_outputs()[begin:end]
        return outputs if merge_multi_context else [[o] for o in outputs]

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
