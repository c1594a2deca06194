"""Optimizer update kernels the generated C can run, by kind.

A kind names one fused per-parameter update (templates/optim/<kind>.c.j2 defines
`update_<kind>(n, w, g, s, h)`); `n_states` buffers of the parameter's size follow each other
in the state array; `hyper` is the layout of the per-update values in h[] (the runtime's
optimizers produce them in this order). Kind ids (1-based, 0 = none) are the order here.
"""
from collections import OrderedDict

KERNELS = OrderedDict([
    # kind: (n_states, hyper layout)
    ("sgd", (0, ("lr", "wd", "rescale_grad", "clip_gradient"))),
    ("sgd_mom", (1, ("lr", "wd", "rescale_grad", "clip_gradient", "momentum"))),
])

MAX_HYPER = 12


def kind_id(kind):
    return list(KERNELS).index(kind) + 1


def n_states(kind):
    return KERNELS[kind][0]
