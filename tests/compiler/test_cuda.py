"""CUDA rendering and nvcc builds (compile-only; skipped with a reason where nvcc is missing)."""
import os
import re
import subprocess

import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import build, build_cuda, cuda
from mxc.compiler.target import CudaTarget, Rendered
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


def _tensor_zoo():
    """Element-wise unary/scalar/binary (equal and broadcast shapes), Concat, Reshape."""
    x = mx.sym.Variable("data")
    a = mx.sym.Reshape(x, shape=(0, 2, -1), name="reshape")           # (4, 2, 3)
    parts = [mx.sym.exp(a), mx.sym.sqrt(mx.sym.abs(a) + 1), mx.sym.clip(a, a_min=-0.5, a_max=0.5),
             mx.sym.relu(a) * 2.0, 1.0 - mx.sym.square(a), mx.sym.sigmoid(a) / 3.0,
             mx.sym.log(mx.sym.abs(a) + 1) ** 2.0, 2.0 ** mx.sym.tanh(a),
             mx.sym.broadcast_mul(a, mx.sym.sum(a, axis=2, keepdims=True)),
             mx.sym.elemwise_add(a, a) - mx.sym.negative(a),
             mx.sym.broadcast_sub(a, mx.sym.max(a, axis=(0, 2), keepdims=True)),
             mx.sym.broadcast_add(a, mx.sym.min(a, axis=1, exclude=True, keepdims=True)),
             mx.sym.broadcast_div(a, mx.sym.mean(a, keepdims=True) + 3)]
    b = mx.sym.Concat(*parts, dim=1, name="concat")                   # (4, 26, 3)
    b = mx.sym.broadcast_maximum(b, mx.sym.expand_dims(mx.sym.sum(b, axis=1), axis=1))
    return mx.sym.Flatten(b, name="flat")


