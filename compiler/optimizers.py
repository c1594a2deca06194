"""Optimizer update kernels the generated C can run, by kind.

A kind names one fused per-parameter update (templates/optim/<kind>.c.j2 defines
`update_<kind>(n, w, g, s, h)`); `n_states` buffers of the parameter's size follow each other
in the state array; `hyper` is the layout of the per-update values in h[] (the runtime's
optimizers produce them in this order). Kind ids (1-based, 0 = none) are the order here.
"""
from collections import OrderedDict

_COMMON = ("lr", "wd", "rescale_grad", "clip_gradient")

KERNELS = OrderedDict([
    # kind: (n_states, hyper layout)
    ("sgd", (0, _COMMON)),
    ("sgd_mom", (1, _COMMON + ("momentum",))),
    ("nag", (1, _COMMON + ("momentum",))),
    ("adam", (2, _COMMON + ("beta1", "beta2", "epsilon", "t"))),
    ("rmsprop", (1, _COMMON + ("gamma1", "epsilon", "clip_weights"))),
    ("rmsprop_centered", (3, _COMMON + ("gamma1", "gamma2", "epsilon", "clip_weights"))),
    ("adagrad", (1, _COMMON + ("eps",))),
    ("adadelta", (2, _COMMON + ("rho", "epsilon"))),
    ("ftrl", (2, _COMMON + ("lamda1", "beta"))),
    ("signum", (1, _COMMON + ("momentum", "wd_lh"))),
    ("signsgd", (0, _COMMON)),
    ("ftml", (3, _COMMON + ("beta1", "beta2", "epsilon", "t"))),
    ("lamb", (2, _COMMON + ("beta1", "beta2", "epsilon", "t", "bias_correction",
                             "lower_bound", "upper_bound"))),
    ("adamax", (2, _COMMON + ("beta1", "beta2", "t"))),
    ("nadam", (2, _COMMON + ("beta1", "beta2", "epsilon", "t", "momentum_t", "momentum_t_1",
                              "m_schedule", "m_schedule_next"))),
])

MAX_HYPER = 12


def hyper_layout(kind):
    return KERNELS[kind][1]


def kind_id(kind):
    return list(KERNELS).index(kind) + 1


def n_states(kind):
    return KERNELS[kind][0]
