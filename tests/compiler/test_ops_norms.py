"""LayerNorm, InstanceNorm and GroupNorm: forward (and the mean / std / var outputs) against
NumPy written here from each layer's definition, gradients of data, gamma and beta against
float64 central differences, MXNet's shapes, names and errors, and the CUDA kernels built
with nvcc."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc import test_utils as tu
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CudaTarget, Rendered

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def layer_norm(x, gamma, beta, axis, eps):
    mean = x.mean(axis=axis, keepdims=True)
    std = np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mean) / std * gamma.reshape(shape) + beta.reshape(shape), mean, std


def instance_norm(x, gamma, beta, eps):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return out, mean.reshape(x.shape[:2]), var.reshape(x.shape[:2])


def group_norm(x, gamma, beta, groups, eps):
    n = x.shape[0]
    v = x.reshape(n, groups, -1)
    mean = v.mean(axis=2, keepdims=True)
    std = np.sqrt(v.var(axis=2, keepdims=True) + eps)
    out = (v - mean) / std * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)
    return out.reshape(x.shape), mean.reshape(n, groups), std.reshape(n, groups)


def _loc(shape, channels, seed):
    rng = np.random.RandomState(seed)
    return {"data": rng.normal(size=shape) * 2 + 0.5, "gamma": rng.uniform(0.5, 1.5, channels),
            "beta": rng.normal(size=channels)}


_GB = (mx.sym.Variable("gamma"), mx.sym.Variable("beta"))

CASES = [
    # (symbol, data shape, gamma length, NumPy forward of (data, gamma, beta))
    (lambda d: mx.sym.LayerNorm(d, *_GB, name="ln"), (3, 5), 5,
     lambda x, g, b: layer_norm(x, g, b, -1, 1e-5)),
    (lambda d: mx.sym.LayerNorm(d, *_GB, axis=1, eps=1e-3, output_mean_var=True, name="ln"),
     (2, 3, 4), 3, lambda x, g, b: layer_norm(x, g, b, 1, 1e-3)),
    (lambda d: mx.sym.LayerNorm(d, *_GB, axis=0, output_mean_var=True, name="ln"), (4, 2, 3), 4,
     lambda x, g, b: layer_norm(x, g, b, 0, 1e-5)),
    (lambda d: mx.sym.InstanceNorm(d, *_GB, name="inorm"), (2, 3, 2, 3), 3,
     lambda x, g, b: instance_norm(x, g, b, 1e-3)),
    (lambda d: mx.sym.GroupNorm(d, *_GB, num_groups=2, output_mean_var=True, name="gn"),
     (2, 4, 3), 2, lambda x, g, b: group_norm(x, g, b, 2, 1e-5)),
    (lambda d: mx.sym.GroupNorm(d, *_GB, name="gn"), (2, 3, 2, 2), 1,
     lambda x, g, b: group_norm(x, g, b, 1, 1e-5)),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_forward_matches_numpy(case):
    make, shape, channels, numpy_fn = CASES[case]
    sym = make(mx.sym.Variable("data"))
    loc = _loc(shape, channels, case)
    want = list(numpy_fn(loc["data"], loc["gamma"], loc["beta"]))
    n_out = len(sym.list_outputs())
    want = [want[0]] + [w.reshape(s) for w, s in
                        zip(want[1:n_out], sym.infer_shape(data=shape)[1][1:])]
    tu.check_symbolic_forward(sym, loc, want, rtol=1e-10, atol=1e-12, dtype=np.float64)
    tu.check_symbolic_forward(sym, loc, want, rtol=1e-4, atol=1e-5, dtype=np.float32)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradients_of_data_gamma_beta_match_central_differences(case):
    make, shape, channels, _ = CASES[case]
    sym = make(mx.sym.Variable("data"))
    if len(sym.list_outputs()) > 1:
        sym = sym[0]
    tu.check_numeric_gradient(sym, _loc(shape, channels, 10 + case), numeric_eps=1e-5,
                              rtol=1e-5, atol=1e-7)


def test_names_shapes_and_visible_outputs_as_mxnet():
    d = mx.sym.Variable("data")
    ln = mx.sym.LayerNorm(d, name="ln")
    assert ln.list_arguments() == ["data", "ln_gamma", "ln_beta"]
    assert ln.list_outputs() == ["ln_output"]
    both = mx.sym.LayerNorm(d, axis=1, output_mean_var=True, name="ln")
    assert both.list_outputs() == ["ln_output", "ln_mean", "ln_std"]
    args, outs, _ = both.infer_shape(data=(2, 3, 4))
    assert args == [(2, 3, 4), (3,), (3,)] and outs == [(2, 3, 4), (2, 1, 4), (2, 1, 4)]
    args, outs, _ = mx.sym.InstanceNorm(d).infer_shape(data=(2, 3, 5))
    assert args == [(2, 3, 5), (3,), (3,)] and outs == [(2, 3, 5)]
    args, outs, _ = mx.sym.GroupNorm(d, num_groups=3, output_mean_var=True).infer_shape(
        data=(2, 6, 5))
    assert args == [(2, 6, 5), (3,), (3,)] and outs == [(2, 6, 5), (2, 3), (2, 3)]


def test_bad_shapes_and_parameters_are_refused():
    d = mx.sym.Variable("data")
    with pytest.raises(MXNetError, match="num_groups"):
        mx.sym.GroupNorm(d, num_groups=4, name="gn").infer_shape(data=(2, 6, 5))
    with pytest.raises(MXNetError, match="3 or more"):
        mx.sym.InstanceNorm(d).infer_shape(data=(2, 6))
    with pytest.raises(MXNetError, match="axis"):
        mx.sym.LayerNorm(d, axis=2).infer_shape(data=(2, 6))
    with pytest.raises(MXNetError, match="gamma"):
        mx.sym.LayerNorm(d, name="ln").infer_shape(data=(2, 6), ln_gamma=(5,))
    with pytest.raises(MXNetError, match="num_groups"):
        mx.sym.GroupNorm(d, num_groups=0)


def test_float32_gamma_and_beta_sums_stay_accurate_over_long_columns():
    """gamma / beta gradients sum over every row: accumulated in double, a float32 build stays
    within a few 1e-6 of float64 NumPy over 4096 rows (float sums drift to ~1e-4)."""
    rng = np.random.RandomState(21)
    shape = (4096, 16)
    loc = {"data": rng.normal(size=shape).astype(np.float32),
           "gamma": rng.normal(size=16).astype(np.float32),
           "beta": rng.normal(size=16).astype(np.float32)}
    head = rng.normal(size=shape).astype(np.float32)
    x = loc["data"].astype(np.float64)
    xhat = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    sym = mx.sym.LayerNorm(mx.sym.Variable("data"), *_GB)
    exe = sym.simple_bind(mx.cpu(), data=shape)
    for k, v in loc.items():
        exe.arg_dict[k][:] = v
    exe.forward(is_train=True)
    exe.backward(mx.nd.array(head))
    got_g, got_b = exe.grad_dict["gamma"].asnumpy(), exe.grad_dict["beta"].asnumpy()
    assert np.abs(got_g - (xhat * head).sum(0)).max() < 5e-5
    assert np.abs(got_b - head.astype(np.float64).sum(0)).max() < 5e-5


def test_imperative_layer_norm():
    x = np.random.RandomState(3).normal(size=(2, 5))
    g, b = np.full(5, 2.0), np.full(5, 0.5)
    out = mx.nd.LayerNorm(mx.nd.array(x), mx.nd.array(g), mx.nd.array(b)).asnumpy()
    assert np.allclose(out, layer_norm(x, g, b, -1, 1e-5)[0], rtol=1e-5, atol=1e-5)


def test_module_trains_a_layer_norm_network():
    """A Module binds, initialises gamma to 1 and beta to 0 by name, and takes SGD steps."""
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    net = mx.sym.LayerNorm(net, name="ln")
    net = mx.sym.LinearRegressionOutput(mx.sym.sum(net, axis=1), name="out")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["out_label"])
    mod.bind(data_shapes=[("data", (3, 5))], label_shapes=[("out_label", (3,))])
    mod.init_params(mx.init.Uniform(0.5))
    args, _ = mod.get_params()
    assert np.all(args["ln_gamma"].asnumpy() == 1) and np.all(args["ln_beta"].asnumpy() == 0)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    batch = mx.io.DataBatch([mx.nd.array(np.random.RandomState(4).normal(size=(3, 5)))],
                            [mx.nd.array([1.0, 2.0, 3.0])])
    mod.forward_backward(batch)
    mod.update()
    assert not np.all(mod.get_params()[0]["ln_beta"].asnumpy() == 0)


@needs_nvcc
def test_cuda_kernels_compile_with_nvcc(tmp_path):
    d = mx.sym.Variable("data")
    syms = [mx.sym.LayerNorm(d, axis=1, name="ln"), mx.sym.LayerNorm(d, name="ln_last"),
            mx.sym.InstanceNorm(d, name="inorm"), mx.sym.GroupNorm(d, num_groups=2, name="gn")]
    plan = make_plan(mx.sym.Group(syms), {"data": (2, 4, 3)}, ["data"], [],
                     grad_req={"data": "write"})
    src, cdef = cuda.render(plan)
    for name in ("ln", "ln_last", "inorm", "gn"):
        assert "%s_fwd_k" % name in src and "%s_bwd_k" % name in src, name
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