def _layer_zoo():
    """Convolution (groups, stride, dilation, 1x1, 1-D, 3-D), every Pooling type, BatchNorm
    variants and Dropout with shared axes; LeakyReLU stays a one-thread C kernel."""
    x = mx.sym.Variable("data")                                        # (2, 4, 7, 7)
    c1 = mx.sym.Convolution(x, kernel=(3, 3), num_filter=6, stride=(2, 2), pad=(1, 1),
                            dilate=(1, 1), num_group=2, name="conv_g")
    c2 = mx.sym.Convolution(x, kernel=(1, 1), num_filter=6, no_bias=True, name="conv_1x1")
    c2 = mx.sym.Convolution(c2, kernel=(3, 3), num_filter=6, dilate=(2, 2), pad=(2, 2),
                            stride=(2, 2), name="conv_dil")
    h = mx.sym.BatchNorm(c1 + c2, fix_gamma=False, name="bn")
    h = mx.sym.BatchNorm(h, use_global_stats=True, name="bn_global")
    h = mx.sym.LRN(h, nsize=3, name="lrn")          # no CUDA template: one device thread
    pools = [mx.sym.Flatten(mx.sym.Pooling(h, kernel=(2, 2), pool_type=t, pad=(1, 1),
                                           pooling_convention=conv, name="pool_" + t))
             for t, conv in (("max", "valid"), ("avg", "full"), ("sum", "valid"))]
    pools.append(mx.sym.Flatten(mx.sym.Pooling(h, kernel=(2, 2), pool_type="lp", p_value=2,
                                               name="pool_lp")))
    pools.append(mx.sym.Flatten(mx.sym.Pooling(h, global_pool=True, pool_type="avg",
                                               kernel=(1, 1), name="pool_global")))
    one_d = mx.sym.Reshape(x, shape=(2, 4, 49))
    one_d = mx.sym.Convolution(one_d, kernel=(5,), num_filter=2, name="conv_1d")
    pools.append(mx.sym.Flatten(mx.sym.Pooling(one_d, kernel=(3,), stride=(2,),
                                               pool_type="max", name="pool_1d")))
    three_d = mx.sym.Reshape(x, shape=(2, 1, 4, 7, 7))
    three_d = mx.sym.Convolution(three_d, kernel=(2, 3, 3), num_filter=2, name="conv_3d")
    pools.append(mx.sym.Flatten(mx.sym.Pooling(three_d, kernel=(1, 2, 2), stride=(1, 2, 2),
                                               pool_type="avg", name="pool_3d")))
    h = mx.sym.Concat(*pools, dim=1, name="cat")
    h = mx.sym.Dropout(mx.sym.Reshape(h, shape=(2, 1, -1)), p=0.3, axes=(1,), name="drop_axes")
    h = mx.sym.Dropout(mx.sym.Flatten(h), p=0.2, name="drop")
    net = mx.sym.FullyConnected(h, num_hidden=4, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _misc_zoo():
    """LeakyReLU (every act_type), softmax / log_softmax / SoftmaxActivation, Embedding,
    BlockGrad and the regression heads."""
    x = mx.sym.Variable("data")                                        # (4, 6)
    idx = mx.sym.Variable("idx")                                       # (4, 3) indices
    emb = mx.sym.Flatten(mx.sym.Embedding(idx, input_dim=10, output_dim=2, name="emb"))
    h = mx.sym.Concat(x, emb, dim=1)                                   # (4, 12)
    acts = [mx.sym.LeakyReLU(h, act_type=t, slope=0.2, name="lr_" + t)
            for t in ("leaky", "elu", "selu", "gelu", "rrelu")]
    acts.append(mx.sym.LeakyReLU(mx.sym.Reshape(h, shape=(4, 3, 4)), act_type="prelu",
                                 name="lr_prelu"))
    h = sum(mx.sym.Flatten(a[0]) for a in acts)                       # rrelu shows its mask
    h = mx.sym.softmax(mx.sym.Reshape(h, shape=(4, 3, 4)), axis=1, temperature=2.0) + \
        mx.sym.log_softmax(mx.sym.Reshape(h, shape=(4, 3, 4)), axis=-1) + \
        mx.sym.SoftmaxActivation(mx.sym.Reshape(h, shape=(4, 3, 4)), mode="channel") + \
        mx.sym.softmax(mx.sym.Reshape(h, shape=(4, 3, 4)), idx, axis=-1, use_length=True)
    h = mx.sym.Flatten(h) + mx.sym.BlockGrad(mx.sym.Flatten(h))        # (4, 12)
    m = mx.sym.Reshape(h, shape=(4, 3, 4))
    parts = mx.sym.SliceChannel(m, num_outputs=3, axis=1, name="split")
    mats = [mx.sym.batch_dot(m, mx.sym.transpose(m, axes=(0, 2, 1)), name="bdot"),
            mx.sym.batch_dot(m, m, transpose_a=True, name="bdot_t"),
            mx.sym.dot(mx.sym.Flatten(parts[0]), mx.sym.Flatten(parts[2]), transpose_b=True,
                       name="dot_t"),
            mx.sym.slice_axis(m, axis=2, begin=1, end=3, name="slice")]
    h = mx.sym.Concat(*[mx.sym.Flatten(t) for t in mats], dim=1)       # (4, 35)
    heads = [mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(h, num_hidden=2, name="f1"),
                                           name="lin"),
             mx.sym.LogisticRegressionOutput(mx.sym.FullyConnected(h, num_hidden=2, name="f2"),
                                             name="logi"),
             mx.sym.MAERegressionOutput(mx.sym.FullyConnected(h, num_hidden=2, name="f3"),
                                        name="mae")]
    img = mx.sym.Reshape(h, shape=(4, 1, 5, 7))
    for mode in ("constant", "edge", "reflect"):
        heads.append(mx.sym.MakeLoss(mx.sym.Pad(img, mode=mode, constant_value=0.5,
                                                pad_width=(0, 0, 0, 0, 1, 2, 2, 1)),
                                     normalization="valid", name="loss_" + mode))
    heads.append(mx.sym.SVMOutput(mx.sym.FullyConnected(h, num_hidden=3, name="f4"),
                                  name="svm"))
    heads.append(mx.sym.one_hot(idx, depth=5, name="onehot"))
    return mx.sym.Group(heads)


def _rnn_zoo():
    """The fused RNN: a bidirectional lstm with dropout under a gru with state outputs."""
    x = mx.sym.RNN(mx.sym.Variable("data"), state_size=3, num_layers=2, mode="lstm",
                   bidirectional=True, p=0.2, name="lstm")
    return mx.sym.RNN(x, state_size=2, num_layers=1, mode="gru", state_outputs=True, name="gru")


