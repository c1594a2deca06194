"""mx.sym: the symbolic API (graphs live in the compiler; this is the user's door to them)."""
from .compiler import symbol as _impl
from .compiler.symbol import (Group, Symbol, Variable, load, load_json, fromjson,  # noqa: F401
                              var)


def __getattr__(name):
    """mx.sym.FullyConnected, mx.sym.Activation, ... : every registered operator."""
    return getattr(_impl, name)


def __dir__():
    from .compiler import ops
    return sorted(set(globals()) | set(ops.FUNCTIONS))


def _attach_executor_api():
    """Symbol.bind / Symbol.simple_bind (the graph class lives in the compiler, which knows
    nothing of executors; the runtime adds them when mx.sym is imported)."""
    from . import symbol_executor
    Symbol.bind = symbol_executor.bind
    Symbol.simple_bind = symbol_executor.simple_bind


_attach_executor_api()
