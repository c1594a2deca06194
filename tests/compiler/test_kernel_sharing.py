"""Kernel sharing and the split build: nodes with one signature call one kernel, convolutions
call the shared kernels (compiled once per toolchain into their own cache entry), the operator
kernels split into translation units that compile side by side, and none of it changes what a
graph computes (against NumPy, central differences and the one-translation-unit build)."""
import os
import re

import numpy as np
import pytest

import mxc as mx
from mxc import sym as S
from mxc.compiler import codegen
from mxc.compiler.errors import MXNetError
from mxc.compiler.plan import make_plan
from mxc.compiler.target import CTarget, Rendered
from mxc.executor import Executor

RNG = np.random.RandomState(5)


def unit(data, filters, name, stride=(1, 1), project=False):
    """A pre-activation residual unit (bn, relu, conv3x3) x 2 plus the input or a projection."""
    pre = S.Activation(S.BatchNorm(data, fix_gamma=False, name=name + "_bn1"),
                       act_type="relu", name=name + "_relu1")
    body = S.Convolution(pre, num_filter=filters, kernel=(3, 3), stride=stride, pad=(1, 1),
                         no_bias=True, name=name + "_conv1")
    body = S.Activation(S.BatchNorm(body, fix_gamma=False, name=name + "_bn2"),
                        act_type="relu", name=name + "_relu2")
    body = S.Convolution(body, num_filter=filters, kernel=(3, 3), pad=(1, 1), no_bias=True,
                         name=name + "_conv2")
    short = S.Convolution(pre, num_filter=filters, kernel=(1, 1), stride=stride, no_bias=True,
                          name=name + "_sc") if project else data
    return body + short


def stage(units=3, filters=4):
    """A stem convolution, then `units` residual units of one shape, pooled into a softmax."""
    x = S.Convolution(S.Variable("data"), num_filter=filters, kernel=(3, 3), pad=(1, 1),
                      no_bias=True, name="conv0")
    for i in range(units):
        x = unit(x, filters, "unit%d" % i)
    x = S.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    x = S.FullyConnected(S.Flatten(x), num_hidden=3, name="fc")
    return S.SoftmaxOutput(x, name="softmax")


SHAPES = {"data": (2, 3, 6, 6), "softmax_label": (2,)}


def _plan(net, shapes=SHAPES, train=True):
    return make_plan(net, shapes, ["data"], ["softmax_label"], for_training=train)


def _defined(source):
    """The operator kernels a source defines."""
    return re.findall(r"^(?:static |MXC_HIDDEN )int (\w+_(?:forward|backward|im2col|col2im))"
                      r"\(.*\{$", source, re.M)


def test_repeated_units_emit_one_kernel_per_signature():
    plan = _plan(stage(units=3))
    source = codegen.render(plan, kinds=["sgd"])[0]
    kernels = _defined(source)
    forward = [k for k in kernels if k.endswith("_forward")]
    backward = [k for k in kernels if k.endswith("_backward")]
    nodes = [v for v in plan.nodes if v.fused_into is None]
    # three units of 7 nodes each share the kernels of the first one
    assert len(forward) <= len(nodes) - 2 * 7, (len(forward), len(nodes))
    assert len(backward) <= len(nodes) - 2 * 7
    entry = source[source.index("int mxc_forward("):]
    # every 3x3 convolution of the units has one shape: all six call one kernel
    assert entry.count("unit0_conv1_forward(") == 6
    assert "called for unit0_conv1, unit0_conv2, unit1_conv1, unit1_conv2" in source
    # each kernel hands its geometry and its im2col (one per geometry: conv0's, the units')
    # to the one shared convolution
    assert len(re.findall(r"^MXC_SHARED int mxc_convolve\(", source, re.M)) == 1
    assert re.findall(r"^static int (\w+_im2col)\(", source, re.M) == ["conv0_im2col",
                                                                       "unit0_conv1_im2col"]
    assert "mxc_convolve(&g, unit0_conv1_im2col, " in source


def test_split_build_defines_each_kernel_once(monkeypatch):
    monkeypatch.setattr(codegen, "SPLIT_MIN_CHARS", 1)      # split however small the graph
    plan = _plan(stage(units=2, filters=3))
    glue, parts, header, _ = codegen.render_split(plan, parts=3, kinds=["sgd"])
    assert len(parts) == 3
    one = _defined(codegen.render(plan, kinds=["sgd"])[0])
    split = [k for p in parts for k in _defined(p)]
    assert sorted(split) == sorted(k for k in one)         # every kernel, each once
    assert not _defined(glue) or set(_defined(glue)).isdisjoint(split)
    assert "int mxc_forward(" in glue and all("int mxc_forward(" not in p for p in parts)
    # the entry points see the kernels' prototypes, the kernels the shared kernels'
    for name in split:
        assert re.search(r"^MXC_HIDDEN int %s\(" % name, glue, re.M)
    assert all("MXC_SHARED int mxc_convolve(" in p for p in parts)
    for unit in [glue] + parts:                            # defined in the shared object only
        assert "mxc_im2col(" not in unit and "mxc_pack_b(" not in unit


