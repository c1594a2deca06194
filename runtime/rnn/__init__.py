"""mx.rnn: MXNet 1.x's symbolic recurrent cells, bucketing sentence iterator and RNN
checkpoints."""
from . import io, rnn, rnn_cell  # noqa: F401
from .io import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .rnn_cell import *  # noqa: F401,F403
