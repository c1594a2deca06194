"""The one exception type the compiler raises; the runtime re-exports it as mx.base.MXNetError."""


class MXNetError(RuntimeError):
    """An error in a graph, a shape, a file or a compiled library, naming the culprit."""
