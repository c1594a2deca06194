"""All operators, registered on import. One module per family; add new families here."""
from . import base
from . import nn  # noqa: F401  (FullyConnected, Activation, SoftmaxOutput)
from . import layers  # noqa: F401  (Convolution, Pooling, BatchNorm, Dropout, ...)
from . import tensor  # noqa: F401  (shape manipulation, arithmetic, reductions, dot)

REGISTRY = base.REGISTRY
FUNCTIONS = base.FUNCTIONS
get = base.get
