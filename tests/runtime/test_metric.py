import json
import math

import numpy as np
import pytest

import mxc as mx
from mxc.ndarray import NDArray

PRED = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.25, 0.45, 0.3]])
LABEL = np.array([1, 2, 2, 0])


def test_accuracy_local_global_and_ndarray_inputs():
    m = mx.metric.create('acc')
    m.update([NDArray(LABEL.astype(np.float32))], [NDArray(PRED)])
    assert m.get() == ('accuracy', (PRED.argmax(1) == LABEL).mean())
    m.reset_local()
    assert math.isnan(m.get()[1])
    m.update(LABEL[:2], PRED[:2])   # bare numpy arrays are wrapped
    assert m.get()[1] == 0.5
    assert m.get_global() == ('accuracy', 3 / 6.0)
    assert m.get_global_name_value() == [('accuracy', 0.5)]
    assert str(m) == "EvalMetric: {'accuracy': 0.5}"
    with pytest.raises(ValueError, match='does not match'):
        m.update([LABEL, LABEL], [PRED])


def test_top_k_accuracy_name_and_value():
    m = mx.metric.create('top_k_accuracy', top_k=2)
    assert m.name == 'top_k_accuracy_2'
    m.update([LABEL], [PRED])
    top2 = np.argsort(-PRED, axis=1)[:, :2]
    expected = np.mean([LABEL[i] in top2[i] for i in range(4)])
    assert m.get()[1] == pytest.approx(expected)
    with pytest.raises(AssertionError):
        mx.metric.TopKAccuracy(top_k=1)


def _binary_counts(label, pred):
    p = pred.argmax(1)
    tp = np.sum((p == 1) & (label == 1)); fp = np.sum((p == 1) & (label == 0))
    fn = np.sum((p == 0) & (label == 1)); tn = np.sum((p == 0) & (label == 0))
    return float(tp), float(fp), float(fn), float(tn)


def _f1(tp, fp, fn, tn):
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    return 2 * prec * rec / (prec + rec)


def _mcc(tp, fp, fn, tn):
    return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


