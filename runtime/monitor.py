"""mx.mon: Monitor, statistics of every operator output (and, at toc, of the arguments and
auxiliary states) every `interval` batches, printed as MXNet prints them.
"""
import logging
import math
import re

import numpy as np

__all__ = ["Monitor"]


def _norm_stat(x):
    """MXNet's default statistic: ||x||_2 / sqrt(x.size), as a (1,) NDArray."""
    from .ndarray import NDArray
    value = x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)
    stat = np.sqrt(np.sum(np.square(value, dtype=value.dtype), dtype=value.dtype))
    return NDArray(np.array([stat / math.sqrt(value.size)], dtype=value.dtype))


def _executor_of(target):
    """The Executor behind a Module (its current binding) or an Executor itself."""
    return getattr(target, "_exec", target)


class Monitor(object):
    """Collect `stat_func` of outputs whose names match `pattern`, every `interval` batches.

    Use with `Module.install_monitor(mon)` (or `fit(..., monitor=mon)`); call `tic()` before
    a batch's forward and `toc()` / `toc_print()` after its update.
    """

    def __init__(self, interval, stat_func=None, pattern='.*', sort=False):
        if stat_func is None:
            stat_func = _norm_stat
        self.stat_func = stat_func
        self.interval = interval
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []
        self.re_prog = re.compile(pattern)
        self.sort = sort

    def install(self, exe):
        """Watch a Module (or Executor); installing the same one twice watches it once."""
        if not any(e is exe for e in self.exes):
            self.exes.append(exe)

    def stat_helper(self, name, array):
        """Record the statistic of one output while a monitored batch runs."""
        if not self.activated or not self.re_prog.match(name):
            return
        self.queue.append((self.step, name, self.stat_func(array)))

    def collect(self, target):
        """Called after a forward pass: every node output of the graph, in execution order."""
        if not self.activated:
            return
        from .ndarray import NDArray
        ex = _executor_of(target)
        inputs = set(ex.arg_arrays) | set(ex.aux_arrays)
        for name, array in ex.internals.items():
            if name not in inputs:
                self.stat_helper(name, NDArray(array.copy()))

    def collect_backward(self, target):
        """Called after a backward pass: every backward node's input gradients, named as
        MXNet names them (`fc1_backward_output0`, ...), in backward order. A gradient the
        graph does not need (of data, of a label) is reported as zeros, the value MXNet
        leaves in such an output."""
        if not self.activated:
            return
        from .ndarray import NDArray
        ex = _executor_of(target)
        grads = getattr(ex, "backward_internals", None)
        for name, array in (grads() if grads is not None else {}).items():
            self.stat_helper(name, NDArray(array.copy()))

    def tic(self):
        """Start a batch; statistics are collected when step % interval == 0."""
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """End a batch: add the arguments and auxiliary states, return [(step, name, text)]."""
        if not self.activated:
            return []
        from .ndarray import NDArray
        for target in self.exes:
            ex = _executor_of(target)
            symbol = ex.symbol
            for name in symbol.list_arguments():
                if name in ex.arg_arrays and self.re_prog.match(name):
                    self.queue.append((self.step, name,
                                       self.stat_func(NDArray(ex.arg_arrays[name].copy()))))
            for name in symbol.list_auxiliary_states():
                if name in ex.aux_arrays and self.re_prog.match(name):
                    self.queue.append((self.step, name,
                                       self.stat_func(NDArray(ex.aux_arrays[name].copy()))))
        self.activated = False
        if self.sort:
            self.queue.sort(key=lambda x: x[1])
        res = []
        for step, name, v_list in self.queue:
            if not isinstance(v_list, list):
                v_list = [v_list]
            text = ''
            for v in v_list:
                if not isinstance(v, NDArray):
                    raise TypeError("Monitor stat_func must return an NDArray or a list of "
                                    "NDArrays; for '%s' it returned %s"
                                    % (name, type(v).__name__))
                if v.shape == (1,):
                    text += str(v.asscalar()) + '\t'
                else:
                    text += str(v.asnumpy()) + '\t'
            res.append((step, name, text))
        self.queue = []
        return res

    def toc_print(self):
        """End a batch and log its statistics."""
        for step, name, text in self.toc():
            logging.info('Batch: {:7d} {:30s} {:s}'.format(step, name, text))
