"""Describe a live Optimizer (and its lr_scheduler) as the spec a standalone C trainer bakes in
(see mxc.compiler.trainer_spec): kernel kind, constants, per-parameter multipliers, schedule."""
from .base import MXNetError

_SCHEDULER_TYPES = (("CosineScheduler", "cosine"), ("PolyScheduler", "poly"),
                    ("MultiFactorScheduler", "multifactor"), ("FactorScheduler", "factor"))


def _multiplier(opt, index, table, field):
    """The multiplier Optimizer._get_lr / _get_wd would apply to parameter `index`."""
    if index in opt.param_dict:
        return float(getattr(opt.param_dict[index], field))
    if index in table:
        return float(table[index])
    if index in opt.idx2name:
        return float(table.get(opt.idx2name[index], 1.0))
    return 1.0


def scheduler_spec(sched):
    """The state of an mx.lr_scheduler object as a trainer scheduler spec."""
    known = dict(_SCHEDULER_TYPES)
    base = next((c for c in type(sched).__mro__ if c.__name__ in known), None)
    kind = known[base.__name__] if base is not None else None
    if kind is None or type(sched).__call__ is not base.__call__:
        raise MXNetError("export: the standalone trainer supports FactorScheduler, "
                         "MultiFactorScheduler, PolyScheduler and CosineScheduler, not %s"
                         % type(sched).__name__)
    return dict(type=kind, base_lr=float(sched.base_lr), warmup_steps=int(sched.warmup_steps),
                warmup_begin_lr=float(sched.warmup_begin_lr),
                warmup_final_lr=float(sched.warmup_final_lr), warmup_mode=sched.warmup_mode,
                factor=float(getattr(sched, "factor", 1.0)),
                stop_factor_lr=float(getattr(sched, "stop_factor_lr", 1e-8)),
                count=int(getattr(sched, "count", 0)),
                cur_step_ind=int(getattr(sched, "cur_step_ind", 0)),
                steps=[int(s) for s in sched.step] if kind == "multifactor" else [],
                step=int(sched.step) if kind == "factor" else 0,
                max_update=int(getattr(sched, "max_update", 0)),
                final_lr=float(getattr(sched, "final_lr", 0.0)),
                pwr=float(getattr(sched, "power", 2.0)),
                base_lr_orig=float(getattr(sched, "base_lr_orig", sched.base_lr)))


def optimizer_spec(opt, param_names):
    """Spec of optimizer `opt` for parameters `param_names` (index i = the updater's index)."""
    kernel = opt._c_kernel()
    if kernel is None:
        raise MXNetError("export: optimizer %s has no compiled kernel, so no standalone trainer"
                         % type(opt).__name__)
    if opt.lr_scheduler is None and opt.lr is None:
        raise MXNetError("export: the optimizer has neither a learning rate nor a scheduler")
    kind = kernel[0]
    from .compiler import optimizers as kernels
    from .compiler import trainer_spec
    # the constants, read through _c_extra without leaving a trace (Nadam's reads a count
    # and advances its momentum schedule)
    saved = dict(opt._index_update_count), opt.num_update, getattr(opt, "m_schedule", None)
    opt._index_update_count.setdefault(0, 0)
    try:
        extra = opt._c_extra(0)
    finally:
        opt._index_update_count.clear()
        opt._index_update_count.update(saved[0])
        opt.num_update = saved[1]
        if saved[2] is not None:
            opt.m_schedule = saved[2]
    layout = kernels.hyper_layout(kind)
    hyper = {k: float(v) for k, v in extra.items()
             if k in layout and k not in trainer_spec.DYNAMIC}
    sched = scheduler_spec(opt.lr_scheduler) if opt.lr_scheduler is not None else None
    lr = sched["base_lr"] if sched else float(opt.lr)
    return dict(kind=kind, lr=lr, wd=float(opt.wd),
                momentum=float(extra.get("momentum", 0.0)),
                clip_gradient=float(opt.clip_gradient) if opt.clip_gradient else 0.0,
                rescale_grad=float(opt.rescale_grad), hyper=hyper,
                schedule_decay=float(getattr(opt, "schedule_decay", 0.004)),
                m_schedule=float(getattr(opt, "m_schedule", 1.0)),
                lr_mult={n: _multiplier(opt, i, opt.lr_mult, "lr_mult")
                         for i, n in enumerate(param_names)},
                wd_mult={n: _multiplier(opt, i, opt.wd_mult, "wd_mult")
                         for i, n in enumerate(param_names)},
                scheduler=sched)
