"""mx.sym: the symbolic API (graphs live in the compiler; this is the user's door to them)."""
from .compiler import symbol as _impl
from .compiler.symbol import (Group, Symbol, Variable, load, load_json, fromjson,  # noqa: F401
                              var)
from . import symbol_random as random  # noqa: F401  (mx.sym.random)


def __getattr__(name):
    """mx.sym.FullyConnected, mx.sym.Activation, ... : every registered operator."""
    return getattr(_impl, name)


class _Contrib:
    """mx.sym.contrib: the operators MXNet registers as _contrib_<name>."""

    def __getattr__(self, name):
        from .compiler import ops
        if name == "rand_zipfian":
            from .zipfian import rand_zipfian_symbol
            return rand_zipfian_symbol
        if not name.startswith("_") and "_contrib_" + name in ops.FUNCTIONS:
            return getattr(_impl, "_contrib_" + name)
        raise AttributeError("mx.sym.contrib has no operator %r" % name)

    def __dir__(self):
        from .compiler import ops
        return sorted(n[len("_contrib_"):] for n in ops.FUNCTIONS if n.startswith("_contrib_"))


contrib = _Contrib()


class _Sparse:
    """mx.sym.sparse: MXNet's operators with sparse storage support (dot, elemwise_add,
    square_sum, ...); graphs compute densely, so each is the operator itself."""

    def __getattr__(self, name):
        from .compiler import ops
        for candidate in ("_square_sum" if name == "square_sum" else name, "_sparse_" + name):
            if candidate in ops.FUNCTIONS:
                return getattr(_impl, candidate)
        raise AttributeError("mx.sym.sparse has no operator %r" % name)


sparse = _Sparse()


def __dir__():
    from .compiler import ops
    return sorted(set(globals()) | set(ops.FUNCTIONS))


def _attach_executor_api():
    """Symbol.bind / Symbol.simple_bind (the graph class lives in the compiler, which knows
    nothing of executors; the runtime adds them when mx.sym is imported)."""
    from . import symbol_executor
    Symbol.bind = symbol_executor.bind
    Symbol.simple_bind = symbol_executor.simple_bind
    Symbol.eval = _eval
    for method, op in (("__bool__", "bool"), ("__iadd__", "+="), ("__isub__", "-="),
                       ("__imul__", "*="), ("__itruediv__", "/="), ("wait_to_read", None),
                       ("asnumpy", None), ("asscalar", None), ("copy", None),
                       ("as_in_context", None), ("detach", None), ("backward", None)):
        setattr(Symbol, method, _ndarray_only(method, op))
    Symbol.astype = lambda self, *args, **kwargs: self.cast(*args, **kwargs)


def _eval(self, ctx=None, **kwargs):
    """Bind the symbol to the arrays in kwargs (every argument by name) on ctx (default: the
    current context), run it forward and return the outputs, a list of NDArrays."""
    from .context import current_context
    return self.bind(current_context() if ctx is None else ctx, kwargs).forward()


def _ndarray_only(method, op):
    """A Symbol method that MXNet offers on NDArrays only: it raises NotImplementedForSymbol."""
    from .base import NotImplementedForSymbol

    def refuse(self, *args):
        raise NotImplementedForSymbol(getattr(self, method), op, *args)
    refuse.__name__ = method
    return refuse


_attach_executor_api()
