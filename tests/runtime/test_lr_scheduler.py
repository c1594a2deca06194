import math

import pytest

import mxc as mx


def test_factor_scheduler_verified_sequence():
    sched = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    assert [sched(n) for n in range(1, 8)] == [1, 1, .5, .5, .25, .25, .125]


def test_factor_scheduler_floor():
    sched = mx.lr_scheduler.FactorScheduler(step=1, factor=0.1, stop_factor_lr=1e-3, base_lr=1.0)
    values = [sched(n) for n in range(1, 8)]
    assert values[-1] == pytest.approx(1e-3)
    assert min(values) == pytest.approx(1e-3)


def test_multi_factor_verified_sequence():
    sched = mx.lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.1, base_lr=1.0)
    got = [sched(n) for n in range(1, 7)]
    assert got == pytest.approx([1, 1, .1, .1, .01, .01])


def test_multi_factor_rejects_non_increasing():
    with pytest.raises(ValueError, match="increasing"):
        mx.lr_scheduler.MultiFactorScheduler(step=[4, 2])


def test_poly_scheduler_formula():
    sched = mx.lr_scheduler.PolyScheduler(max_update=10, base_lr=0.5, pwr=2, final_lr=0.1)
    for n in range(0, 15):
        m = min(n, 10)
        expected = 0.1 + (0.5 - 0.1) * (1 - m / 10.0) ** 2
        assert sched(n) == pytest.approx(expected)


def test_cosine_scheduler_with_linear_warmup():
    sched = mx.lr_scheduler.CosineScheduler(max_update=12, base_lr=1.0, final_lr=0.0,
                                            warmup_steps=2, warmup_begin_lr=0.2)
    assert sched(0) == pytest.approx(0.2)
    assert sched(1) == pytest.approx(0.6)
    for n in range(2, 16):
        m = min(n, 12)
        expected = (1 + math.cos(math.pi * (m - 2) / 10.0)) / 2
        assert sched(n) == pytest.approx(expected)


def test_constant_warmup_and_bad_mode():
    sched = mx.lr_scheduler.LRScheduler(base_lr=1.0, warmup_steps=3, warmup_begin_lr=0.1,
                                        warmup_mode='constant')
    assert [sched(n) for n in range(5)] == [0.1, 0.1, 0.1, 1.0, 1.0]
    with pytest.raises(ValueError, match="warmup"):
        mx.lr_scheduler.LRScheduler(warmup_mode='cubic')
