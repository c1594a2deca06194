"""mxc.compiler: symbol graphs in, shape-inferred fused C out (built with cffi, cached).

This package never imports the runtime (`mxc` proper); it is a library of its own.
"""