def _constant_zoo():
    """Constants (one with an unknown dimension filled from its consumer) and identities."""
    x = mx.sym.Variable("data")                                        # (2, 3)
    h = mx.sym.identity(x) * mx.sym.full((2, 3), 0.5) + mx.sym.zeros((0, 3))
    return mx.sym._internal._identity_with_attr_like_rhs(h, x) + mx.sym.ones((2, 3))


def _indexing_zoo():
    """The gather family, indexing, ordering, normalisation, reductions and sampling."""
    x = mx.sym.Variable("data")                                        # (4, 6)
    idx = mx.sym.Variable("idx")                                       # (4,) row indices
    h = mx.sym.add_n(x, mx.sym.SwapAxis(mx.sym.SwapAxis(x, 0, 1), 0, 1), x * 0.5)
    h = mx.sym.LayerNorm(h, mx.sym.Variable("g"), mx.sym.Variable("b"), name="ln")
    h = mx.sym.where(h > 0, h, mx.sym.softmin(h, axis=1))
    h = h + mx.sym._random_uniform(shape=(4, 6), low=-0.1, high=0.1)
    parts = mx.sym.split_v2(h, 2, axis=1)                              # 2 x (4, 3)
    st = mx.sym.stack(parts[0], parts[1], axis=0)                      # (2, 4, 3)
    seq = mx.sym.SequenceMask(st, value=0.0)
    heads = [mx.sym.MakeLoss(mx.sym.sum(seq * seq), name="l_seq"),
             mx.sym.MakeLoss(mx.sym.sum(mx.sym.take(h, idx)), name="l_take"),
             mx.sym.MakeLoss(mx.sym.sum(mx.sym.pick(h, idx, axis=1)), name="l_pick"),
             mx.sym.MakeLoss(mx.sym.norm(h, axis=1) + mx.sym.prod(h, axis=1), name="l_red"),
             mx.sym.MakeLoss(mx.sym.sum(mx.sym.topk(h, k=2, ret_typ="value")), name="l_topk"),
             mx.sym.gather_nd(h, mx.sym.reshape(idx, shape=(1, 4))),
             mx.sym.scatter_nd(mx.sym.reshape(idx, shape=(4,)), mx.sym.reshape(idx, shape=(1, 4)),
                               shape=(4,)),
             mx.sym.shape_array(h)]
    return mx.sym.Group(heads)


def _sampling_zoo():
    """Correlation (gradient into its second input), shuffle, multinomial with get_prob
    (whose gradient reaches the Correlation through a softmax)."""
    x = mx.sym.Variable("data")                                        # (2, 3, 5, 5)
    w = mx.sym.Variable("w")                                           # inferred: data's shape
    c = mx.sym.Correlation(x, w, kernel_size=3, max_displacement=1, pad_size=1, name="corr")
    probs = mx.sym.softmax(mx.sym.Flatten(c), axis=1)
    draws = mx.sym.random.multinomial(probs, shape=(2,), get_prob=True, name="mn")
    return mx.sym.Group([draws[1], mx.sym.random.shuffle(x, name="sh")])


GRAPHS = {
    "constant": (_constant_zoo, {"data": (2, 3)}, ()),
    "sampling": (_sampling_zoo, {"data": (2, 3, 5, 5)}, ()),
    "misc": (_misc_zoo, {"data": (4, 6), "idx": (4, 3)}, ("lin_label", "logi_label",
                                                           "mae_label", "svm_label")),
    "zoo": (_zoo, {"data": (7, 4)}, ()),
    "layers": (_layers, {"data": (2, 1, 4, 4)}, ("softmax_label",)),
    "tensor": (_tensor_zoo, {"data": (4, 6)}, ()),
    "layer_zoo": (_layer_zoo, {"data": (2, 4, 7, 7)}, ("softmax_label",)),
    "rnn": (_rnn_zoo, {"data": (3, 2, 4)}, ()),
    "indexing": (_indexing_zoo, {"data": (4, 6), "idx": (4,), "g": (6,), "b": (6,)}, ()),
}


def _plan(sym, shapes, labels=()):
    return make_plan(sym, shapes, [k for k in shapes if k not in labels], list(labels))


