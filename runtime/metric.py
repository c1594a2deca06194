"""Evaluation metrics (`mx.metric`), MXNet 1.x semantics.

Inputs may be NDArrays or NumPy arrays.  Every built-in keeps a local accumulator
(reset by `reset_local`, e.g. by Speedometer) and a global one (reset by `reset`).
"""
import math
from collections import OrderedDict

import numpy

from .registry import get_alias_func, get_create_func, get_register_func, get_registry

__all__ = ["EvalMetric", "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC",
           "MSE", "RMSE", "MAE", "CrossEntropy", "NegativeLogLikelihood", "Perplexity",
           "PearsonCorrelation", "PCC", "Loss", "Torch", "Caffe", "CustomMetric", "np",
           "create", "register", "alias", "check_label_shapes"]



def _as_numpy(arr):
    """NumPy value of an NDArray or array-like."""
    return arr.asnumpy() if hasattr(arr, 'asnumpy') else numpy.asarray(arr)


def _is_array(obj):
    return hasattr(obj, 'asnumpy') or isinstance(obj, numpy.ndarray)


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Check that labels and preds agree in length (or shape); wrap bare arrays in lists."""
    if shape:
        label_shape, pred_shape = labels.shape, preds.shape
    else:
        label_shape, pred_shape = len(labels), len(preds)
    if label_shape != pred_shape:
        raise ValueError("Shape of labels {} does not match shape of predictions {}"
                         .format(label_shape, pred_shape))
    if wrap:
        if _is_array(labels):
            labels = [labels]
        if _is_array(preds):
            preds = [preds]
    return labels, preds


# ---------------------------------------------------------------------------- registry

def create(metric, *args, **kwargs):
    """Create a metric from a name, JSON, dict, list, callable or instance."""
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create_registered(metric, *args, **kwargs)


# -------------------------------------------------------------------------------- base

class EvalMetric(object):
    """Base metric with local and global (whole-run) accumulators."""

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return "EvalMetric: {}".format(dict(self.get_name_value()))

    def get_config(self):
        """Constructor arguments, usable with `create(**config)`."""
        config = self._kwargs.copy()
        config.update({'metric': self.__class__.__name__, 'name': self.name,
                       'output_names': self.output_names, 'label_names': self.label_names})
        return config

    def update_dict(self, label, pred):
        """Update from name->array dicts, selected by label_names/output_names."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Accumulate one batch."""
        raise NotImplementedError()

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def reset(self):
        """Zero local and global accumulators."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        """Zero the local accumulators only."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self):
        """(name, value) of the local accumulators (nan when empty)."""
        if self.num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self):
        """(name, value) of the global accumulators."""
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    @staticmethod
    def _pairs(name, value):
        if not isinstance(name, list):
            name, value = [name], [value]
        return list(zip(name, value))

    def get_name_value(self):
        """List of (name, value) pairs, local."""
        return self._pairs(*self.get())

    def get_global_name_value(self):
        """List of (name, value) pairs, global."""
        return self._pairs(*self.get_global())


# ------------------------------------------------------------------------- composite

register = get_register_func(EvalMetric, "metric")
alias = get_alias_func(EvalMetric, "metric")
_create_registered = get_create_func(EvalMetric, "metric")
_REGISTRY = get_registry(EvalMetric)


