"""SequentialModule: modules chained output to input, as MXNet's.

Each module's outputs are the next one's data; backward runs in reverse, each module's input
gradients becoming the previous one's output gradients. `take_labels=True` gives a module the
batch's labels (and makes it update the metric); `auto_wiring=True` renames the incoming data
to the module's own data_names.
"""
import copy
import logging

from ..base import MXNetError
from .module import BaseModule


class SequentialModule(BaseModule):
    """A container of modules run one after another."""

    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules = []
        self._metas = []
        self._label_shapes = None
        self._data_shapes = None
        self._meta_keys = {getattr(SequentialModule, x) for x in dir(SequentialModule)
                           if x.startswith("META_")}

    def add(self, module, **kwargs):
        """Append `module` (options take_labels, auto_wiring); returns self for chaining."""
        unknown = set(kwargs) - self._meta_keys
        if unknown:
            raise MXNetError("SequentialModule.add: unknown option(s) %s (known: %s)"
                             % (sorted(unknown), sorted(self._meta_keys)))
        if not isinstance(module, BaseModule):
            raise MXNetError("SequentialModule.add: expected a module, got %s"
                             % type(module).__name__)
        self._modules.append(module)
        self._metas.append(kwargs)
        # a changed chain needs a new bind and initialisation
        self.binded = False
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    def _require_modules(self, what):
        if not self._modules:
            raise MXNetError("SequentialModule.%s: add() a module first" % what)

    # -- properties ---------------------------------------------------------------------------
    @property
    def data_names(self):
        self._require_modules("data_names")
        return self._modules[0].data_names

    @property
    def output_names(self):
        self._require_modules("output_names")
        return self._modules[-1].output_names

    @property
    def data_shapes(self):
        self._check_ready("data_shapes")
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        self._check_ready("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self):
        self._check_ready("output_shapes")
        return self._modules[-1].output_shapes

    @property
    def symbol(self):
        return self._modules[-1].symbol if self._modules else None

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        self._check_ready("get_params", params=True)
        arg_params, aux_params = {}, {}
        for module in self._modules:
            arg, aux = module.get_params()
            arg_params.update(arg)
            aux_params.update(aux)
        return arg_params, aux_params

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            return
        self._check_ready("init_params")
        for module in self._modules:
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=allow_extra)
        self._check_unique_names()
        self.params_initialized = True

    def _check_unique_names(self):
        """Two modules with a parameter of the same name would overwrite each other."""
        for kind in (0, 1):
            owner = {}
            for i, module in enumerate(self._modules):
                for name in module.get_params()[kind]:
                    if name in owner:
                        raise MXNetError("SequentialModule: %s '%s' is in module %d (%s) and "
                                         "module %d (%s)" % (
                                             ("parameter", "auxiliary state")[kind], name,
                                             owner[name], type(self._modules[owner[name]])
                                             .__name__, i, type(module).__name__))
                    owner[name] = i

    # -- binding ------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if inputs_need_grad and not for_training:
            raise ValueError("inputs_need_grad=True requires for_training=True")
        if shared_module is not None:
            raise MXNetError("SequentialModule.bind: shared_module is not supported")
        self._require_modules("bind")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._label_shapes = label_shapes
        shapes = data_shapes
        anyone_takes_labels = False
        for i, (module, meta) in enumerate(zip(self._modules, self._metas)):
            takes_labels = bool(meta.get(self.META_TAKE_LABELS, False))
            anyone_takes_labels = anyone_takes_labels or takes_labels
            if meta.get(self.META_AUTO_WIRING, False):
                shapes = self._wire(i, module, shapes)
            module.bind(data_shapes=shapes, label_shapes=label_shapes if takes_labels else None,
                        for_training=for_training,
                        inputs_need_grad=bool(inputs_need_grad or (for_training and i > 0)),
                        force_rebind=force_rebind, shared_module=None, grad_req=grad_req)
            shapes = module.output_shapes
        if not anyone_takes_labels:
            self._label_shapes = None
        self.binded = True

    @staticmethod
    def _wire(i, module, shapes):
        names = module.data_names
        if len(names) != len(shapes):
            raise MXNetError("SequentialModule: module %d (auto_wiring) has %d data names %s "
                             "for %d incoming arrays" % (i, len(names), names, len(shapes)))
        return [(name, tuple(_shape_of(s))) for name, s in zip(names, shapes)]

    # -- optimizer ----------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._check_ready("init_optimizer", params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for module in self._modules:
            module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    # -- computation --------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        self._check_ready("forward", params=True)
        batch = copy.copy(data_batch)
        for i, module in enumerate(self._modules):
            module.forward(batch, is_train=is_train)
            if i + 1 == len(self._modules):
                break
            batch.data = module.get_outputs()
            if hasattr(batch, "provide_data"):
                names = [name for name, _ in module.output_shapes]
                batch.provide_data = [(name, tuple(x.shape))
                                      for name, x in zip(names, batch.data)]

    def backward(self, out_grads=None):
        self._check_ready("backward", params=True)
        for i in reversed(range(len(self._modules))):
            module = self._modules[i]
            module.backward(out_grads=out_grads)
            if i == 0:
                break
            out_grads = module.get_input_grads()

    def update(self):
        self._check_ready("update", params=True, optimizer=True)
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        self._check_ready("get_outputs", params=True)
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check_ready("get_input_grads", params=True)
        if not self.inputs_need_grad:
            raise MXNetError("SequentialModule.get_input_grads: bind with "
                             "inputs_need_grad=True first")
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._check_ready("update_metric", params=True)
        for module, meta in zip(self._modules, self._metas):
            if meta.get(self.META_TAKE_LABELS, False):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._check_ready("install_monitor")
        for module in self._modules:
            module.install_monitor(mon)


def _shape_of(desc):
    """The shape of a DataDesc or a (name, shape) pair."""
    return desc.shape if hasattr(desc, "shape") else desc[1]
