"""Layer operators: forward against NumPy references written here, backward against central
finite differences on float64 builds."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import ops
from mxc.compiler.ops.nn import softmax_along
from mxc.executor import Executor
from mxc.test_utils import central_difference

RNG = np.random.RandomState(7)


def bind(sym, shapes, labels=(), no_grad=(), aux=None):
    """float64 Executor with write gradients on every argument except labels / no_grad."""
    req = {n: ("null" if n in labels or n in no_grad else "write") for n in sym.list_arguments()}
    return Executor(sym, shapes, label_names=list(labels), grad_req=req, dtype="float64")


def fill(ex, values):
    for k, v in values.items():
        (ex.aux_arrays if k in ex.aux_arrays else ex.arg_arrays)[k][...] = v


def check_grad(ex, values, wrt, head=None, is_train=True, eps=1e-6, tol=1e-5, samples=12):
    """Analytic gradients of sum(output * head) against central differences."""
    fill(ex, values)
    ex.forward(is_train)
    if head is None and ex.head_grads[0] is not None:
        head = RNG.uniform(-1, 1, ex.outputs[0].shape)
    if head is not None:
        ex.head_grads[0][...] = head
    ex.backward()
    analytic = {k: ex.grad_arrays[k].copy() for k in wrt}

    def loss():
        fill(ex, {k: v for k, v in values.items() if k in ex.aux_arrays})
        ex.forward(is_train)
        return float(np.sum(ex.outputs[0] * head)) if head is not None else None

    for k in wrt:
        arr = ex.arg_arrays[k]
        idx = RNG.choice(arr.size, min(samples, arr.size), replace=False)
        numeric = central_difference(loss, arr, eps, indices=idx).reshape(-1)
        for i in idx:
            num, got = numeric[i], analytic[k].reshape(-1)[i]
            assert abs(num - got) <= tol * max(1.0, abs(num)), (k, i, num, got)
    return analytic


# ---- NumPy references ----------------------------------------------------------------------

def ref_conv(x, w, b, stride, pad, dilate, groups):
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dilate[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilate[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    fg = f // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * dilate[0]:i * dilate[0] + stride[0] * (oh - 1) + 1:stride[0],
                           j * dilate[1]:j * dilate[1] + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * fg:(g + 1) * fg] += np.einsum("nchw,fc->nfhw", patch,
                                                         w[g * fg:(g + 1) * fg, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def ref_deconv(x, w, b, stride, pad, dilate, adj, groups):
    """Transposed convolution by scattering every input pixel."""
    n, c, h, wd = x.shape
    _, fg, kh, kw = w.shape
    cg = c // groups
    oh = stride[0] * (h - 1) + dilate[0] * (kh - 1) + 1 + adj[0]
    ow = stride[1] * (wd - 1) + dilate[1] * (kw - 1) + 1 + adj[1]
    full = np.zeros((n, fg * groups, oh, ow))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,cf->nfhw", x[:, g * cg:(g + 1) * cg],
                                    w[g * cg:(g + 1) * cg, :, i, j])
                full[:, g * fg:(g + 1) * fg,
                     i * dilate[0]:i * dilate[0] + stride[0] * (h - 1) + 1:stride[0],
                     j * dilate[1]:j * dilate[1] + stride[1] * (wd - 1) + 1:stride[1]] += contrib
    out = full[:, :, pad[0]:pad[0] + oh - 2 * pad[0], pad[1]:pad[1] + ow - 2 * pad[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def ref_pool(x, kernel, stride, pad, kind, full=False, include_pad=True):
    n, c, h, w = x.shape
    def osz(d, k, s, p):
        return (d + 2 * p - k + (s - 1 if full else 0)) // s + 1
    oh, ow = osz(h, kernel[0], stride[0], pad[0]), osz(w, kernel[1], stride[1], pad[1])
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * stride[0] - pad[0], j * stride[1] - pad[1]
            h1, w1 = min(h0 + kernel[0], h + pad[0]), min(w0 + kernel[1], w + pad[1])
            area = (h1 - h0) * (w1 - w0)
            hs, ws, he, we = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif kind == "sum":
                out[:, :, i, j] = win.sum(axis=(2, 3))
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / (area if include_pad else win[0, 0].size)
    return out


# ---- Convolution ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", [
    dict(shape=(2, 3, 7, 6), kernel=(3, 3), num_filter=4, stride=(1, 1), pad=(0, 0),
         dilate=(1, 1), num_group=1, no_bias=False),
    dict(shape=(1, 4, 9, 8), kernel=(3, 2), num_filter=6, stride=(2, 3), pad=(1, 2),
         dilate=(2, 1), num_group=2, no_bias=True),
    dict(shape=(3, 2, 5, 5), kernel=(1, 1), num_filter=3, stride=(1, 1), pad=(0, 0),
         dilate=(1, 1), num_group=1, no_bias=False),
])
def test_convolution_2d(case):
    c = dict(case)
    shape = c.pop("shape")
    sym = mx.sym.Convolution(mx.sym.Variable("data"), name="conv", **c)
    ex = bind(sym, {"data": shape})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    fill(ex, vals)
    ex.forward(False)
    want = ref_conv(vals["data"], vals["conv_weight"], vals.get("conv_bias"), c["stride"],
                    c["pad"], c["dilate"], c["num_group"])
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    op = ops.get("Convolution")
    registry = op.reference(op.parse_params(c), [vals[k] for k in sym.list_arguments()])[0]
    np.testing.assert_allclose(ex.outputs[0], registry, rtol=1e-10, atol=1e-10)
    check_grad(ex, vals, list(vals))


def test_convolution_1d():
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3,), stride=(2,), pad=(1,),
                             dilate=(2,), num_filter=5, name="c1")
    ex = bind(sym, {"data": (2, 3, 11)})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    fill(ex, vals)
    ex.forward(False)
    assert ex.outputs[0].shape == (2, 5, 5)
    want = ref_conv(vals["data"][:, :, None, :], vals["c1_weight"][:, :, None, :],
                    vals["c1_bias"], (1, 2), (0, 1), (1, 2), 1)[:, :, 0]
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    check_grad(ex, vals, list(vals))


def test_convolution_shape_errors():
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, num_group=3)
    with pytest.raises(MXNetError):
        Executor(sym, {"data": (1, 4, 5, 5)})
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(7, 7), num_filter=2)
    with pytest.raises(MXNetError):
        Executor(sym, {"data": (1, 1, 5, 5)})


# ---- Deconvolution -------------------------------------------------------------------------

@pytest.mark.parametrize("case", [
    dict(shape=(2, 3, 4, 5), kernel=(3, 3), num_filter=4, stride=(2, 2), pad=(1, 0),
         dilate=(1, 1), adj=(1, 0), num_group=1, no_bias=False),
    dict(shape=(1, 4, 3, 3), kernel=(2, 3), num_filter=2, stride=(1, 2), pad=(0, 1),
         dilate=(2, 1), adj=(0, 1), num_group=2, no_bias=True),
])
def test_deconvolution(case):
    c = dict(case)
    shape = c.pop("shape")
    sym = mx.sym.Deconvolution(mx.sym.Variable("data"), name="dc", **c)
    ex = bind(sym, {"data": shape})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    fill(ex, vals)
    ex.forward(False)
    want = ref_deconv(vals["data"], vals["dc_weight"], vals.get("dc_bias"), c["stride"],
                      c["pad"], c["dilate"], c["adj"], c["num_group"])
    assert ex.outputs[0].shape == want.shape
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    check_grad(ex, vals, list(vals))


def test_deconvolution_target_shape_and_default_no_bias():
    sym = mx.sym.Deconvolution(mx.sym.Variable("data"), kernel=(4, 4), stride=(2, 2),
                               num_filter=8, target_shape=(14, 14), name="up")
    assert sym.list_arguments() == ["data", "up_weight"]
    ex = Executor(sym, {"data": (1, 3, 7, 7)})
    assert ex.outputs[0].shape == (1, 8, 14, 14)
    assert ex.arg_arrays["up_weight"].shape == (3, 8, 4, 4)


# ---- Pooling -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,conv,include_pad,kernel,stride,pad", [
    ("max", "valid", True, (2, 2), (2, 2), (0, 0)),
    ("max", "full", True, (3, 3), (2, 2), (1, 1)),
    ("avg", "valid", True, (3, 2), (2, 1), (1, 1)),
    ("avg", "full", False, (3, 3), (2, 2), (1, 1)),
    ("sum", "valid", True, (2, 3), (1, 2), (0, 1)),
])
def test_pooling_2d(kind, conv, include_pad, kernel, stride, pad):
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=kernel, stride=stride, pad=pad,
                         pool_type=kind, pooling_convention=conv,
                         count_include_pad=include_pad)
    ex = bind(sym, {"data": (2, 3, 7, 8)})
    x = RNG.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 100.0   # distinct: max is unique
    fill(ex, {"data": x})
    ex.forward(False)
    want = ref_pool(x, kernel, stride, pad, kind, conv == "full", include_pad)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-12)
    op = ops.get("Pooling")
    p = op.parse_params(dict(kernel=kernel, stride=stride, pad=pad, pool_type=kind,
                             pooling_convention=conv, count_include_pad=include_pad))
    np.testing.assert_allclose(ex.outputs[0], op.reference(p, [x])[0], rtol=1e-12)
    check_grad(ex, {"data": x}, ["data"], eps=1e-5)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_same_convention_1d(kind):
    # MXNet's 'same': ceil(x / stride) windows from 0, the last ones clipped at the end
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(3,), stride=(2,), pool_type=kind,
                         pooling_convention="same")
    ex = bind(sym, {"data": (2, 3, 10)})
    assert ex.outputs[0].shape == (2, 3, 5)
    x = RNG.permutation(60).reshape(2, 3, 10) / 10.0
    fill(ex, {"data": x})
    ex.forward(False)
    windows = [x[..., i:min(i + 3, 10)] for i in range(0, 10, 2)]
    if kind == "max":
        want = np.stack([w.max(-1) for w in windows], -1)
    else:       # as MXNet's pool.h: a window clipped at the end divides by what is left
        want = np.stack([w.mean(-1) for w in windows], -1)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-12)
    check_grad(ex, {"data": x}, ["data"], eps=1e-5)
    with pytest.raises(MXNetError, match="pad"):
        mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2,), stride=(2,), pad=(1,),
                       pooling_convention="same")
    # as MXNet's, stride / pad entries past the kernel's dimensions are not read
    longer = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(3,), stride=(2, 5, 7),
                            pad=(0, 0, 0), pool_type=kind, pooling_convention="same")
    assert longer.infer_shape(data=(2, 3, 10))[1] == [(2, 3, 5)]


def test_pooling_global_and_1d_and_max_tie():
    sym = mx.sym.Pooling(mx.sym.Variable("data"), global_pool=True, pool_type="avg",
                         kernel=(1, 1))
    ex = bind(sym, {"data": (2, 3, 5, 4)})
    x = RNG.uniform(-1, 1, (2, 3, 5, 4))
    fill(ex, {"data": x})
    ex.forward(False)
    np.testing.assert_allclose(ex.outputs[0], x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(3,), stride=(2,), pool_type="max")
    ex = bind(sym, {"data": (1, 2, 9)})
    x = RNG.uniform(-1, 1, (1, 2, 9))
    fill(ex, {"data": x})
    ex.forward(True)
    want = ref_pool(x[:, :, None], (1, 3), (1, 2), (0, 0), "max")[:, :, 0]
    np.testing.assert_allclose(ex.outputs[0], want)
    # ties: the whole gradient goes to the first maximum of the window
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2), stride=(2, 2), pool_type="max")
    ex = bind(sym, {"data": (1, 1, 2, 2)})
    ex.arg_arrays["data"][...] = [[[[1.0, 3.0], [3.0, 0.0]]]]
    ex.forward(True)
    ex.head_grads[0][...] = 5
    ex.backward()
    np.testing.assert_array_equal(ex.grad_arrays["data"], [[[[0, 5], [0, 0]]]])


# ---- BatchNorm -----------------------------------------------------------------------------

def test_batchnorm_training_inference_and_moving_stats():
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), fix_gamma=False, momentum=0.8, eps=1e-5,
                           name="bn")
    assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert sym.list_outputs() == ["bn_output"]
    ex = bind(sym, {"data": (4, 3, 2, 5)})
    x = RNG.uniform(-2, 2, (4, 3, 2, 5))
    gamma, beta = RNG.uniform(0.5, 1.5, 3), RNG.uniform(-1, 1, 3)
    mm, mv = RNG.uniform(-1, 1, 3), RNG.uniform(0.5, 2, 3)
    vals = {"data": x, "bn_gamma": gamma, "bn_beta": beta, "bn_moving_mean": mm,
            "bn_moving_var": mv}
    fill(ex, vals)
    ex.forward(True)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    b = lambda v: v[None, :, None, None]  # noqa: E731
    want = (x - b(mean)) / np.sqrt(b(var) + 1e-5) * b(gamma) + b(beta)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ex.aux_arrays["bn_moving_mean"], mm)   # forward: unchanged
    ex.backward()
    np.testing.assert_allclose(ex.aux_arrays["bn_moving_mean"], mm * 0.8 + mean * 0.2)
    np.testing.assert_allclose(ex.aux_arrays["bn_moving_var"], mv * 0.8 + var * 0.2)
    fill(ex, vals)
    ex.forward(False)
    want = (x - b(mm)) / np.sqrt(b(mv) + 1e-5) * b(gamma) + b(beta)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-12)
    check_grad(ex, vals, ["data", "bn_gamma", "bn_beta"])


def test_batchnorm_fix_gamma_global_stats_axis_and_mean_var():
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), axis=-1, output_mean_var=True, name="bn")
    assert sym.list_outputs() == ["bn_output", "bn_mean", "bn_var"]
    ex = bind(sym, {"data": (5, 4)})
    x = RNG.uniform(-2, 2, (5, 4))
    vals = {"data": x, "bn_gamma": RNG.uniform(0.5, 1.5, 4), "bn_beta": RNG.uniform(-1, 1, 4),
            "bn_moving_mean": np.zeros(4), "bn_moving_var": np.ones(4)}
    fill(ex, vals)
    ex.forward(True)
    np.testing.assert_array_equal(ex.arg_arrays["bn_gamma"], 1)         # the kernel writes 1
    eps = 0.0010000000474974513
    want = (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + vals["bn_beta"]   # gamma treated as 1
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10)
    np.testing.assert_allclose(ex.outputs[1], x.mean(0))
    np.testing.assert_allclose(ex.outputs[2], 1 / np.sqrt(x.var(0) + eps))
    g = check_grad(ex, vals, ["data", "bn_beta"])
    fill(ex, {"bn_gamma": np.full(4, 0.5)})
    ex.forward(False)                                 # inference writes the 1 too, as MXNet's
    np.testing.assert_array_equal(ex.arg_arrays["bn_gamma"], 1)
    ex.forward(True)
    ex.backward()
    np.testing.assert_array_equal(ex.grad_arrays["bn_gamma"], 0)
    del g
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), use_global_stats=True, fix_gamma=False,
                           name="bn")
    ex = bind(sym, {"data": (3, 2, 4)})
    vals = {"data": RNG.uniform(-1, 1, (3, 2, 4)), "bn_gamma": RNG.uniform(0.5, 1.5, 2),
            "bn_beta": RNG.uniform(-1, 1, 2), "bn_moving_mean": RNG.uniform(-1, 1, 2),
            "bn_moving_var": RNG.uniform(0.5, 2, 2)}
    fill(ex, vals)
    ex.forward(True)
    b = lambda v: v[None, :, None]  # noqa: E731
    want = ((vals["data"] - b(vals["bn_moving_mean"])) / np.sqrt(b(vals["bn_moving_var"]) + eps)
            * b(vals["bn_gamma"]) + b(vals["bn_beta"]))
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10)
    check_grad(ex, vals, ["data", "bn_gamma", "bn_beta"])
    np.testing.assert_array_equal(ex.aux_arrays["bn_moving_mean"], vals["bn_moving_mean"])


@pytest.mark.parametrize("fix_gamma,global_stats", [(True, False), (False, False),
                                                     (False, True)])
def test_batchnorm_v1_normalises_over_axis_1(fix_gamma, global_stats):
    sym = mx.sym.BatchNorm_v1(mx.sym.Variable("data"), fix_gamma=fix_gamma,
                              use_global_stats=global_stats, name="bn")
    assert sym.list_arguments() == ["data", "bn_gamma", "bn_beta"]
    assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    ex = bind(sym, {"data": (4, 3, 5)})
    x = RNG.uniform(-2, 2, (4, 3, 5))
    vals = {"data": x, "bn_gamma": RNG.uniform(0.5, 1.5, 3), "bn_beta": RNG.uniform(-1, 1, 3),
            "bn_moving_mean": RNG.uniform(-1, 1, 3), "bn_moving_var": RNG.uniform(0.5, 2, 3)}
    fill(ex, vals)
    ex.forward(True)
    b = lambda v: v[None, :, None]  # noqa: E731
    mean, var = ((vals["bn_moving_mean"], vals["bn_moving_var"]) if global_stats
                 else (x.mean(axis=(0, 2)), x.var(axis=(0, 2))))
    gamma = np.ones(3) if fix_gamma else vals["bn_gamma"]
    want = (x - b(mean)) / np.sqrt(b(var) + 0.0010000000474974513) * b(gamma) + b(vals["bn_beta"])
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-12)
    check_grad(ex, vals, ["data", "bn_beta"] + ([] if fix_gamma else ["bn_gamma"]))
    with pytest.raises(MXNetError, match="output_mean_var"):
        mx.sym.BatchNorm_v1(mx.sym.Variable("data"), output_mean_var=True)


# ---- Dropout -------------------------------------------------------------------------------

def test_dropout_statistics_mask_gradient_and_inference():
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.3)
    assert sym.list_outputs() == [sym.name + "_output"]
    ex = bind(sym, {"data": (100, 200)})
    x = RNG.uniform(1, 2, (100, 200))
    fill(ex, {"data": x})
    ex.forward(True)
    y = ex.outputs[0]
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)
    ex.head_grads[0][...] = 2
    ex.backward()
    np.testing.assert_allclose(ex.grad_arrays["data"], np.where(kept, 2 / 0.7, 0))
    ex.forward(False)
    np.testing.assert_array_equal(ex.outputs[0], x)


def test_dropout_axes_and_always():
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.5, axes=(1,), mode="always")
    ex = bind(sym, {"data": (6, 5, 7)})
    ex.arg_arrays["data"][...] = 1
    ex.forward(False)
    y = ex.outputs[0]
    assert set(np.unique(y)) <= {0.0, 2.0}
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))
    assert 0 < (y == 0).mean() < 1


# ---- activations with parameters, softmax family -------------------------------------------

def _unary(sym, shape, ref, low=-2.0, high=2.0, extra=None, tol=1e-5):
    ex = bind(sym, {"data": shape})
    vals = {k: RNG.uniform(low, high, v.shape) for k, v in ex.arg_arrays.items()}
    vals.update(extra or {})
    fill(ex, vals)
    ex.forward(False)
    np.testing.assert_allclose(ex.outputs[0], ref(vals), rtol=1e-9, atol=1e-12)
    check_grad(ex, vals, list(vals), tol=tol)
    return ex


def test_leaky_relu_variants():
    from math import erf
    d = mx.sym.Variable("data")
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    x = lambda v: v["data"]  # noqa: E731
    _unary(mx.sym.LeakyReLU(d, act_type="leaky", slope=0.1), (3, 7),
           lambda v: np.where(x(v) > 0, x(v), 0.1 * x(v)))
    _unary(mx.sym.LeakyReLU(d, act_type="elu", slope=0.7), (3, 7),
           lambda v: np.where(x(v) > 0, x(v), 0.7 * np.expm1(x(v))))
    _unary(mx.sym.LeakyReLU(d, act_type="selu"), (5, 3),
           lambda v: lam * np.where(x(v) > 0, x(v), alpha * np.expm1(x(v))))
    _unary(mx.sym.LeakyReLU(d, act_type="gelu"), (4, 5),
           lambda v: 0.5 * x(v) * (1 + np.vectorize(erf)(x(v) / np.sqrt(2))))
    sym = mx.sym.LeakyReLU(d, act_type="prelu", name="pr")
    assert sym.list_arguments() == ["data", "pr_gamma"]
    _unary(sym, (2, 3, 4), lambda v: np.where(x(v) > 0, x(v),
                                              v["pr_gamma"][None, :, None] * x(v)))


def test_rrelu_training_slopes_and_inference():
    sym = mx.sym.LeakyReLU(mx.sym.Variable("data"), act_type="rrelu", lower_bound=0.1,
                           upper_bound=0.3)
    ex = bind(sym, {"data": (50, 40)})
    ex.arg_arrays["data"][...] = -1
    ex.forward(True)
    slopes = -ex.outputs[0]
    assert slopes.min() >= 0.1 and slopes.max() < 0.3 and slopes.std() > 0.03
    ex.head_grads[0][...] = 1
    ex.backward()
    np.testing.assert_allclose(ex.grad_arrays["data"], slopes)
    ex.forward(False)
    np.testing.assert_allclose(ex.outputs[0], -0.2)


def _np_softmax(x, axis, t=1.0):
    return softmax_along(x, axis, t)   # the registry's NumPy softmax


def test_softmax_log_softmax_and_softmax_activation():
    d = mx.sym.Variable("data")
    _unary(mx.sym.softmax(d), (3, 5), lambda v: _np_softmax(v["data"], -1))
    _unary(mx.sym.softmax(d, axis=1, temperature=2.5), (2, 4, 3),
           lambda v: _np_softmax(v["data"], 1, 2.5))
    _unary(mx.sym.log_softmax(d, axis=0, temperature=0.5), (4, 3),
           lambda v: np.log(_np_softmax(v["data"], 0, 0.5)))
    _unary(mx.sym.SoftmaxActivation(d), (2, 3, 2),
           lambda v: _np_softmax(v["data"].reshape(2, -1), 1).reshape(2, 3, 2))
    _unary(mx.sym.SoftmaxActivation(d, mode="channel"), (2, 3, 2, 2),
           lambda v: _np_softmax(v["data"], 1))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_with_length_masks_each_row_past_its_length(op):
    # data (2, 5, 3) along axis 1: the length tensor is (2, 3), one length per row; lengths
    # past the axis count as the whole row, negative ones as 0 (the row is all zeros)
    x = RNG.uniform(-2, 2, (2, 5, 3))
    lengths = np.array([[5, 1, 3], [0, 9, -2]], dtype=np.float64)
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), mx.sym.Variable("length"), axis=1,
                              use_length=True)
    assert sym.list_arguments() == ["data", "length"]
    assert sym.infer_shape(data=(2, 5, 3))[0] == [(2, 5, 3), (2, 3)]
    want = np.zeros_like(x)
    for i in range(2):
        for j in range(3):
            n = int(min(max(lengths[i, j], 0), 5))
            if n:
                row = x[i, :n, j]
                e = np.exp(row - row.max())
                want[i, :n, j] = np.log(e / e.sum()) if op == "log_softmax" else e / e.sum()
    ex = bind(sym, {"data": (2, 5, 3)}, no_grad=("length",))
    fill(ex, {"data": x, "length": lengths})
    ex.forward(False)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-12, atol=1e-12)
    ref = ops.get(op).reference(ops.get(op).parse_params({"axis": "1", "use_length": "True"}),
                                [x, lengths])[0]
    np.testing.assert_allclose(ref, want, rtol=1e-12, atol=1e-12)
    g = check_grad(ex, {"data": x, "length": lengths}, ["data"])
    assert np.all(g["data"][1, :, 0] == 0) and np.all(g["data"][0, 1:, 1] == 0)


# ---- loss heads ----------------------------------------------------------------------------

def _loss_grad(sym, shapes, vals):
    ex = bind(sym, shapes, labels=("label",))
    fill(ex, vals)
    ex.forward(True)
    ex.backward()
    return ex.outputs[0].copy(), ex.grad_arrays["data"].copy()


def test_regression_outputs():
    d, lab = mx.sym.Variable("data"), mx.sym.Variable("label")
    x, y = RNG.uniform(-2, 2, (4, 3)), RNG.uniform(-1, 1, (4, 3))
    out, g = _loss_grad(mx.sym.LinearRegressionOutput(d, lab, grad_scale=2.0),
                        {"data": (4, 3)}, {"data": x, "label": y})
    np.testing.assert_allclose(out, x)
    np.testing.assert_allclose(g, (x - y) * 2.0 / 3)
    out, g = _loss_grad(mx.sym.LogisticRegressionOutput(d, lab), {"data": (4, 3)},
                        {"data": x, "label": y})
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(out, p)
    np.testing.assert_allclose(g, (p - y) / 3)
    out, g = _loss_grad(mx.sym.MAERegressionOutput(d, lab), {"data": (4, 1)},
                        {"data": [[1.5], [2], [2], [5]], "label": [1, 2, 3, 4]})
    np.testing.assert_allclose(g.ravel(), [1, -1, -1, 1])     # the reference's example


@pytest.mark.parametrize("use_linear", [False, True])
def test_svm_output(use_linear):
    d, lab = mx.sym.Variable("data"), mx.sym.Variable("label")
    x = RNG.uniform(-2, 2, (5, 4))
    y = np.array([0, 3, 1, 2, 3], dtype=float)
    sym = mx.sym.SVMOutput(d, lab, margin=1.5, regularization_coefficient=0.5,
                           use_linear=use_linear)
    out, g = _loss_grad(sym, {"data": (5, 4)}, {"data": x, "label": y})
    np.testing.assert_allclose(out, x)
    want = np.zeros_like(x)
    for i in range(5):
        for j in range(4):
            if j == int(y[i]):
                act = 1.5 > x[i, j]
                want[i, j] = -0.5 * act if use_linear else -2 * 0.5 * (1.5 - x[i, j]) * act
            else:
                act = 1.5 > -x[i, j]
                want[i, j] = 0.5 * act if use_linear else 2 * 0.5 * (1.5 + x[i, j]) * act
    np.testing.assert_allclose(g, want)


def test_make_loss_and_block_grad():
    d = mx.sym.Variable("data")
    x = np.array([[0.5, -1, 2], [3, 0, -2]])
    for norm, want in (("null", 2.0), ("batch", 1.0), ("valid", 2.0 / 3)):
        ex = bind(mx.sym.MakeLoss(d, grad_scale=2.0, normalization=norm), {"data": (2, 3)})
        fill(ex, {"data": x})
        ex.forward(True)
        np.testing.assert_array_equal(ex.outputs[0], x)
        ex.backward()
        np.testing.assert_allclose(ex.grad_arrays["data"], np.full((2, 3), want))
    w = mx.sym.Variable("w")
    net = mx.sym.elemwise_add(mx.sym.BlockGrad(d * w), mx.sym.stop_gradient(w) + d)
    ex = bind(net, {"data": (2, 3), "w": (2, 3)})
    fill(ex, {"data": x, "w": x + 1})
    ex.forward(True)
    np.testing.assert_allclose(ex.outputs[0], x * (x + 1) + x + 1 + x)
    ex.head_grads[0][...] = 1
    ex.backward()
    np.testing.assert_array_equal(ex.grad_arrays["w"], 0)
    np.testing.assert_array_equal(ex.grad_arrays["data"], 1)


def test_make_loss_operator_is_a_head_with_gradient_one():
    """make_loss (lowercase, MXNet's unary operator): identity forward, output named 'loss',
    the head gradient ignored and ones sent back, so d(sum x^2)/dx = 2x."""
    d = mx.sym.Variable("data")
    head = mx.sym.make_loss(mx.sym.square(d), name="ml")
    assert head.list_outputs() == ["ml_loss"]
    assert '"op": "make_loss"' in head.tojson()
    x = np.array([[0.5, -1, 2], [3, 0, -2]])
    ex = bind(head, {"data": (2, 3)})
    fill(ex, {"data": x})
    ex.forward(True)
    np.testing.assert_allclose(ex.outputs[0], x * x)
    ex.backward()
    np.testing.assert_allclose(ex.grad_arrays["data"], 2 * x)


# ---- Embedding, L2Normalization, LRN, UpSampling, Pad --------------------------------------

def test_embedding_clips_indices_and_scatters_gradient():
    sym = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=5, output_dim=3, name="emb")
    assert sym.list_arguments() == ["data", "emb_weight"]
    ex = bind(sym, {"data": (2, 3)}, no_grad=("data",))
    idx = np.array([[0, 4, 7], [-1, 2.7, 4]])
    w = RNG.uniform(-1, 1, (5, 3))
    fill(ex, {"data": idx, "emb_weight": w})
    ex.forward(True)
    rows = np.clip(idx.astype(int), 0, 4)
    np.testing.assert_array_equal(ex.outputs[0], w[rows])
    check_grad(ex, {"data": idx, "emb_weight": w}, ["emb_weight"])


@pytest.mark.parametrize("mode", ["instance", "channel", "spatial"])
def test_l2_normalization(mode):
    axes = {"instance": (1, 2, 3), "channel": (1,), "spatial": (2, 3)}[mode]
    sym = mx.sym.L2Normalization(mx.sym.Variable("data"), mode=mode, eps=1e-6)
    _unary(sym, (2, 3, 2, 3), lambda v: v["data"] / np.sqrt(
        (v["data"] ** 2).sum(axis=axes, keepdims=True) + 1e-6))


def test_l2_normalization_reference_values():
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    want = {"instance": [[.183, .365], [.548, .730]], "channel": [[.316, .447], [.949, .894]],
            "spatial": [[.447, .894], [.6, .8]]}
    for mode, vals in want.items():
        ex = bind(mx.sym.L2Normalization(mx.sym.Variable("data"), mode=mode), {"data": (1, 2, 2)})
        fill(ex, {"data": x})
        ex.forward(False)
        np.testing.assert_allclose(ex.outputs[0][0], vals, atol=1e-3)


def test_lrn():
    nsize, alpha, beta, k = 3, 0.01, 0.75, 2.0

    def ref(v):
        x = v["data"]
        sq = np.zeros_like(x)
        for c in range(x.shape[1]):
            sq[:, c] = (x[:, max(0, c - 1):c + 2] ** 2).sum(axis=1)
        return x * (k + alpha / nsize * sq) ** -beta
    sym = mx.sym.LRN(mx.sym.Variable("data"), nsize=nsize, alpha=alpha, beta=beta, knorm=k)
    assert sym.list_outputs() == [sym.name + "_output"]
    _unary(sym, (2, 5, 3, 2), ref, low=-3, high=3)


def test_upsampling_nearest():
    d = mx.sym.Variable("data")
    _unary(mx.sym.UpSampling(d, scale=2, sample_type="nearest"), (2, 3, 3, 2),
           lambda v: v["data"].repeat(2, axis=2).repeat(2, axis=3))
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    for mode in ("concat", "sum"):
        sym = mx.sym.UpSampling(a, b, scale=2, sample_type="nearest", multi_input_mode=mode)
        ex = bind(sym, {"a": (1, 2, 2, 2), "b": (1, 2, 4, 4)})
        vals = {"a": RNG.uniform(-1, 1, (1, 2, 2, 2)), "b": RNG.uniform(-1, 1, (1, 2, 4, 4))}
        fill(ex, vals)
        ex.forward(False)
        ua = vals["a"].repeat(2, axis=2).repeat(2, axis=3)   # the first input sets the size
        ub = vals["b"]
        want = np.concatenate([ua, ub], axis=1) if mode == "concat" else ua + ub
        np.testing.assert_allclose(ex.outputs[0], want)
        check_grad(ex, vals, ["a", "b"])


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("edge", "edge"),
                                          ("reflect", "reflect")])
def test_pad(mode, np_mode):
    width = (0, 0, 0, 0, 1, 2, 2, 1)
    sym = mx.sym.Pad(mx.sym.Variable("data"), mode=mode, pad_width=width, constant_value=0.5)
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    _unary(sym, (2, 2, 4, 3), lambda v: np.pad(v["data"], ((0, 0), (0, 0), (1, 2), (2, 1)),
                                               mode=np_mode, **kw))


def test_op_without_template_fails_at_bind_naming_it():
    from mxc.compiler.ops import base
    op = base.OpDef("NoKernelYet", shape=lambda p, ins: (ins, [ins[0]]), template=None)
    base.register(op)
    try:
        sym = mx.sym.NoKernelYet(mx.sym.Variable("data"), name="nk")
        with pytest.raises(MXNetError, match="NoKernelYet.*'nk'"):
            Executor(sym, {"data": (2, 3)})
    finally:
        del base.REGISTRY["NoKernelYet"], base.FUNCTIONS["NoKernelYet"]


def test_pooling_lp():
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2), stride=(1, 1), pool_type="lp",
                         p_value=2)
    x = RNG.uniform(0.5, 2, (1, 2, 3, 4))

    def ref(v):
        sq = v["data"] ** 2
        s = sq[:, :, :-1, :-1] + sq[:, :, 1:, :-1] + sq[:, :, :-1, 1:] + sq[:, :, 1:, 1:]
        return np.sqrt(s)
    _unary(sym, (1, 2, 3, 4), ref, extra={"data": x})
    with pytest.raises(MXNetError, match="p_value"):
        Executor(mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2), pool_type="lp",
                                p_value=5), {"data": (1, 1, 4, 4)})


def test_layer_chain_with_user_gradient_checker():
    d = mx.sym.Variable("data")
    net = mx.sym.Convolution(d, kernel=(3, 3), pad=(1, 1), num_filter=4, name="c")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn")
    net = mx.sym.LeakyReLU(net, act_type="elu", name="act")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="p")
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=3, name="fc")
    shapes = {"data": (2, 2, 4, 5), "c_weight": (4, 2, 3, 3), "c_bias": (4,), "bn_gamma": (4,),
              "bn_beta": (4,), "fc_weight": (3, 16), "fc_bias": (3,)}
    location = {k: RNG.uniform(-1, 1, s) for k, s in shapes.items()}
    aux = {"bn_moving_mean": np.zeros(4), "bn_moving_var": np.ones(4)}
    mx.test_utils.check_numeric_gradient(net, location, aux_states=aux, numeric_eps=1e-5,
                                         rtol=1e-4, atol=1e-6)


def test_dropout_masks_follow_mx_random_seed():
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.5)
    masks = []
    for seed in (3, 3, 4):
        mx.random.seed(seed)
        ex = bind(sym, {"data": (8, 16)})
        ex.arg_arrays["data"][...] = 1
        ex.forward(True)
        masks.append(ex.outputs[0].copy())
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


def test_deconvolution_target_shape_derives_pad_and_adj():
    # total padding s*(x-1) + d*(k-1) + 1 - target = 1: pad 1, adj 1; the adj parameter is
    # then ignored, and the derived adj must be smaller than the stride (MXNet's check)
    sym = mx.sym.Deconvolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=2,
                               stride=(2, 2), target_shape=(10, 10), adj=(101, 101),
                               no_bias=False, name="dc")
    ex = bind(sym, {"data": (1, 2, 5, 5)})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    fill(ex, vals)
    ex.forward(False)
    want = ref_deconv(vals["data"], vals["dc_weight"], vals["dc_bias"], (2, 2), (1, 1), (1, 1),
                      (1, 1), 1)
    assert want.shape == (1, 2, 10, 10)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    at_stride_1 = mx.sym.Deconvolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=2,
                                       target_shape=(6, 6))
    with pytest.raises(MXNetError, match="adj"):
        at_stride_1.infer_shape(data=(1, 2, 5, 5))


@pytest.mark.parametrize("scale", [2, 3])
def test_upsampling_bilinear_is_depthwise_deconvolution(scale):
    sym = mx.sym.UpSampling(mx.sym.Variable("data"), scale=scale, sample_type="bilinear",
                            num_filter=3, name="up")
    assert sym.list_arguments() == ["data", "up_weight"]
    k = 2 * scale - scale % 2
    ex = bind(sym, {"data": (2, 3, 4, 3)})
    assert ex.arg_arrays["up_weight"].shape == (3, 1, k, k)
    assert ex.outputs[0].shape == (2, 3, 4 * scale, 3 * scale)
    vals = {"data": RNG.uniform(-1, 1, (2, 3, 4, 3)), "up_weight": RNG.uniform(-1, 1, (3, 1, k, k))}
    fill(ex, vals)
    ex.forward(False)
    pad = (scale // 2, scale // 2)
    want = ref_deconv(vals["data"], vals["up_weight"], None, (scale, scale), pad, (1, 1), (0, 0), 3)
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    check_grad(ex, vals, ["data", "up_weight"])


# ---- 3-D (NCDHW) -----------------------------------------------------------------------------

def ref_conv3d(x, w, b, stride, pad, dilate):
    n, c, *sp = x.shape
    f, _, *k = w.shape
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out_sp = [(s + 2 * p - d * (kk - 1) - 1) // st + 1
              for s, p, d, kk, st in zip(sp, pad, dilate, k, stride)]
    out = np.zeros([n, f] + out_sp)
    for i in range(k[0]):
        for j in range(k[1]):
            for m in range(k[2]):
                sl = [slice(a * d, a * d + st * (o - 1) + 1, st) for a, d, st, o in
                      zip((i, j, m), dilate, stride, out_sp)]
                out += np.einsum("ncdhw,fc->nfdhw", xp[(slice(None), slice(None)) + tuple(sl)],
                                 w[:, :, i, j, m])
    return out + b[None, :, None, None, None]


def test_convolution_and_deconvolution_3d():
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(2, 3, 2), stride=(1, 2, 1),
                             pad=(1, 0, 1), dilate=(1, 1, 2), num_filter=3, name="c3")
    ex = bind(sym, {"data": (2, 2, 3, 5, 4)})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    fill(ex, vals)
    ex.forward(False)
    want = ref_conv3d(vals["data"], vals["c3_weight"], vals["c3_bias"], (1, 2, 1), (1, 0, 1),
                      (1, 1, 2))
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-10, atol=1e-10)
    check_grad(ex, vals, list(vals))
    # a deconvolution is the adjoint of the convolution with the same geometry
    dsym = mx.sym.Deconvolution(mx.sym.Variable("data"), kernel=(2, 3, 2), stride=(1, 2, 1),
                                pad=(1, 0, 1), dilate=(1, 1, 2), num_filter=2, name="d3")
    dex = bind(dsym, {"data": ex.outputs[0].shape})
    assert dex.outputs[0].shape == (2, 2, 3, 5, 4)
    y = RNG.uniform(-1, 1, ex.outputs[0].shape)
    fill(dex, {"data": y, "d3_weight": vals["c3_weight"]})
    dex.forward(False)
    fill(ex, dict(vals, c3_bias=np.zeros(3)))
    ex.forward(False)
    np.testing.assert_allclose(np.sum(ex.outputs[0] * y), np.sum(vals["data"] * dex.outputs[0]),
                               rtol=1e-10)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_3d(kind):
    sym = mx.sym.Pooling(mx.sym.Variable("data"), kernel=(2, 2, 3), stride=(2, 1, 2),
                         pad=(0, 1, 1), pool_type=kind)
    ex = bind(sym, {"data": (1, 2, 4, 3, 5)})
    x = RNG.permutation(120).reshape(1, 2, 4, 3, 5) / 10.0
    fill(ex, {"data": x})
    ex.forward(False)
    xp = np.pad(x, [(0, 0), (0, 0), (0, 0), (1, 1), (1, 1)],
                constant_values=-np.inf if kind == "max" else 0)
    out = np.zeros((1, 2, 2, 4, 3))
    for a in range(2):
        for b in range(4):
            for c in range(3):
                win = xp[:, :, 2 * a:2 * a + 2, b:b + 2, 2 * c:2 * c + 3]
                out[:, :, a, b, c] = win.max(axis=(2, 3, 4)) if kind == "max" else \
                    win.sum(axis=(2, 3, 4)) / 12
    np.testing.assert_allclose(ex.outputs[0], out, rtol=1e-12)
    check_grad(ex, {"data": x}, ["data"], eps=1e-5)


def test_prelu_with_one_shared_slope():
    d, g = mx.sym.Variable("data"), mx.sym.Variable("g", shape=(1,))
    sym = mx.sym.LeakyReLU(d, gamma=g, act_type="prelu")
    _unary(sym, (3, 4, 2), lambda v: np.where(v["data"] > 0, v["data"], v["g"][0] * v["data"]))


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 2, 2)])
def test_prelu_with_a_gamma_over_the_leading_dimensions(shape):
    # MXNet broadcasts a gamma of several dimensions with trailing 1s: (3, 4) over (3, 4, ...)
    d, g = mx.sym.Variable("data"), mx.sym.Variable("g", shape=(3, 4))
    sym = mx.sym.LeakyReLU(d, gamma=g, act_type="prelu")
    tail = (1,) * (len(shape) - 2)
    _unary(sym, shape, lambda v: np.where(v["data"] > 0, v["data"],
                                          v["g"].reshape((3, 4) + tail) * v["data"]))
    with pytest.raises(MXNetError, match="leading"):
        mx.sym.LeakyReLU(d, gamma=mx.sym.Variable("g", shape=(4, 3)),
                         act_type="prelu").infer_shape(data=shape)