def test_every_cuda_op_template_is_used_by_the_zoo():
    from importlib import resources
    folder = resources.files("mxc.compiler.templates") / "cuda" / "ops"
    env_ops = {p.name[:-len(".cu.j2")] for p in folder.iterdir() if p.name.endswith(".cu.j2")}
    used = set()
    for make, shapes, labels in GRAPHS.values():
        plan = _plan(make(), shapes, labels)
        used |= {os.path.basename(cuda.cuda_template(v.node.op))[:-len(".cu.j2")]
                 for v in plan.nodes}
    assert env_ops <= used, env_ops - used


def test_render_is_deterministic_and_names_kernels():
    plan = _plan(_zoo(), {"data": (7, 4)})
    a, cdef = cuda.render(plan)
    b, _ = cuda.render(plan)
    assert a == b
    # a node launches its own launcher, or one it shares with a node of identical code
    shared = {label for text in re.findall(r"/\* launched for: (.*?) \*/", a)
              for label in text.split(", ")}
    for v in plan.nodes:
        if getattr(v, "fused_into", None) is None:
            assert "%s(" % getattr(v, "forward_name", v.name + "_forward") in a \
                or v.label in shared
        if v.needs_backward:
            assert "%s_backward(" % v.name in a or v.label in shared
    assert "mxc_train_epoch" in cdef and "mxc_upload" in cdef and "mxc_infer_batches" in cdef
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


def test_cache_key_depends_on_arch():
    rendered = Rendered("src", "", "cdef")
    k1 = build.cache_key(CudaTarget(arch="80", flags=["-O3"]), rendered)
    k2 = build.cache_key(CudaTarget(arch="90", flags=["-O3"]), rendered)
    assert k1 != k2


@needs_nvcc
@pytest.mark.parametrize("which", sorted(GRAPHS))
def test_templates_compile_with_nvcc(which, tmp_path):
    make, shapes, labels = GRAPHS[which]
    plan = _plan(make(), shapes, labels)
    metric_io = (plan.outputs[0], plan.arg(labels[0])) if labels else None
    src, cdef = cuda.render(plan, metric_io=metric_io)
    built = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert built.compiled and os.path.isfile(os.path.join(built.path, "libmxc.so"))
    assert built.lib.mxc_last_error is not None and built.lib.mxc_infer_batches is not None
    again = CudaTarget(arch="80").build(Rendered(src, "", cdef), root=str(tmp_path))
    assert again.key == built.key and not again.compiled


@needs_nvcc
def test_compile_error_is_reported(tmp_path):
    with pytest.raises(MXNetError, match="CUDA compilation of bad failed"):
        CudaTarget(arch="80").build(Rendered("this is not CUDA", "", "int f(void);"),
                                    name="bad", root=str(tmp_path))


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


def _nvcc_compiles(folder, name):
    """Build an exported folder with its Makefile where nvcc and make exist (else skip)."""
    if build_cuda.nvcc_path() is None or subprocess.run(["make", "--version"],
                                                       capture_output=True).returncode:
        pytest.skip("nvcc or make is missing: the exported Makefile is not built")
    env = dict(os.environ, NVCC=build_cuda.nvcc_path())
    out = subprocess.run(["make", "-C", str(folder), "ARCH=-arch=sm_80"], capture_output=True,
                         env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (folder / ("lib%s.so" % name)).is_file()


def test_cli_build_target_cuda(shared_dir, tmp_path, monkeypatch, capsys):
    from mxc.compiler import cli
    monkeypatch.setattr(build_cuda, "nvcc_path", lambda: None)      # writing needs no nvcc
    sym = str(shared_dir / "mxnet" / "mx_mlp-symbol.json")
    params = str(shared_dir / "mxnet" / "mx_mlp-0003.params")
    out = tmp_path / "gen"
    assert cli.main(["build", sym, "--params", params, "--shape", "data=4,16", "--out",
                     str(out), "--name", "letters", "--target", "cuda", "--arch", "80"]) == 0
    assert "letters.cu" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["Makefile", "letters.cu", "letters.h"]
    src = (out / "letters.cu").read_text()
    assert "letters_forward" in src and "__global__" in src
    head = (out / "letters.h").read_text()
    assert "LETTERS_ARENA_SIZE" in head and "LETTERS_OFF_DATA" in head
    assert "sm_80" in (out / "Makefile").read_text()
    assert cli.main(["build", sym, "--params", params, "--shape", "data=4,16", "--out",
                     str(out), "--target", "cuda", "--embed"]) == 1
    assert "--embed" in capsys.readouterr().err
    assert cli.main(["build", sym, "--params", str(tmp_path / "none.params"), "--shape",
                     "data=4,16", "--out", str(out), "--target", "cuda"]) == 1
    assert "none.params" in capsys.readouterr().err
    monkeypatch.undo()
    _nvcc_compiles(out, "letters")


def test_module_export_target_cuda(tmp_path, monkeypatch):
    x = mx.sym.Variable("data")
    net = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=8, name="fc1"), act_type="relu")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=3, name="fc2"),
                               name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([("data", (5, 4))], [("softmax_label", (5,))])
    mod.init_params()
    monkeypatch.setattr(build_cuda, "nvcc_path", lambda: None)
    paths = mod.export(str(tmp_path / "inf"), name="mlp", target="cuda")
    assert sorted(os.path.basename(p) for p in paths) == ["Makefile", "mlp.cu", "mlp.h"]
    inf = (tmp_path / "inf" / "mlp.cu").read_text()
    assert "fc1_backward" not in inf                  # inference: no gradient kernels
    mod.export(str(tmp_path / "tr"), name="mlp", kind="trainer", target="cuda")
    assert "fc1_backward" in (tmp_path / "tr" / "mlp.cu").read_text()
    with pytest.raises(MXNetError, match="target"):
        mod.export(str(tmp_path / "x"), target="opencl")
    monkeypatch.undo()
    _nvcc_compiles(tmp_path / "tr", "mlp")