BIN_P1 = np.array([[0.3, 0.7], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
BIN_L1 = np.array([1, 1, 0, 0, 1])
BIN_P2 = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
BIN_L2 = np.array([1, 0, 0])


@pytest.mark.parametrize('name,score', [('f1', _f1), ('mcc', _mcc)])
def test_binary_macro_and_micro(name, score):
    macro = mx.metric.create(name)
    macro.update([BIN_L1], [BIN_P1])
    macro.update([BIN_L2], [BIN_P2])
    c1, c2 = _binary_counts(BIN_L1, BIN_P1), _binary_counts(BIN_L2, BIN_P2)
    assert macro.get()[1] == pytest.approx((score(*c1) + score(*c2)) / 2)
    micro = mx.metric.create(name, average='micro')
    micro.update([BIN_L1], [BIN_P1])
    micro.update([BIN_L2], [BIN_P2])
    pooled = tuple(a + b for a, b in zip(c1, c2))
    assert micro.get()[1] == pytest.approx(score(*pooled))
    with pytest.raises(ValueError, match='binary'):
        micro.update([np.array([0, 1, 2])], [np.ones((3, 2))])


def test_mse_verified_per_update_average():
    m = mx.metric.create('mse')
    m.update([np.zeros(4)], [np.ones(4)])          # mse 1.0 on 4 samples
    m.update([np.zeros(1)], [np.full(1, 10.0)])    # mse 100 on 1 sample
    assert m.get() == ('mse', 50.5)


def test_regression_metrics_broadcast_label_vector_over_columns():
    label = np.array([1.0, 2.0, 3.0])
    pred = np.array([[1.5, 0.0], [2.0, 2.5], [1.0, 4.0]])
    diff = label[:, None] - pred
    for name, value in [('mse', np.mean(diff ** 2)), ('rmse', np.sqrt(np.mean(diff ** 2))),
                        ('mae', np.mean(np.abs(diff)))]:
        m = mx.metric.create(name)
        m.update([label], [pred])
        m.update([label], [pred + 1])
        second = {'mse': np.mean((diff - 1) ** 2), 'rmse': np.sqrt(np.mean((diff - 1) ** 2)),
                  'mae': np.mean(np.abs(diff - 1))}[name]
        assert m.get() == (name, pytest.approx((value + second) / 2))


def test_cross_entropy_and_nll():
    expected = -np.mean(np.log(PRED[np.arange(4), LABEL] + 1e-12))
    for create_name, display in [('ce', 'cross-entropy'), ('nll_loss', 'nll-loss')]:
        m = mx.metric.create(create_name)
        m.update([LABEL], [PRED])
        assert m.get() == (display, pytest.approx(expected))
    with pytest.raises(AssertionError, match='not registered'):
        mx.metric.create('cross-entropy')


def test_perplexity_with_ignore_label():
    m = mx.metric.create('perplexity', ignore_label=2)
    m.update([LABEL], [PRED])
    keep = LABEL != 2
    expected = math.exp(-np.sum(np.log(PRED[np.arange(4), LABEL][keep])) / keep.sum())
    assert m.get() == ('perplexity', pytest.approx(expected))
    none = mx.metric.Perplexity(None)
    none.update([LABEL], [PRED])
    assert none.get()[1] == pytest.approx(math.exp(-np.mean(np.log(PRED[np.arange(4), LABEL]))))


def test_pearson_macro_and_micro():
    x1, y1 = np.array([1.0, 2.0, 3.5, 4.0]), np.array([1.1, 1.9, 3.0, 4.4])
    x2, y2 = np.array([0.5, -1.0, 2.0]), np.array([1.0, -0.5, 1.5])
    macro = mx.metric.create('pearsonr')
    macro.update([y1], [x1]); macro.update([y2], [x2])
    assert macro.get()[1] == pytest.approx((np.corrcoef(x1, y1)[0, 1]
                                            + np.corrcoef(x2, y2)[0, 1]) / 2)
    micro = mx.metric.PearsonCorrelation(average='micro')
    micro.update([y1], [x1]); micro.update([y2], [x2])
    pooled = np.corrcoef(np.r_[x1, x2], np.r_[y1, y2])[0, 1]
    assert micro.get()[1] == pytest.approx(pooled)


def test_pcc_equals_binary_mcc_and_multiclass_formula():
    pcc = mx.metric.create('pcc')
    pcc.update([BIN_L1], [BIN_P1])
    assert pcc.get()[1] == pytest.approx(_mcc(*_binary_counts(BIN_L1, BIN_P1)))
    multi = mx.metric.PCC()
    multi.update([LABEL], [PRED])
    pred = PRED.argmax(1)
    cm = np.zeros((3, 3))
    for p, t in zip(pred, LABEL):
        cm[p, t] += 1
    n, x, y = cm.sum(), cm.sum(1), cm.sum(0)
    expected = (np.trace(cm) * n - x @ y) / math.sqrt((n * n - x @ x) * (n * n - y @ y))
    assert multi.get()[1] == pytest.approx(expected)


def test_loss_torch_caffe():
    for name in ('loss', 'torch', 'caffe'):
        m = mx.metric.create(name)
        m.update(None, [np.array([1.0, 2.0]), np.array([[3.0, 6.0]])])
        assert m.get() == (name, 3.0)


def test_custom_metric_and_np():
    def batch_sum(label, pred):
        return float(np.sum(label - pred)), label.size

    m = mx.metric.create(batch_sum)
    assert m.name == 'batch_sum'
    m.update([np.ones(3)], [np.zeros(3)])
    assert m.get() == ('batch_sum', 1.0)
    lam = mx.metric.create(lambda l, p: 4.0)
    assert lam.name == 'custom(<lambda>)'
    lam.update([np.ones(1)], [np.ones(1)]); lam.update([np.ones(1)], [np.ones(1)])
    assert lam.get()[1] == 4.0
    with pytest.raises(NotImplementedError):
        lam.get_config()
    extra = mx.metric.np(lambda l, p: float(p.sum()), allow_extra_outputs=True)
    extra.update([np.ones(1)], [np.full(2, 3.0), np.ones(5)])
    assert extra.get()[1] == 6.0


def test_composite_and_create_forms():
    comp = mx.metric.create(['acc', 'mse'])
    assert isinstance(comp, mx.metric.CompositeEvalMetric)
    names = comp.get_name_value()
    assert [n for n, _ in names] == ['accuracy', 'mse'] and all(math.isnan(v) for _, v in names)
    comp.update([LABEL], [PRED])
    assert comp.get()[0] == ['accuracy', 'mse']
    assert comp.get_metric(0).get()[1] == 0.5
    with pytest.raises(ValueError, match='out of range'):
        comp.get_metric(9)
    acc = mx.metric.Accuracy()
    assert mx.metric.create(acc) is acc
    assert mx.metric.create('["top_k_acc", {"top_k": 3}]').name == 'top_k_accuracy_3'
    assert mx.metric.create('{"metric": "mae", "name": "m"}').name == 'm'
    assert isinstance(mx.metric.create({'metric': 'F1', 'average': 'micro'}), mx.metric.F1)
    assert isinstance(mx.metric.create('ACC'), mx.metric.Accuracy)
    config = mx.metric.create('acc', axis=0).get_config()
    assert config == {'metric': 'Accuracy', 'name': 'accuracy', 'axis': 0,
                      'output_names': None, 'label_names': None}
    assert mx.metric.create(json.dumps(config)).axis == 0


def test_update_dict_selects_by_names():
    m = mx.metric.Accuracy(output_names=['b_output'], label_names=['b_label'])
    m.update_dict({'a_label': LABEL * 0, 'b_label': LABEL},
                  {'a_output': PRED[::-1], 'b_output': PRED})
    assert m.get()[1] == 0.5


def test_register_and_alias():
    @mx.metric.register
    @mx.metric.alias('always_one')
    class AlwaysOne(mx.metric.EvalMetric):
        def __init__(self):
            super(AlwaysOne, self).__init__('one')

        def update(self, labels, preds):
            self.sum_metric += 1
            self.num_inst += 1

    assert isinstance(mx.metric.create('Always_One'), AlwaysOne)
    assert isinstance(mx.metric.create('alwaysone'), AlwaysOne)
