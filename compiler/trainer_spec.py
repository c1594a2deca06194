"""What a standalone trainer bakes in: the optimizer kernel kind, its constant hyper-parameters,
per-parameter lr/wd multipliers and the learning-rate schedule (MXNet's Factor, MultiFactor,
Poly and Cosine schedulers with warmup).

A spec is a plain dict (see `from_params`); the runtime builds one from a live Optimizer
(runtime/trainer_export.py), the command line from flags.
"""
from . import optimizers
from .errors import MXNetError

# keys the C computes at every update; every other key of a kernel's layout is a constant
DYNAMIC = {"lr", "wd", "rescale_grad", "clip_gradient", "momentum", "t", "momentum_t",
           "momentum_t_1", "m_schedule", "m_schedule_next"}

# MXNet's defaults: (learning rate, {constant: value})
DEFAULTS = {
    "sgd": (0.01, {}),
    "sgd_mom": (0.01, {}),
    "nag": (0.01, {}),
    "adam": (0.001, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    "rmsprop": (0.001, {"gamma1": 0.9, "epsilon": 1e-8, "clip_weights": 0.0}),
    "rmsprop_centered": (0.001, {"gamma1": 0.9, "gamma2": 0.9, "epsilon": 1e-8,
                                 "clip_weights": 0.0}),
    "adagrad": (0.01, {"eps": 1e-7}),
    "adadelta": (0.01, {"rho": 0.9, "epsilon": 1e-5}),
    "ftrl": (0.1, {"lamda1": 0.01, "beta": 1.0}),
    "signum": (0.01, {"wd_lh": 0.0}),
    "signsgd": (0.01, {}),
    "ftml": (0.0025, {"beta1": 0.6, "beta2": 0.999, "epsilon": 1e-8}),
    "lamb": (0.001, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "bias_correction": 1.0,
                     "lower_bound": 0.0, "upper_bound": 0.0}),
    "adamax": (0.002, {"beta1": 0.9, "beta2": 0.999}),
    "nadam": (0.001, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
}
DEFAULT_MOMENTUM = {"signum": 0.9}
SCHEDULERS = {"factor": 1, "multifactor": 2, "poly": 3, "cosine": 4}
MAX_STEPS = 32
_COMMON_KEYS = {"learning_rate", "wd", "momentum", "clip_gradient", "rescale_grad",
                "schedule_decay", "centered", "lr_scheduler"}


def kernel_kind(name, params):
    """The kernel kind of optimizer `name` (a kind or an MXNet optimizer name) and params."""
    name = name.lower()
    momentum = float(params.get("momentum") or 0.0)
    if name in ("sgd", "ccsgd") and momentum:
        return "sgd_mom"
    if name == "nag" and not momentum:
        return "sgd"
    if name == "rmsprop" and params.get("centered"):
        return "rmsprop_centered"
    if name == "signum" and "momentum" in params and not momentum:
        return "signsgd"
    if name not in optimizers.KERNELS:
        raise MXNetError("optimizer %r has no compiled kernel (available: %s)"
                         % (name, ", ".join(optimizers.KERNELS)))
    return name


def scheduler(kind, base_lr, step=None, factor=1.0, stop_factor_lr=1e-8, max_update=None,
              final_lr=0.0, pwr=2.0, warmup_steps=0, warmup_begin_lr=0.0,
              warmup_mode="linear"):
    """A fresh scheduler spec, as MXNet's constructor would make it."""
    if kind not in SCHEDULERS:
        raise MXNetError("lr scheduler %r is not one of %s" % (kind, ", ".join(SCHEDULERS)))
    if warmup_mode not in ("linear", "constant"):
        raise MXNetError("warmup mode %r must be 'linear' or 'constant'" % (warmup_mode,))
    s = dict(type=kind, base_lr=float(base_lr), warmup_steps=int(warmup_steps),
             warmup_begin_lr=float(warmup_begin_lr), warmup_final_lr=float(base_lr),
             warmup_mode=warmup_mode, factor=float(factor), stop_factor_lr=float(stop_factor_lr),
             count=0, cur_step_ind=0, steps=[], step=0, max_update=0, final_lr=float(final_lr),
             pwr=float(pwr), base_lr_orig=float(base_lr))
    if kind == "factor":
        if not step or int(step) < 1:
            raise MXNetError("factor scheduler: step must be >= 1, got %r" % (step,))
        s["step"] = int(step)
    elif kind == "multifactor":
        steps = [int(v) for v in (step if isinstance(step, (list, tuple)) else [step])
                 if v is not None]
        if not steps or any(b <= a for a, b in zip(steps, steps[1:])) or steps[0] < 1:
            raise MXNetError("multifactor scheduler: steps must be increasing integers >= 1, "
                             "got %r" % (step,))
        if len(steps) > MAX_STEPS:
            raise MXNetError("multifactor scheduler: at most %d steps" % MAX_STEPS)
        s["steps"] = steps
    else:
        if not max_update or int(max_update) < 1:
            raise MXNetError("%s scheduler: max_update must be >= 1, got %r" % (kind, max_update))
        s["max_update"] = int(max_update)
    return s


def from_params(name, params=None):
    """A spec from an optimizer name and MXNet-style optimizer_params (plus lr_step/lr_factor
    for a FactorScheduler and `lr_scheduler`, a scheduler spec)."""
    params = dict(params or {})
    kind = kernel_kind(name, params)
    default_lr, consts = DEFAULTS[kind]
    layout = optimizers.hyper_layout(kind)
    hyper = dict(consts)
    for key, value in params.items():
        if key in ("lr_step", "lr_factor") or key in _COMMON_KEYS:
            continue
        if key not in layout or key in DYNAMIC:
            raise MXNetError("optimizer %s has no constant hyper-parameter %r (it has: %s)"
                             % (kind, key, ", ".join(sorted(hyper)) or "none"))
        hyper[key] = float(value)
    lr = params.get("learning_rate")
    lr = default_lr if lr is None else float(lr)
    sched = params.get("lr_scheduler")
    if sched is None and int(params.get("lr_step") or 0) > 0:
        sched = scheduler("factor", lr, step=int(params["lr_step"]),
                          factor=float(params.get("lr_factor", 1.0)))
    return dict(kind=kind, lr=lr, wd=float(params.get("wd") or 0.0),
                momentum=float(params.get("momentum", DEFAULT_MOMENTUM.get(kind, 0.0)) or 0.0),
                clip_gradient=float(params.get("clip_gradient") or 0.0),
                rescale_grad=float(params.get("rescale_grad") or 0.0), hyper=hyper,
                schedule_decay=float(params.get("schedule_decay", 0.004)), m_schedule=1.0,
                lr_mult={}, wd_mult={}, scheduler=sched)


def default_wd_mult(name, attrs):
    """MXNet's rule: a symbol's __wd_mult__, else 0 for names not ending in _weight/_gamma."""
    if "__wd_mult__" in attrs:
        return float(attrs["__wd_mult__"])
    return 1.0 if name.endswith("_weight") or name.endswith("_gamma") else 0.0


def context(spec, plan):
    """The template context of the trainer: constants by layout slot, multipliers by plan
    parameter, scheduler fields."""
    kind = spec["kind"]
    layout = optimizers.hyper_layout(kind)
    consts = []
    for slot, key in enumerate(layout):
        if key in DYNAMIC:
            continue
        if key not in spec["hyper"]:
            raise MXNetError("optimizer %s: no value for hyper-parameter %r" % (kind, key))
        consts.append((slot, key, float(spec["hyper"][key])))
    lr_mult, wd_mult = [], []
    for a in plan.params:
        lr_mult.append(float(spec["lr_mult"].get(a.name, a.attrs.get("__lr_mult__", 1.0))))
        wd_mult.append(float(spec["wd_mult"][a.name]) if a.name in spec["wd_mult"]
                       else default_wd_mult(a.name, a.attrs))
    sched = spec.get("scheduler")
    sctx = None
    if sched:
        sctx = dict(sched, type_id=SCHEDULERS[sched["type"]],
                    warmup_constant=1 if sched["warmup_mode"] == "constant" else 0)
    return dict(kind=kind, kind_id=optimizers.kind_id(kind), n_states=optimizers.n_states(kind),
                layout=layout, consts=consts, lr=float(spec["lr"]), wd=float(spec["wd"]),
                momentum=float(spec["momentum"]), clip_gradient=float(spec["clip_gradient"]),
                rescale_grad=float(spec["rescale_grad"]), lr_mult=lr_mult, wd_mult=wd_mult,
                schedule_decay=float(spec.get("schedule_decay", 0.004)),
                m_schedule=float(spec.get("m_schedule", 1.0)), sched=sctx,
                max_steps=MAX_STEPS, updated=[a.grad is not None for a in plan.params])
