"""`nose.tools` names used by MXNet's test files: decorators and unittest-style asserts."""
import functools
import re
import unittest

__all__ = ["make_decorator", "raises", "with_setup", "ok_", "eq_"]


def make_decorator(func):
    """Decorator factory that gives the wrapper `func`'s name, doc, module and attributes."""
    def decorate(wrapper):
        wrapper.__dict__.update(func.__dict__)
        wrapper.__name__ = func.__name__
        wrapper.__qualname__ = getattr(func, "__qualname__", func.__name__)
        wrapper.__doc__ = func.__doc__
        wrapper.__module__ = func.__module__
        return wrapper
    return decorate


def raises(*exceptions):
    """The decorated test passes only if it raises one of `exceptions`."""
    def decorate(func):
        @functools.wraps(func)
        def checked(*args, **kwargs):
            try:
                func(*args, **kwargs)
            except exceptions:
                return
            raise AssertionError("%s did not raise %s"
                                 % (func.__name__, " or ".join(e.__name__ for e in exceptions)))
        return checked
    return decorate


def with_setup(setup=None, teardown=None):
    """Run `setup` before and `teardown` after the decorated test."""
    def decorate(func):
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            if setup is not None:
                setup()
            try:
                return func(*args, **kwargs)
            finally:
                if teardown is not None:
                    teardown()
        return wrapped
    return decorate


def ok_(expr, msg=None):
    if not expr:
        raise AssertionError(msg)


def eq_(a, b, msg=None):
    if not a == b:
        raise AssertionError(msg or "%r != %r" % (a, b))


def _snake_case(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class _Asserts(unittest.TestCase):
    def runTest(self):  # pragma: no cover - never run, only lends its assert methods
        pass


_ASSERTS = _Asserts()
for _name in dir(unittest.TestCase):
    if _name.startswith("assert") and "_" not in _name:
        globals()[_snake_case(_name)] = getattr(_ASSERTS, _name)
        __all__.append(_snake_case(_name))
