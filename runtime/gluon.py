"""mx.gluon is not part of mxc: mxc compiles MXNet's symbolic Module API.

The name exists so that scripts and test files that import it alongside Module code
(`from mxnet import gluon`) still load; touching anything in it raises an error that says so.
"""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError("mx.gluon.%s: Gluon is not part of mxc, which compiles MXNet's "
                         "symbolic Module API (mx.sym, mx.mod)" % name)
