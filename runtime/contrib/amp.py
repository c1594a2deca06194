"""mx.contrib.amp: automatic mixed precision is not supported by mxc.

mxc compiles float32 graphs. Importing this module works (scripts and MXNet's tests import it
unconditionally); every call that would turn mixed precision on raises an MXNetError that
says so, instead of training in float32 while the script believes otherwise.
"""
import sys

from ..base import MXNetError

__all__ = ["init", "init_trainer", "scale_loss", "unscale", "convert_symbol", "convert_model",
           "convert_hybrid_block", "convert_bucketing_module", "list_lp16_ops",
           "list_fp32_ops", "list_lp16_fp32_ops", "list_conditional_fp32_ops",
           "list_widest_type_cast", "list_loss_output_functions", "list_lp16_use_fp32_params"]


def _unsupported(call):
    raise MXNetError("mx.contrib.amp.%s: automatic mixed precision (float16 / bfloat16) is "
                     "not supported by mxc, which compiles float32 graphs; remove the AMP "
                     "calls to train in float32" % call)


def init(target_dtype="float16", target_precision_ops=None, conditional_fp32_ops=None,
         fp32_ops=None, layout_optimization=False):
    """Would turn on mixed precision: raises MXNetError (not supported)."""
    _unsupported("init")


def init_trainer(optimizer_or_trainer):
    """Would add dynamic loss scaling to a trainer: raises MXNetError (not supported)."""
    _unsupported("init_trainer")


def scale_loss(loss, optimizer_or_trainer):
    """Would scale a loss for mixed precision: raises MXNetError (not supported)."""
    _unsupported("scale_loss")


def unscale(optimizer_or_trainer):
    """Would unscale gradients: raises MXNetError (not supported)."""
    _unsupported("unscale")


def convert_symbol(sym, target_dtype="float16", *args, **kwargs):
    """Would cast a symbol to mixed precision: raises MXNetError (not supported)."""
    _unsupported("convert_symbol")


def convert_model(sym, arg_params, aux_params, target_dtype="float16", *args, **kwargs):
    """Would cast a model to mixed precision: raises MXNetError (not supported)."""
    _unsupported("convert_model")


def convert_hybrid_block(block, target_dtype="float16", *args, **kwargs):
    """Would cast a Gluon block: raises MXNetError (not supported)."""
    _unsupported("convert_hybrid_block")


def convert_bucketing_module(bucketing_mod, target_dtype="float16", *args, **kwargs):
    """Would cast a BucketingModule: raises MXNetError (not supported)."""
    _unsupported("convert_bucketing_module")


def _lists(name):
    def listing(target_dtype):
        _unsupported(name)
    listing.__name__ = name
    listing.__doc__ = "MXNet's AMP operator list: raises MXNetError (not supported)."
    return listing


list_lp16_ops = _lists("list_lp16_ops")
list_fp32_ops = _lists("list_fp32_ops")
list_lp16_fp32_ops = _lists("list_lp16_fp32_ops")
list_conditional_fp32_ops = _lists("list_conditional_fp32_ops")
list_widest_type_cast = _lists("list_widest_type_cast")
list_loss_output_functions = _lists("list_loss_output_functions")
list_lp16_use_fp32_params = _lists("list_lp16_use_fp32_params")

# MXNet's amp is a package whose functions live in its module amp (`from mxnet.contrib.amp
# import amp`); here both names are this module.
amp = sys.modules[__name__]