@register
@alias('composite')
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together."""

    def __init__(self, metrics=None, name='composite', output_names=None, label_names=None):
        super(CompositeEvalMetric, self).__init__(name, output_names=output_names,
                                                  label_names=label_names,
                                                  has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric):
        """Append a child metric (anything `create` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """Child metric at `index`."""
        try:
            return self.metrics[index]
        except IndexError:
            raise ValueError("Metric index {} is out of range 0 and {}"
                             .format(index, len(self.metrics)))

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = OrderedDict([i for i in labels.items() if i[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([i for i in preds.items() if i[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, 'metrics', []):
            metric.reset()

    def reset_local(self):
        for metric in getattr(self, 'metrics', []):
            metric.reset_local()

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            if isinstance(name, str):
                name, value = [name], [value]
            names.extend(name)
            values.extend(value)
        return (names, values)

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def get_config(self):
        config = super(CompositeEvalMetric, self).get_config()
        config.update({'metrics': [m.get_config() for m in self.metrics]})
        return config


# ---------------------------------------------------------------------- classification

@register
@alias('acc')
class Accuracy(EvalMetric):
    """Fraction of predictions (argmax over `axis` when shapes differ) equal to labels."""

    def __init__(self, axis=1, name='accuracy', output_names=None, label_names=None):
        super(Accuracy, self).__init__(name, axis=axis, output_names=output_names,
                                       label_names=label_names, has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_numpy(label), _as_numpy(pred)
            if pred.shape != label.shape:
                pred = numpy.argmax(pred, axis=self.axis)
            pred = pred.astype('int32').ravel()
            label = label.astype('int32').ravel()
            check_label_shapes(label, pred)
            self._add(int((pred == label).sum()), len(pred))


@register
@alias('top_k_accuracy', 'top_k_acc')
class TopKAccuracy(EvalMetric):
    """Fraction of rows whose label is among the `top_k` highest predictions."""

    def __init__(self, top_k=1, name='top_k_accuracy', output_names=None, label_names=None):
        super(TopKAccuracy, self).__init__(name, top_k=top_k, output_names=output_names,
                                           label_names=label_names, has_global_stats=True)
        self.top_k = top_k
        assert self.top_k > 1, 'Please use Accuracy if top_k is no more than 1'
        self.name += '_%d' % self.top_k

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _as_numpy(pred)
            assert pred.ndim <= 2, 'Predictions should be no more than 2 dims'
            pred_label = numpy.argpartition(pred.astype('float32'), -self.top_k)
            label = _as_numpy(label).astype('int32')
            check_label_shapes(label, pred_label)
            num_samples = pred_label.shape[0]
            if pred_label.ndim == 1:
                correct = int((pred_label.ravel() == label.ravel()).sum())
            else:
                num_classes = pred_label.shape[1]
                correct = 0
                for j in range(min(num_classes, self.top_k)):
                    correct += int((pred_label[:, num_classes - 1 - j].ravel()
                                    == label.ravel()).sum())
            self._add(correct, num_samples)


class _BinaryStats(object):
    """Confusion counts of a binary classifier, local and global."""

    _FIELDS = ('tp', 'fp', 'fn', 'tn')

    def __init__(self):
        self.local = dict.fromkeys(self._FIELDS, 0)
        self.glob = dict.fromkeys(self._FIELDS, 0)

    def update(self, label, pred, owner):
        pred = _as_numpy(pred)
        label = _as_numpy(label).astype('int32')
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError("%s currently only supports binary classification." % owner)
        pred_true = (pred_label == 1)
        label_true = (label.ravel() == 1)
        counts = {'tp': int((pred_true & label_true).sum()),
                  'fp': int((pred_true & ~label_true).sum()),
                  'fn': int((~pred_true & label_true).sum()),
                  'tn': int((~pred_true & ~label_true).sum())}
        for key, value in counts.items():
            self.local[key] += value
            self.glob[key] += value

    def reset(self):
        self.local = dict.fromkeys(self._FIELDS, 0)
        self.glob = dict.fromkeys(self._FIELDS, 0)

    def reset_local(self):
        self.local = dict.fromkeys(self._FIELDS, 0)

    @staticmethod
    def total(c):
        return c['tp'] + c['fp'] + c['fn'] + c['tn']

    @staticmethod
    def fscore(c):
        precision = c['tp'] / float(c['tp'] + c['fp']) if c['tp'] + c['fp'] > 0 else 0.
        recall = c['tp'] / float(c['tp'] + c['fn']) if c['tp'] + c['fn'] > 0 else 0.
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.

    @staticmethod
    def mcc(c):
        if not _BinaryStats.total(c):
            return 0.
        tp, fp, fn, tn = (float(c[k]) for k in ('tp', 'fp', 'fn', 'tn'))
        denom = 1.
        for term in (tp + fp, tp + fn, tn + fp, tn + fn):
            if term != 0.:
                denom *= term
        return ((tp * tn) - (fp * fn)) / math.sqrt(denom)


class _BinaryMetric(EvalMetric):
    """F1/MCC: macro = mean of per-update scores; micro = score of running counts."""

    _score = None

    def __init__(self, name, output_names=None, label_names=None, average="macro"):
        self.average = average
        self.stats = _BinaryStats()
        super(_BinaryMetric, self).__init__(name, output_names=output_names,
                                            label_names=label_names, has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.stats.update(label, pred, type(self).__name__)
        score = type(self)._score
        if self.average == "macro":
            self.sum_metric += score(self.stats.local)
            self.global_sum_metric += score(self.stats.glob)
            self.num_inst += 1
            self.global_num_inst += 1
            self.stats.reset()
        else:
            self.sum_metric = score(self.stats.local) * _BinaryStats.total(self.stats.local)
            self.global_sum_metric = score(self.stats.glob) * _BinaryStats.total(self.stats.glob)
            self.num_inst = _BinaryStats.total(self.stats.local)
            self.global_num_inst = _BinaryStats.total(self.stats.glob)

    def reset(self):
        super(_BinaryMetric, self).reset()
        self.stats.reset()

    def reset_local(self):
        super(_BinaryMetric, self).reset_local()
        self.stats.reset_local()


@register
class F1(_BinaryMetric):
    """Binary F1 score of argmax(pred, axis=1) against 0/1 labels."""
    _score = staticmethod(_BinaryStats.fscore)

    def __init__(self, name='f1', output_names=None, label_names=None, average="macro"):
        super(F1, self).__init__(name, output_names, label_names, average)


@register
class MCC(_BinaryMetric):
    """Binary Matthews correlation coefficient."""
    _score = staticmethod(_BinaryStats.mcc)

    def __init__(self, name='mcc', output_names=None, label_names=None, average="macro"):
        super(MCC, self).__init__(name, output_names, label_names, average)


# -------------------------------------------------------------------------- regression

def _as_columns(label, pred):
    label, pred = _as_numpy(label), _as_numpy(pred)
    if label.ndim == 1:
        label = label.reshape(label.shape[0], 1)
    if pred.ndim == 1:
        pred = pred.reshape(pred.shape[0], 1)
    return label, pred


class _PerUpdateMean(EvalMetric):
    """Regression metric counting each (label, pred) pair as one instance."""

    def __init__(self, name, output_names=None, label_names=None):
        super(_PerUpdateMean, self).__init__(name, output_names=output_names,
                                             label_names=label_names, has_global_stats=True)

    def _value(self, diff):
        raise NotImplementedError()

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_columns(label, pred)
            self._add(float(self._value(label - pred)), 1)


@register
class MSE(_PerUpdateMean):
    """Mean of per-update mean squared errors."""

    def __init__(self, name='mse', output_names=None, label_names=None):
        super(MSE, self).__init__(name, output_names, label_names)

    def _value(self, diff):
        return (diff ** 2.0).mean()


@register
class RMSE(_PerUpdateMean):
    """Mean of per-update root mean squared errors."""

    def __init__(self, name='rmse', output_names=None, label_names=None):
        super(RMSE, self).__init__(name, output_names, label_names)

    def _value(self, diff):
        return numpy.sqrt((diff ** 2.0).mean())


@register
class MAE(_PerUpdateMean):
    """Mean of per-update mean absolute errors."""

    def __init__(self, name='mae', output_names=None, label_names=None):
        super(MAE, self).__init__(name, output_names, label_names)

    def _value(self, diff):
        return numpy.abs(diff).mean()


@register
@alias('ce')
class CrossEntropy(EvalMetric):
    """Mean of -log(p[label] + eps) over rows."""

    def __init__(self, eps=1e-12, name='cross-entropy', output_names=None, label_names=None):
        super(CrossEntropy, self).__init__(name, eps=eps, output_names=output_names,
                                           label_names=label_names, has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_numpy(label).ravel(), _as_numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise ValueError("label has %d rows but pred has %d"
                                 % (label.shape[0], pred.shape[0]))
            prob = pred[numpy.arange(label.shape[0]), numpy.int64(label)]
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@register
@alias('nll_loss')
class NegativeLogLikelihood(CrossEntropy):
    """Same formula as CrossEntropy, named `nll-loss`."""

    def __init__(self, eps=1e-12, name='nll-loss', output_names=None, label_names=None):
        super(NegativeLogLikelihood, self).__init__(eps=eps, name=name,
                                                    output_names=output_names,
                                                    label_names=label_names)


@register
class Perplexity(EvalMetric):
    """exp(mean negative log-probability of the label), ignoring `ignore_label`."""

    def __init__(self, ignore_label, axis=-1, name='perplexity', output_names=None,
                 label_names=None):
        super(Perplexity, self).__init__(name, ignore_label=ignore_label,
                                         output_names=output_names, label_names=label_names,
                                         has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        if len(labels) != len(preds):
            raise ValueError("Perplexity got %d labels and %d predictions"
                             % (len(labels), len(preds)))
        loss, num = 0., 0
        for label, pred in zip(labels, preds):
            label, pred = _as_numpy(label), _as_numpy(pred)
            if label.size != pred.size / pred.shape[self.axis]:
                raise ValueError("shape mismatch: %s vs. %s" % (label.shape, pred.shape))
            label = label.reshape((label.size,))
            flat = numpy.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis])
            picked = flat[numpy.arange(flat.shape[0]),
                          numpy.clip(label.astype('int32'), 0, flat.shape[1] - 1)]
            if self.ignore_label is not None:
                ignore = (label == self.ignore_label).astype(picked.dtype)
                num -= int(ignore.sum())
                picked = picked * (1 - ignore) + ignore
            loss -= float(numpy.log(numpy.maximum(1e-10, picked)).sum())
            num += picked.size
        self._add(loss, num)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self):
        if self.global_num_inst == 0:
            return (self.name, float('nan'))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


@register
@alias('pearsonr')
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of pred and label; macro = mean over updates, micro = pooled."""

    def __init__(self, name='pearsonr', output_names=None, label_names=None, average='macro'):
        self.average = average
        super(PearsonCorrelation, self).__init__(name, output_names=output_names,
                                                 label_names=label_names, has_global_stats=True)

    def _reset_pool(self, which):
        setattr(self, which, numpy.zeros(6))   # n, sx, sy, sxx, syy, sxy

    def reset(self):
        super(PearsonCorrelation, self).reset()
        self._reset_pool('_local_pool')
        self._reset_pool('_global_pool')

    def reset_local(self):
        super(PearsonCorrelation, self).reset_local()
        self._reset_pool('_local_pool')

    @staticmethod
    def _pooled(pool):
        n, sx, sy, sxx, syy, sxy = pool
        cov = sxy - sx * sy / n
        return cov / math.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n))

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            x = _as_numpy(pred).ravel().astype(numpy.float64)
            y = _as_numpy(label).ravel().astype(numpy.float64)
            check_label_shapes(y, x, False, True)
            if self.average == 'macro':
                self._add(float(numpy.corrcoef(x, y)[0, 1]), 1)
                continue
            stats = numpy.array([x.size, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(),
                                 (x * y).sum()])
            self._local_pool += stats
            self._global_pool += stats
            self.num_inst = int(self._local_pool[0])
            self.global_num_inst = int(self._global_pool[0])
            self.sum_metric = self._pooled(self._local_pool) * self.num_inst
            self.global_sum_metric = self._pooled(self._global_pool) * self.global_num_inst


@register
class PCC(EvalMetric):
    """Multiclass Matthews correlation (Gorodkin's R_K) from a confusion matrix."""

    def __init__(self, name='pcc', output_names=None, label_names=None):
        self.k = 2
        super(PCC, self).__init__(name=name, output_names=output_names,
                                  label_names=label_names, has_global_stats=True)

    def _grow(self, inc):
        self.lcm = numpy.pad(self.lcm, ((0, inc), (0, inc)), 'constant', constant_values=0)
        self.gcm = numpy.pad(self.gcm, ((0, inc), (0, inc)), 'constant', constant_values=0)
        self.k += inc

    @staticmethod
    def _calc_mcc(cmat):
        n = cmat.sum()
        x = cmat.sum(axis=1)
        y = cmat.sum(axis=0)
        cov_xx = numpy.sum(x * (n - x))
        cov_yy = numpy.sum(y * (n - y))
        if cov_xx == 0 or cov_yy == 0:
            return float('nan')
        cov_xy = numpy.sum(cmat.diagonal() * n - x * y)
        return cov_xy / (cov_xx * cov_yy) ** 0.5

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_numpy(label).astype('int32').ravel()
            pred = _as_numpy(pred)
            pred = pred.argmax(axis=1) if pred.shape != label.shape else pred.astype('int32')
            pred = pred.ravel()
            n = max(pred.max(), label.max())
            if n >= self.k:
                self._grow(n + 1 - self.k)
            bcm = numpy.zeros((self.k, self.k))
            numpy.add.at(bcm, (pred, label), 1)
            self.lcm += bcm
            self.gcm += bcm
        self.num_inst += 1
        self.global_num_inst += 1

    @property
    def sum_metric(self):
        return self._calc_mcc(self.lcm) * self.num_inst

    @sum_metric.setter
    def sum_metric(self, _value):
        """Derived from the confusion matrix; assignments are ignored."""

    @property
    def global_sum_metric(self):
        return self._calc_mcc(self.gcm) * self.global_num_inst

    @global_sum_metric.setter
    def global_sum_metric(self, _value):
        """Derived from the confusion matrix; assignments are ignored."""

    def reset(self):
        self.global_num_inst = 0.
        self.gcm = numpy.zeros((self.k, self.k))
        self.reset_local()

    def reset_local(self):
        self.num_inst = 0.
        self.lcm = numpy.zeros((self.k, self.k))


# ------------------------------------------------------------------------------ losses

@register
class Loss(EvalMetric):
    """Mean of the output values (labels unused): for loss outputs such as MakeLoss."""

    def __init__(self, name='loss', output_names=None, label_names=None):
        super(Loss, self).__init__(name, output_names=output_names, label_names=label_names,
                                   has_global_stats=True)

    def update(self, _, preds):
        if _is_array(preds):
            preds = [preds]
        for pred in preds:
            pred = _as_numpy(pred)
            self._add(float(pred.sum()), pred.size)


@register
class Torch(Loss):
    """Loss metric named `torch`."""

    def __init__(self, name='torch', output_names=None, label_names=None):
        super(Torch, self).__init__(name, output_names, label_names)


@register
class Caffe(Loss):
    """Loss metric named `caffe`."""

    def __init__(self, name='caffe', output_names=None, label_names=None):
        super(Caffe, self).__init__(name, output_names, label_names)


# ------------------------------------------------------------------------------ custom

@register
class CustomMetric(EvalMetric):
    """Metric from `feval(label, pred)` returning a number or (sum, count)."""

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if name.find('<') != -1:
                name = 'custom(%s)' % name
        super(CustomMetric, self).__init__(name, feval=feval,
                                           allow_extra_outputs=allow_extra_outputs,
                                           output_names=output_names, label_names=label_names,
                                           has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        elif _is_array(labels) or _is_array(preds):
            labels = [labels] if _is_array(labels) else labels
            preds = [preds] if _is_array(preds) else preds
        for pred, label in zip(preds, labels):
            reval = self._feval(_as_numpy(label), _as_numpy(pred))
            if isinstance(reval, tuple):
                value, count = reval
                self._add(value, count)
            else:
                self._add(reval, 1)

    def get_config(self):
        raise NotImplementedError("CustomMetric cannot be serialized")


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """CustomMetric from a NumPy function `feval(label, pred)`."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
