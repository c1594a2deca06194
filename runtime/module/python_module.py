"""PythonModule and PythonLossModule: modules whose computation is written in Python.

A PythonModule has no parameters and no optimizer; a subclass supplies the computation
(forward / backward / get_outputs / get_input_grads) and `_compute_output_shapes`.
PythonLossModule is the common case: it passes its single input through as its output and,
in backward, gives the input gradient `grad_func(scores, labels)`.
"""
import logging

from .. import ndarray as nd
from ..base import MXNetError
from .module import BaseModule


def _names_of(shapes):
    return [s.name if hasattr(s, "name") else s[0] for s in shapes]


def _shape_of(desc):
    return tuple(desc.shape if hasattr(desc, "shape") else desc[1])


class PythonModule(BaseModule):
    """A parameter-free module computed in Python (subclass it)."""

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        self._data_names = list(data_names) if data_names is not None else []
        self._label_names = list(label_names) if label_names is not None else []
        self._output_names = list(output_names) if output_names is not None else []
        self._data_shapes = None
        self._label_shapes = None
        self._output_shapes = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def data_names(self):
        return self._data_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        return self._output_shapes

    # -- parameters: none ---------------------------------------------------------------------
    def get_params(self):
        return {}, {}

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.params_initialized = True

    def update(self):
        """No parameters, nothing to update."""

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self.optimizer_initialized = True

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        if self._label_shapes is None:
            return          # no labels bound: nothing to measure against
        if pre_sliced:
            raise MXNetError("PythonModule.update_metric: pre-sliced labels need several "
                             "contexts")
        eval_metric.update(labels, self.get_outputs())

    # -- binding ------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if grad_req != "write":
            raise MXNetError("PythonModule.bind: only grad_req='write' is supported, got %r"
                             % (grad_req,))
        names = _names_of(data_shapes)
        if names != self._data_names:
            raise MXNetError("PythonModule.bind: data_shapes name %s, the module's data_names "
                             "are %s (add it with auto_wiring=True to rename)"
                             % (names, self._data_names))
        if label_shapes is not None:
            lnames = _names_of(label_shapes)
            if lnames != self._label_names:
                raise MXNetError("PythonModule.bind: label_shapes name %s, the module's "
                                 "label_names are %s" % (lnames, self._label_names))
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._data_shapes = [(n, _shape_of(s)) for n, s in zip(names, data_shapes)]
        self._label_shapes = None if label_shapes is None else \
            [(n, _shape_of(s)) for n, s in zip(_names_of(label_shapes), label_shapes)]
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """[(output_name, shape)] from self._data_shapes and self._label_shapes."""
        raise NotImplementedError("a PythonModule subclass defines _compute_output_shapes")

    def install_monitor(self, mon):
        raise MXNetError("%s has no internal arrays for a Monitor" % type(self).__name__)


class PythonLossModule(PythonModule):
    """A loss written in Python: output = input scores, input gradient = grad_func."""

    def __init__(self, name="pyloss", data_names=("data",), label_names=("softmax_label",),
                 logger=logging, grad_func=None):
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        if len(self._data_names) != 1 or len(self._label_names) != 1:
            raise MXNetError("PythonLossModule takes one data and one label name, got %s and "
                             "%s" % (self._data_names, self._label_names))
        if grad_func is not None and not callable(grad_func):
            raise MXNetError("PythonLossModule: grad_func must be callable, got %s"
                             % type(grad_func).__name__)
        self._name = name
        self._grad_func = grad_func
        self._scores = self._labels = self._scores_grad = None

    def _compute_output_shapes(self):
        return [(self._name + "_output", self._data_shapes[0][1])]

    def forward(self, data_batch, is_train=None):
        self._check_ready("forward")
        self._scores = data_batch.data[0]
        if is_train is None:
            is_train = self.for_training
        if is_train:
            if not data_batch.label:
                raise MXNetError("PythonLossModule.forward: a training batch needs labels")
            self._labels = data_batch.label[0]

    def get_outputs(self, merge_multi_context=True):
        if not merge_multi_context:
            return [[self._scores]]
        return [self._scores]

    def backward(self, out_grads=None):
        if out_grads is not None:
            raise MXNetError("PythonLossModule.backward: a loss takes no out_grads")
        if not self.for_training:
            raise MXNetError("re-bind with for_training=True to run backward")
        self._backward_impl()

    def _backward_impl(self):
        """self._scores_grad from the scores and labels of the last forward."""
        if self._grad_func is None:
            raise NotImplementedError("PythonLossModule needs grad_func, or a subclass "
                                      "defining _backward_impl")
        grad = self._grad_func(self._scores, self._labels)
        if not isinstance(grad, nd.NDArray):
            grad = nd.array(grad)
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        if not merge_multi_context:
            return [[self._scores_grad]]
        return [self._scores_grad]
