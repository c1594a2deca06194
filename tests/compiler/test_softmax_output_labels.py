"""SoftmaxOutput with labels outside [0, num_classes), negative, fractional or NaN: the gradient
MXNet 1.9's CPU kernels write (no error), in the compiled C, in the registry's NumPy
reference, against hand-computed values; the CUDA kernels compile."""
import numpy as np
import pytest

import mxc as mx
from mxc.compiler import build_cuda, cuda
from mxc.compiler.ops import get as lookup
from mxc.compiler.ops.losses import label_class, softmax_output_backward
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered
from mxc.executor import Executor

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")

# one head per variant, each on its own data and label, so one compile covers them all
VARIANTS = {
    "plain": {},
    "ignore": {"use_ignore": True, "ignore_label": -1},
    "ignore_valid": {"use_ignore": True, "ignore_label": 3, "normalization": "valid"},
    "valid_no_ignore": {"ignore_label": -1, "normalization": "valid", "grad_scale": 2.0},
    "batch_smooth": {"normalization": "batch", "smooth_alpha": 0.2},
    "smooth_ignore": {"use_ignore": True, "ignore_label": 0, "smooth_alpha": 0.1},
    "multi": {"multi_output": True, "use_ignore": True, "ignore_label": -1,
              "normalization": "valid"},
    "multi_smooth": {"multi_output": True, "smooth_alpha": 0.3},
}
DATA = {"multi": (3, 4, 5), "multi_smooth": (2, 4, 3)}
ROWS = (7, 4)
# labels: in range, too large, negative, fractional (truncated toward zero), NaN, huge
LABELS = np.array([1, 4, -1, 3.7, -0.5, 2**40, np.nan])


def _heads():
    heads = []
    for name, kw in sorted(VARIANTS.items()):
        heads.append(mx.sym.SoftmaxOutput(mx.sym.Variable(name), name=name + "_sm", **kw))
    return mx.sym.Group(heads)


def _shapes():
    return {name: DATA.get(name, ROWS) for name in VARIANTS}


def _labels(name, rng):
    shape = DATA.get(name, ROWS)
    if len(shape) == 2:
        return LABELS.copy()
    n = shape[0] * int(np.prod(shape[2:]))
    lab = rng.randint(0, shape[1], size=n).astype(np.float64)
    lab[::3] = np.resize(LABELS, lab[::3].shape)
    return lab.reshape((shape[0],) + shape[2:])


def test_label_class_is_cs_int_cast():
    assert [label_class(v) for v in (3.7, -0.5, -1.2, 0.0, 5)] == [3, 0, -1, 0, 5]
    assert label_class(float("nan")) == -2 ** 31 and label_class(2.0 ** 40) == -2 ** 31
    assert label_class(-2.0 ** 31) == -2 ** 31 and label_class(2.0 ** 31 - 1) == 2 ** 31 - 1


def test_hand_computed_gradients():
    """Zero logits: every probability is 1/3. A label of 5 matches no class (the row's
    gradient is p); with use_ignore and ignore_label=-1, a label of -1.5 is class -1 and its row
    is zero, and 'valid' divides by the one remaining row."""
    op = lookup("SoftmaxOutput")
    p = op.parse_params({})
    data = np.zeros((2, 3))
    third = 1.0 / 3
    np.testing.assert_allclose(softmax_output_backward(p, data, [5, 1]),
                               [[third, third, third], [third, -2 * third, third]])
    p = op.parse_params({"use_ignore": "True", "ignore_label": "-1", "normalization": "valid"})
    np.testing.assert_allclose(softmax_output_backward(p, data, [-1.5, 2]),
                               [[0, 0, 0], [third, third, -2 * third]])
    # without use_ignore the -1 row keeps p, yet 'valid' still leaves it out of the count
    p = op.parse_params({"ignore_label": "-1", "normalization": "valid"})
    np.testing.assert_allclose(softmax_output_backward(p, data, [-1.5, 2]),
                               [[third, third, third], [third, third, -2 * third]])


def test_compiled_gradients_match_mxnet_reference():
    rng = np.random.RandomState(0)
    ex = Executor(_heads(), _shapes(), data_names=sorted(VARIANTS),
                  label_names=[n + "_sm_label" for n in sorted(VARIANTS)],
                  grad_req={n: "write" for n in VARIANTS}, dtype="float64")
    values = {}
    for name in VARIANTS:
        values[name] = rng.randn(*DATA.get(name, ROWS)) * 2
        ex.arg_arrays[name][...] = values[name]
        ex.arg_arrays[name + "_sm_label"][...] = _labels(name, np.random.RandomState(1))
    ex.forward(True)
    ex.backward()
    op = lookup("SoftmaxOutput")
    for name, kw in VARIANTS.items():
        p = op.parse_params({k: str(v) for k, v in kw.items()})
        label = ex.arg_arrays[name + "_sm_label"]
        want = softmax_output_backward(p, values[name], label)
        got = ex.grad_arrays[name]
        assert np.isfinite(got).all(), name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=name)
    # the plain head written out: out-of-range rows keep p, in-range rows subtract one
    e = np.exp(values["plain"] - values["plain"].max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    want = prob.copy()
    want[0, 1] -= 1
    want[3, 3] -= 1          # 3.7 -> class 3
    want[4, 0] -= 1          # -0.5 -> class 0
    np.testing.assert_allclose(ex.grad_arrays["plain"], want, rtol=1e-12)


def test_module_trains_through_out_of_range_labels():
    """Module.fit's whole-epoch path runs the same kernel: no error, finite parameters."""
    x = np.random.RandomState(2).randn(8, 5).astype(np.float32)
    y = np.array([0, 1, 2, 9, -3, 1, 2, 0], dtype=np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                                     name="fc"), name="softmax")
    mod = mx.mod.Module(net)
    mod.fit(mx.io.NDArrayIter(x, y, 4), num_epoch=2, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1})
    args, _ = mod.get_params()
    assert all(np.isfinite(v.asnumpy()).all() for v in args.values())


@needs_nvcc
def test_cuda_kernels_compile(tmp_path):
    labels = [n + "_sm_label" for n in sorted(VARIANTS)]
    shapes = _shapes()
    plan = make_plan(_heads(), shapes, sorted(VARIANTS), labels,
                     {n: "write" for n in VARIANTS})
    src, cdef = cuda.render(plan)
    assert "outside [0" not in src
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled
