import sys
import types
from collections import namedtuple

import pytest

import mxc as mx

# Same fields as mx.model.BatchEndParam; defined here so these tests stand alone.
Param = namedtuple('BatchEndParams', ['epoch', 'nbatch', 'eval_metric', 'locals'])


class FakeMetric:
    def __init__(self, pairs):
        self.pairs = pairs
        self.local_resets = 0

    def get_name_value(self):
        return list(self.pairs)

    def reset_local(self):
        self.local_resets += 1


class FakeClock:
    def __init__(self, times):
        self.times = list(times)

    def time(self):
        return self.times.pop(0)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_speedometer_auto_reset_log_and_new_epoch(caplog, monkeypatch):
    # start, log at 2 (0.5 s), start again on new epoch, log at 2 (0.25 s)
    monkeypatch.setattr(mx.callback, 'time', FakeClock([10.0, 10.5, 10.5, 20.0, 20.25, 20.25]))
    metric = FakeMetric([('accuracy', 0.25), ('mse', 1.5)])
    speedo = mx.callback.Speedometer(batch_size=32, frequent=2)
    with caplog.at_level('INFO'):
        for nbatch in range(4):      # epoch 0: batches 0..3
            speedo(Param(0, nbatch, metric, {}))
        for nbatch in range(3):      # epoch 1: nbatch goes back to 0
            speedo(Param(1, nbatch, metric, {}))
    assert _messages(caplog) == [
        'Epoch[0] Batch [0-2]\tSpeed: %.2f samples/sec\taccuracy=0.250000\tmse=1.500000'
        % (2 * 32 / 0.5),
        'Epoch[1] Batch [0-2]\tSpeed: %.2f samples/sec\taccuracy=0.250000\tmse=1.500000'
        % (2 * 32 / 0.25),
    ]
    assert metric.local_resets == 2


def test_speedometer_without_reset_and_without_metric(caplog, monkeypatch):
    monkeypatch.setattr(mx.callback, 'time', FakeClock([0.0, 2.0, 2.0, 3.0, 4.0, 4.0]))
    metric = FakeMetric([('acc', 0.5)])
    speedo = mx.callback.Speedometer(10, frequent=1, auto_reset=False)
    bare = mx.callback.Speedometer(10, frequent=1)
    with caplog.at_level('INFO'):
        speedo(Param(3, 0, metric, {}))
        speedo(Param(3, 1, metric, {}))
        bare(Param(4, 0, None, {}))
        bare(Param(4, 1, None, {}))
    assert _messages(caplog) == ['Epoch[3] Batch [0-1]\tSpeed: 5.00 samples/sec\tacc=0.500000',
                                 'Iter[4] Batch [1]\tSpeed: 10.00 samples/sec']
    assert metric.local_resets == 0


def test_speedometer_zero_elapsed_is_inf(caplog, monkeypatch):
    monkeypatch.setattr(mx.callback, 'time', FakeClock([1.0, 1.0, 1.0]))
    speedo = mx.callback.Speedometer(8, frequent=1)
    with caplog.at_level('INFO'):
        speedo(Param(0, 0, None, {}))
        speedo(Param(0, 1, None, {}))
    assert _messages(caplog) == ['Iter[0] Batch [1]\tSpeed: inf samples/sec']


def test_do_checkpoint_numbers_from_one_and_period(monkeypatch):
    saved = []

    def fake_save(prefix, epoch, sym, arg, aux):
        saved.append((prefix, epoch, sym))

    try:
        import mxc.model as model
        monkeypatch.setattr(model, 'save_checkpoint', fake_save)
    except ImportError:   # mx.model not available: stand in for it
        monkeypatch.setitem(sys.modules, 'mxc.model',
                            types.SimpleNamespace(save_checkpoint=fake_save))
    every = mx.callback.do_checkpoint('ck')
    for epoch in range(3):
        every(epoch, 'SYM', {}, {})
    assert saved == [('ck', 1, 'SYM'), ('ck', 2, 'SYM'), ('ck', 3, 'SYM')]
    saved.clear()
    third = mx.callback.do_checkpoint('p', period=3)
    for epoch in range(7):
        third(epoch, None, {}, {})
    assert saved == [('p', 3, None), ('p', 6, None)]
    saved.clear()
    clamped = mx.callback.do_checkpoint('z', period=0)
    clamped(0, None, {}, {})
    assert saved == [('z', 1, None)]


def test_module_checkpoint_calls_module():
    calls = []

    class FakeModule:
        def save_checkpoint(self, prefix, epoch, save_optimizer_states):
            calls.append((prefix, epoch, save_optimizer_states))

    cb = mx.callback.module_checkpoint(FakeModule(), 'm', period=2, save_optimizer_states=True)
    for epoch in range(4):
        cb(epoch)
    assert calls == [('m', 2, True), ('m', 4, True)]


def test_progress_bar_text(caplog):
    with caplog.at_level('INFO'):
        mx.callback.ProgressBar(total=4, length=8)(Param(0, 2, None, {}))
        mx.callback.ProgressBar(total=3, length=10)(Param(0, 1, None, {}))
    assert _messages(caplog) == ['[====----] 50%\r', '[===-------] 34%\r']


def test_log_train_metric_and_validation(caplog):
    metric = FakeMetric([('accuracy', 0.75)])
    cb = mx.callback.log_train_metric(period=2, auto_reset=True)
    with caplog.at_level('INFO'):
        for nbatch in range(3):
            cb(Param(1, nbatch, metric, {}))
        mx.callback.LogValidationMetricsCallback()(Param(5, 0, metric, {}))
    assert _messages(caplog) == ['Iter[1] Batch[0] Train-accuracy=0.750000',
                                 'Iter[1] Batch[2] Train-accuracy=0.750000',
                                 'Epoch[5] Validation-accuracy=0.750000']
    assert metric.local_resets == 2


def test_speedometer_with_real_metric_resets_local_only(caplog, monkeypatch):
    import numpy as np
    monkeypatch.setattr(mx.callback, 'time', FakeClock([0.0, 1.0, 1.0]))
    metric = mx.metric.Accuracy()
    metric.update([np.array([1, 0])], [np.array([[0.2, 0.8], [0.9, 0.1]])])
    speedo = mx.callback.Speedometer(2, frequent=1)
    with caplog.at_level('INFO'):
        speedo(Param(0, 0, metric, {}))
        speedo(Param(0, 1, metric, {}))
    assert _messages(caplog) == ['Epoch[0] Batch [0-1]\tSpeed: 2.00 samples/sec\t'
                                 'accuracy=1.000000']
    assert metric.num_inst == 0 and metric.get_global()[1] == pytest.approx(1.0)
