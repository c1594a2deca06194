"""pytest plugin that runs MXNet's own test files against mxc.

Loaded with ``python -m pytest -p mxnet_shim``. It does three things and nothing else:

* ``import mxnet`` and ``import mxnet.X`` load ``mxc`` and ``mxc.X`` (the very same module
  objects). When mxc has no ``X`` the import fails, and that failure is the result.
* When the real ``nose`` package is absent, the test-infrastructure stand-in in
  ``mxnet_compat/`` becomes importable (MXNet 1.9's test helpers import ``nose.tools``).
* ``MXNET_SHIM_TEST_TIMEOUT`` (seconds) bounds each test's call phase with SIGALRM.

With ``MXNET_SHIM_REFERENCE=1`` the re-routing is left out, so the same files run on a real
MXNet install under the same selection and time limit (the reference run).
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import pathlib
import signal
import sys
import types

import pytest

SOURCE_PACKAGE = "mxnet"
TARGET_PACKAGE = "mxc"
TIMEOUT_ENV = "MXNET_SHIM_TEST_TIMEOUT"
REFERENCE_ENV = "MXNET_SHIM_REFERENCE"
COMPAT_DIR = pathlib.Path(__file__).resolve().parent / "mxnet_compat"


class TestTimeout(Exception):
    """A test ran past the per-test time limit."""


def target_name(fullname):
    """'mxnet' -> 'mxc', 'mxnet.sym.random' -> 'mxc.sym.random'."""
    return TARGET_PACKAGE + fullname[len(SOURCE_PACKAGE):]


def is_source_name(fullname):
    return fullname == SOURCE_PACKAGE or fullname.startswith(SOURCE_PACKAGE + ".")


def resolve_target(fullname):
    """The mxc module standing for `fullname`: a real submodule, else a module attribute."""
    name = target_name(fullname)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
    parent, _, leaf = name.rpartition(".")
    value = getattr(importlib.import_module(parent), leaf, None) if parent else None
    if isinstance(value, types.ModuleType):
        return value
    raise ModuleNotFoundError("No module named %r (mxc has no %r)" % (fullname, name),
                              name=fullname)


class AliasLoader(importlib.abc.Loader):
    """Hands importlib an already-imported mxc module instead of creating one."""

    def __init__(self, module):
        self._module = module
        self._own_spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        # importlib stamps the alias spec onto the module; give mxc its own back.
        module.__spec__ = self._own_spec


class MxnetToMxcFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder: every `mxnet[.X]` import resolves to `mxc[.X]`."""

    def find_spec(self, fullname, path=None, target=None):
        if not is_source_name(fullname):
            return None
        module = resolve_target(fullname)
        return importlib.machinery.ModuleSpec(
            fullname, AliasLoader(module), is_package=hasattr(module, "__path__"))


def install_finder():
    if not any(isinstance(finder, MxnetToMxcFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MxnetToMxcFinder())


def install_test_infra_compat():
    """Make the nose stand-in importable only where the real nose is missing."""
    if importlib.util.find_spec("nose") is None and str(COMPAT_DIR) not in sys.path:
        sys.path.append(str(COMPAT_DIR))


if os.environ.get(REFERENCE_ENV) != "1":
    install_finder()
install_test_infra_compat()


def timeout_seconds():
    try:
        return float(os.environ.get(TIMEOUT_ENV, "0") or 0)
    except ValueError:
        return 0.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    seconds = timeout_seconds()
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        return (yield)

    def on_alarm(signum, frame):
        raise TestTimeout("test ran past the %g s per-test limit" % seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
