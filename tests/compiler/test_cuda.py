"""CUDA rendering and nvcc builds (compile-only; skipped with a reason where nvcc is missing)."""
import os
import subprocess

import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import build_cuda, cuda
from mxc.compiler.plan import make_plan

needs_nvcc = pytest.mark.skipif(build_cuda.nvcc_path() is None,
                                reason="nvcc is missing: CUDA compile tests skipped")


def _zoo():
    """One graph using every CUDA op template and their variants."""
    x = mx.sym.Variable("data")
    heads = []
    for act in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
        h = mx.sym.FullyConnected(x, num_hidden=6, name="fc_" + act)
        heads.append(mx.sym.Activation(h, act_type=act, name="act_" + act))
    h = mx.sym.FullyConnected(heads[0] + heads[1], num_hidden=5, no_bias=True, name="fc_nb")
    outs = [mx.sym.SoftmaxOutput(h, name="sm_plain"),
            mx.sym.SoftmaxOutput(h, name="sm_valid", normalization="valid", use_ignore=True),
            mx.sym.SoftmaxOutput(h, name="sm_batch", normalization="batch", smooth_alpha=0.1)]
    outs.extend(heads[2:])                   # plain outputs: backward reads head gradients
    return mx.sym.Group(outs)


def _layers():
    x = mx.sym.Variable("data")
    net = mx.sym.Convolution(x, kernel=(3, 3), num_filter=3, pad=(1, 1), name="conv")
    net = mx.sym.BatchNorm(net, name="bn")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="avg")
    net = mx.sym.Dropout(net, p=0.2)
    net = mx.sym.Flatten(net)
    net = mx.sym.FullyConnected(net, num_hidden=4, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _plan(sym, shapes, labels=()):
    return make_plan(sym, shapes, ["data"], list(labels))


def test_every_cuda_op_template_is_used_by_the_zoo():
    env_ops = {os.path.basename(p)[:-len(".cu.j2")]
               for p in os.listdir(os.path.join(os.path.dirname(cuda.__file__), "..",
                                                "templates", "cuda", "ops"))}
    plan = _plan(_zoo(), {"data": (7, 4)})
    used = {os.path.basename(cuda.cuda_template(v.node.op))[:-len(".cu.j2")]
            for v in plan.nodes}
    assert env_ops <= used, env_ops - used


def test_render_is_deterministic_and_names_kernels():
    plan = _plan(_zoo(), {"data": (7, 4)})
    a, cdef = cuda.render(plan)
    b, _ = cuda.render(plan)
    assert a == b
    for v in plan.nodes:
        assert "%s_forward(" % v.name in a
    assert "mxc_train_epoch" in cdef and "mxc_upload" in cdef
    for kind in ("sgd", "sgd_mom"):
        assert "update_%s_k" % kind in a


def test_unsupported_op_is_named(monkeypatch):
    plan = _plan(_layers(), {"data": (2, 1, 4, 4)}, ["softmax_label"])
    conv = [v for v in plan.nodes if v.op == "Convolution"][0]
    monkeypatch.setattr(conv.node.op, "template", "ops/not_there.c.j2")
    with pytest.raises(MXNetError, match="Convolution.*'conv'"):
        cuda.render(plan)


def test_arch_resolution_and_flags(monkeypatch):
    assert build_cuda.resolve_arch("sm_90") == ("90",)
    assert build_cuda.resolve_arch("80, 90a") == ("80", "90a")
    monkeypatch.setenv("MXC_CUDA_ARCH", "86")
    assert build_cuda.resolve_arch() == ("86",)
    flags = build_cuda.arch_flags(("80", "90"))
    assert "-gencode=arch=compute_90,code=sm_90" in flags
    assert flags[-1] == "-gencode=arch=compute_90,code=compute_90"
    with pytest.raises(MXNetError, match="compute capability"):
        build_cuda.resolve_arch("ampere")


@needs_nvcc
def test_cache_key_depends_on_arch():
    nvcc = build_cuda.nvcc_path()
    k1 = build_cuda.cache_key("src", "cdef", nvcc, ["-O3"], ("80",))
    k2 = build_cuda.cache_key("src", "cdef", nvcc, ["-O3"], ("90",))
    assert k1 != k2


@needs_nvcc
@pytest.mark.parametrize("which", ["zoo", "layers"])
def test_templates_compile_with_nvcc(which, tmp_path):
    if which == "zoo":
        plan = _plan(_zoo(), {"data": (7, 4)})
        metric_io = None
    else:
        plan = _plan(_layers(), {"data": (2, 1, 4, 4)}, ["softmax_label"])
        metric_io = (plan.outputs[0], plan.arg("softmax_label"))
    src, cdef = cuda.render(plan, metric_io=metric_io)
    built = build_cuda.build(src, cdef, arch="80", root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
    assert built.lib.mxc_last_error is not None
    again = build_cuda.build(src, cdef, arch="80", root=str(tmp_path))
    assert again.key == built.key and not again.compiled


@needs_nvcc
def test_compile_error_is_reported(tmp_path):
    with pytest.raises(MXNetError, match="CUDA compilation of bad failed"):
        build_cuda.build("this is not CUDA", "int f(void);", name="bad", arch="80",
                         root=str(tmp_path))


def test_export_cuda_writes_source_header_makefile(tmp_path):
    x = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=3, name="fc"),
                               name="softmax")
    paths = cuda.export_cuda(net, str(tmp_path), name="tiny",
                             input_shapes={"data": (2, 5), "softmax_label": (2,)}, arch="80")
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["Makefile", "tiny.cu", "tiny.h"]
    text = (tmp_path / "Makefile").read_text()
    assert "nvcc" in text and "libtiny.so" in text and "sm_80" in text
    assert "tiny_train_epoch" in (tmp_path / "tiny.h").read_text()
    if build_cuda.nvcc_path() is None or subprocess.run(["make", "--version"],
                                                       capture_output=True).returncode:
        pytest.skip("nvcc or make is missing: the exported Makefile is not built")
    env = dict(os.environ, NVCC=build_cuda.nvcc_path())
    out = subprocess.run(["make", "-C", str(tmp_path)], capture_output=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "libtiny.so").is_file()


def test_bind_on_gpu_without_nvcc_or_gpu_is_clear(monkeypatch):
    from mxc import context
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3),
                               name="softmax")
    monkeypatch.setattr(build_cuda, "nvcc_path", lambda: None)
    mod = mx.mod.Module(net, context=mx.gpu())
    with pytest.raises(MXNetError, match="nvcc is missing"):
        mod.bind([("data", (2, 4))], [("softmax_label", (2,))])
    monkeypatch.setattr(build_cuda, "nvcc_path", lambda: "/usr/bin/nvcc")
    monkeypatch.setattr(context, "num_gpus", lambda: 0)
    mod = mx.mod.Module(net, context=mx.gpu())
    with pytest.raises(MXNetError, match="no GPU is visible"):
        mod.bind([("data", (2, 4))], [("softmax_label", (2,))])