def test_partition_balances_and_keeps_helpers_with_their_caller():
    def kernel(name, body):
        return codegen.Kernel(name, name, [("real*", "x")], body)
    big = "x[0] = 1;" * 400
    kernels = [kernel("a_im2col", big), kernel("a_forward", "a_im2col(x);"),
               kernel("b_forward", big + "a_im2col(x);"), kernel("c_forward", big),
               kernel("d_forward", big), kernel("e_backward", "x[1] = 2;")]
    groups = codegen.partition(kernels, 2)
    assert sorted(k.name for g in groups for k in g) == sorted(k.name for k in kernels)
    holder = next(g for g in groups if any(k.name == "a_forward" for k in g))
    assert [k.name for k in holder][:2] == ["a_im2col", "a_forward"]   # source order kept
    sizes = [sum(len(str(k.body)) for k in g) for g in groups]
    assert max(sizes) <= 2 * len(big) + 100                        # two big kernels each
    assert codegen.partition(kernels, 1) == [kernels]


def _numpy_unit(x, p, eps=1e-3):
    """Forward of unit(): training BatchNorm (batch statistics), relu, 3x3 convolutions."""
    def bn(v, g, b):
        mean = v.mean(axis=(0, 2, 3), keepdims=True)
        var = v.var(axis=(0, 2, 3), keepdims=True)
        return g[None, :, None, None] * (v - mean) / np.sqrt(var + eps) + b[None, :, None, None]

    def conv(v, w):
        n, c, h, wd = v.shape
        vp = np.pad(v, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, w.shape[0], h, wd))
        for i in range(3):
            for j in range(3):
                out += np.einsum("nchw,fc->nfhw", vp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
        return out
    pre = np.maximum(bn(x, p["u_bn1_gamma"], p["u_bn1_beta"]), 0)
    body = conv(pre, p["u_conv1_weight"])
    body = np.maximum(bn(body, p["u_bn2_gamma"], p["u_bn2_beta"]), 0)
    return conv(body, p["u_conv2_weight"]) + x


def test_residual_unit_forward_against_numpy():
    net = unit(S.Variable("data"), 3, "u")
    ex = Executor(net, {"data": (4, 3, 5, 5)}, dtype="float64",
                  grad_req={k: "write" for k in net.list_arguments()})
    vals = {k: RNG.uniform(0.5, 1.5, v.shape) if k.endswith("gamma")
            else RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    for k, v in vals.items():
        ex.arg_arrays[k][...] = v
    ex.forward(True)
    np.testing.assert_allclose(ex.outputs[0], _numpy_unit(vals["data"], vals), rtol=1e-9,
                               atol=1e-9)


def test_residual_unit_gradient_central_differences():
    net = unit(S.Variable("data"), 2, "u", stride=(2, 2), project=True)
    shape = (2, 2, 5, 5)
    loc = {"data": RNG.uniform(-1, 1, shape)}
    for name, s in zip(net.list_arguments(), net.infer_shape(data=shape)[0]):
        if name != "data":
            loc[name] = RNG.uniform(0.5, 1.5, s) if name.endswith("gamma") \
                else RNG.uniform(-1, 1, s)
    mx.test_utils.check_numeric_gradient(net, loc, numeric_eps=1e-4, rtol=1e-3, atol=1e-4)


def _arena_run(built, plan, arena, train):
    ptr = built.ffi.cast("double*" if plan.ctype == "double" else "float*",
                         arena.ctypes.data)
    built.lib.mxc_seed(ptr, 7)
    built.check(built.lib.mxc_forward(ptr, 1))
    if train:
        built.check(built.lib.mxc_backward(ptr))


@pytest.mark.parametrize("parts", [1, 3])
def test_split_build_computes_what_one_unit_computes(tmp_path, monkeypatch, parts):
    """The library of the split build (shared kernels' object, kernels in `parts` units, entry
    points at -O1) and the one-translation-unit build give the same outputs and gradients."""
    monkeypatch.setattr(codegen, "SPLIT_MIN_CHARS", 1)
    plan = _plan(stage(units=2, filters=3))
    glue, kparts, header, cdef = codegen.render_split(plan, parts=parts, kinds=[])
    assert len(kparts) == parts
    split = Rendered(glue, header, cdef, tuple(("kernels", p) for p in kparts) + (
        ("shared", codegen.render_shared(plan.ctype)),))
    src, header1, cdef1 = codegen.render(plan, kinds=[])
    a = CTarget().build(split, root=str(tmp_path))
    b = CTarget().build(Rendered(src, header1, cdef1), root=str(tmp_path))
    assert a.key != b.key
    arena = np.zeros(plan.size, dtype=np.float32)
    for arg in plan.args:
        arena[arg.value.offset:arg.value.offset + arg.value.size] = (
            RNG.randint(0, 3, arg.value.size) if arg.name == "softmax_label"
            else RNG.uniform(0.5 if arg.name.endswith("gamma") else -1, 1.5, arg.value.size))
    first, second = arena.copy(), arena.copy()
    _arena_run(a, plan, first, True)
    _arena_run(b, plan, second, True)
    np.testing.assert_allclose(first, second, rtol=2e-5, atol=2e-6)
    assert np.abs(first - arena).max() > 0                # it computed something


def test_shared_object_compiled_once_per_toolchain(tmp_path):
    """Two graphs in one cache: one shared-kernels entry, linked into both libraries."""
    root = str(tmp_path)
    target = CTarget()
    one = target.build(target.render(_plan(stage(units=1, filters=2)), None, []), root=root)
    entries = [os.path.join(d, e) for d in os.listdir(os.path.join(root, "shared"))
               for e in os.listdir(os.path.join(root, "shared", d)) if not e.startswith(".")]
    assert len(entries) == 1
    made = os.stat(os.path.join(root, "shared", entries[0], "mxc_shared.o")).st_mtime_ns
    two = target.build(target.render(_plan(stage(units=2, filters=3)), None, []), root=root)
    assert one.key != two.key
    assert os.stat(os.path.join(root, "shared", entries[0], "mxc_shared.o")).st_mtime_ns == made
    assert len(os.listdir(os.path.join(root, "shared", entries[0][:2]))) >= 1
    # the graphs' own libraries hold no copy of the shared kernels' source
    for b in (one, two):
        assert not os.path.exists(os.path.join(b.path, "mxc_shared.c"))


def test_error_raised_in_a_kernel_unit_reaches_last_error():
    """mxc_fail called from an operator kernel (another translation unit than the entry
    points) sets the message the library reports."""
    net = S.softmax_cross_entropy(S.Variable("data"), S.Variable("label"), name="xent")
    ex = Executor(net, {"data": (2, 3), "label": (2,)}, data_names=["data"],
                  label_names=["label"])
    ex.arg_arrays["data"][...] = RNG.uniform(-1, 1, (2, 3))
    ex.arg_arrays["label"][...] = [1, 7]
    with pytest.raises(MXNetError, match="xent.*label 7 at position 1 is not an integer"):
        ex.forward(False)


def test_shared_source_only_for_known_types():
    assert "typedef double real;" in codegen.render_shared("double")
    with pytest.raises(MXNetError, match="no element type"):
        codegen.render_shared("int; system")


def test_tampered_shared_object_is_rebuilt(tmp_path, caplog):
    """The shared kernels' entry is checked as a library is (owner, mode, sha256): an object
    changed after it was published is not linked but rebuilt, with a warning."""
    root = str(tmp_path)
    target = CTarget()
    text = codegen.render_shared("float")
    path = target.shared_object(text, root=root)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xfe\xfd")
    with caplog.at_level("WARNING", logger="mxc.cache"):
        again = target.shared_object(text, root=root)
    assert again == path
    assert "does not match the sha256" in caplog.text
    plan = _plan(stage(units=1, filters=2))
    built = target.build(target.render(plan, None, []), root=root)   # links the rebuilt one
    arena = np.zeros(plan.size, dtype=np.float32)
    assert built.lib.mxc_forward(built.ffi.cast("float*", arena.ctypes.data), 0) == 0


def test_node_named_like_the_library_keeps_its_own_kernel(tmp_path):
    """Nodes named like an entry point (`mxc`, the export prefix) or a shared kernel get
    kernels of their own name (`node_...`), in both builds; results vs NumPy."""
    x = S.FullyConnected(S.Variable("data"), num_hidden=3, name="mxc")
    x = S.Activation(x, act_type="tanh", name="mxc_gemm_nn")
    x = S.Activation(x, act_type="sigmoid", name="node_mxc")
    net = S.Activation(x, act_type="relu", name="net")
    ex = Executor(net, {"data": (2, 4)}, grad_req={k: "write" for k in net.list_arguments()})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    for k, v in vals.items():
        ex.arg_arrays[k][...] = v
    ex.forward(False)
    want = 1 / (1 + np.exp(-np.tanh(vals["data"] @ vals["mxc_weight"].T + vals["mxc_bias"])))
    np.testing.assert_allclose(ex.outputs[0], want, rtol=1e-5)
    src, header, cdef = codegen.render(ex.plan, prefix="net", kinds=["sgd"])
    names = re.findall(r"^static int (\w+)\(", src, re.M)
    assert len(names) == len(set(names))
    assert "node_mxc_forward_1" in names and "node_net_forward" in names
    built = CTarget().build(Rendered(src, header, cdef), "net", root=str(tmp_path))
    arena = np.zeros(ex.plan.size, dtype=np.float32)
    arena[:] = ex.arena
    assert built.lib.net_forward(built.ffi.cast("float*", arena.ctypes.data), 0) == 0
    out = ex.plan.outputs[0].value
    np.testing.assert_allclose(arena[out.offset:out.offset + out.size].reshape(2, 3), want,
                               rtol=1e-5)