def test_fused_fully_connected_relu_renders_one_launch():
    x = mx.sym.Variable("data")
    net = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=8, name="fc1"),
                            act_type="relu", name="r1")
    net = mx.sym.Activation(mx.sym.FullyConnected(net, num_hidden=8, no_bias=True, name="fc2"),
                            act_type="relu", name="r2")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, num_hidden=3, name="fc3"),
                               name="softmax")
    plan = _plan(net, {"data": (5, 4)}, ["softmax_label"])
    src, _ = cuda.render(plan)
    fused = [v for v in plan.nodes if getattr(v, "fused_act", None) is not None]
    assert len(fused) == 2, "fc1+r1 and fc2+r2 each have one consumer: both must fuse"
    shared = {label for text in re.findall(r"/\* launched for: (.*?) \*/", src)
              for label in text.split(", ")}
    for v in fused:
        assert "%s(" % v.forward_name in src
        # the relu runs in the product's epilogue; its gradient kernel stays (r2's is r1's)
        assert "static int %s_forward(" % v.fused_act.name not in src
        assert "static int %s_backward(" % v.fused_act.name in src or \
            v.fused_act.label in shared
    assert "fc2_relu_k" in src and "(the fused Activation)" in src


@needs_nvcc
def test_fingerprint_hit_loads_the_device_library_without_rendering(tmp_path, monkeypatch):
    """The cdef a CUDA library is opened with is kept in its cache entry: a bind seen before
    finds the library by fingerprint and opens it with no render and no compiler."""
    from mxc.compiler import target
    plan = _plan(_layers(), {"data": (2, 1, 4, 4)}, ["softmax_label"])
    first = CudaTarget(arch="80")
    fp = first.fingerprint("a graph", "its shapes")
    built = first.build(first.render(plan), root=str(tmp_path))
    first.remember(fp, built, root=str(tmp_path))
    meta = (tmp_path / "cuda" / built.key[:2] / built.key / "meta.json").read_text()
    assert "mxc_train_epoch" in meta                          # the cdef
    monkeypatch.setattr(build, "_LOADED", {})                 # as a new process
    monkeypatch.setattr(build, "_SEEN", {})

    def no_render(*args, **kw):
        raise AssertionError("rendered on a fingerprint hit")

    monkeypatch.setattr(target.CudaTarget, "render", no_render)
    monkeypatch.setattr(target.CudaTarget, "compile", no_render)
    again = CudaTarget(arch="80").lookup(fp, root=str(tmp_path))
    assert again is not None and again.key == built.key and not again.compiled
    assert again.ffi.typeof(again.lib.mxc_train_epoch).kind == "function"
    other = CudaTarget(arch="90")                             # another arch: another library
    assert other.lookup(other.fingerprint("a graph", "its shapes"), root=str(tmp_path)) is None
