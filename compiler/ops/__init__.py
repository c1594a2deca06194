"""All operators, registered on import. One module per family; add new families here."""
from . import base
from . import nn  # noqa: F401  (FullyConnected, Activation, Convolution, Pooling, BatchNorm, ...)
from . import losses  # noqa: F401  (SoftmaxOutput, regression outputs, SVMOutput, MakeLoss)
from . import tensor  # noqa: F401  (shape manipulation, reductions, dot)
from . import elementwise  # noqa: F401  (one formula row per operator: unary, scalar, binary)
from . import ordering  # noqa: F401  (argmax, argmin, topk, sort, argsort)
from . import reductions  # noqa: F401  (prod, nansum, nanprod, norm, softmin, ...)
from . import norms  # noqa: F401  (LayerNorm, InstanceNorm, GroupNorm)
from . import random  # noqa: F401  (_random_uniform, _random_normal, ...)
from . import rnn  # noqa: F401  (RNN: the fused recurrent layer)
from . import shape_ops  # noqa: F401  (gathers: swapaxes, tile, slice, flip, ...; stack, add_n, where)
from . import indexing  # noqa: F401  (take, pick, gather_nd, scatter_nd, Sequence*, shape_array)
from . import constant  # noqa: F401  (_zeros, _ones, _full, _copy)
from . import correlation  # noqa: F401  (Correlation: FlowNet's correlation layer)
from . import custom  # noqa: F401  (Custom: operators written in Python)

REGISTRY = base.REGISTRY
FUNCTIONS = base.FUNCTIONS
get = base.get
