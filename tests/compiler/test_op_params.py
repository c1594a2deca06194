"""Operator attributes are parsed into typed, range-checked values when a node is made or loaded:
every bad value is one MXNetError naming the operator, the node and the attribute, whether the
node comes from mx.sym.<Op>(...) or from a symbol JSON file. Valid extremes still work."""
import json
import re

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler.ops import REGISTRY
from mxc.compiler.ops.base import p_shape
from mxc.executor import Executor

# op, the attributes it needs to be valid, number of data inputs
VALID = {
    "FullyConnected": ({"num_hidden": "4"}, 1),
    "Activation": ({"act_type": "relu"}, 1),
    "SoftmaxOutput": ({}, 2),
    "Convolution": ({"kernel": "(3, 3)", "num_filter": "2"}, 1),
    "Deconvolution": ({"kernel": "(3, 3)", "num_filter": "2"}, 1),
    "Pooling": ({"kernel": "(2, 2)"}, 1),
    "BatchNorm": ({}, 1),
    "Dropout": ({}, 1),
    "LeakyReLU": ({}, 1),
    "softmax": ({}, 1),
    "L2Normalization": ({}, 1),
    "LRN": ({"nsize": "3"}, 1),
    "Embedding": ({"input_dim": "10", "output_dim": "4"}, 1),
    "UpSampling": ({"scale": "2", "sample_type": "nearest", "num_args": "1"}, 1),
    "Pad": ({"mode": "constant", "pad_width": "(0, 0, 0, 0, 1, 1, 1, 1)"}, 1),
    "Reshape": ({"shape": "(-1,)"}, 1),
    "SliceChannel": ({"num_outputs": "2"}, 1),
    "Concat": ({"num_args": "1"}, 1),
    "one_hot": ({"depth": "3"}, 1),
    "clip": ({"a_min": "0", "a_max": "1"}, 1),
    "_mul_scalar": ({"scalar": "2"}, 1),
    "Cast": ({"dtype": "float32"}, 1),
    "sum": ({}, 1),
    "dot": ({}, 2),
    "slice_axis": ({"axis": "0", "begin": "0"}, 1),
    "expand_dims": ({"axis": "0"}, 1),
}

# (op, attribute, bad value, words the reason must contain)
BAD = [
    ("FullyConnected", "num_hidden", "0", ">= 1"),
    ("FullyConnected", "num_hidden", "-3", ">= 1"),
    ("FullyConnected", "num_hidden", "1e400", "integer"),
    ("FullyConnected", "num_hidden", "10.0", "integer"),
    ("FullyConnected", "num_hidden", "2147483648", "out of range"),
    ("FullyConnected", "num_hidden", "99999999999999999999999", "out of range"),
    ("FullyConnected", "num_hidden", "2.5", "integer"),
    ("FullyConnected", "num_hidden", "nan", "integer"),
    ("FullyConnected", "num_hidden", "__import__('os')", "integer"),
    ("FullyConnected", "num_hidden", "1_000", "integer"),
    ("FullyConnected", "no_bias", "maybe", "boolean"),
    ("Activation", "act_type", "evil", "one of"),
    ("Activation", "act_type", "mish", "not supported"),
    ("SoftmaxOutput", "normalization", "sideways", "one of"),
    ("SoftmaxOutput", "smooth_alpha", "1.5", "<= 1"),
    ("SoftmaxOutput", "grad_scale", "inf", "finite"),
    ("SoftmaxOutput", "ignore_label", "nan", "finite"),
    ("Convolution", "num_filter", "0", ">= 1"),
    ("Convolution", "kernel", "(0, 3)", ">= 1"),
    ("Convolution", "kernel", "(3, 3, 3, 3)", "entries"),
    ("Convolution", "kernel", "()", "entries"),
    ("Convolution", "kernel", "(2147483648, 3)", "out of range"),
    ("Convolution", "kernel", "{'a': 1}", "tuple of integers"),
    ("Convolution", "kernel", "'(3, 3)'", "tuple of integers"),
    ("Convolution", "kernel", "(3.5, 3)", "tuple of integers"),
    ("Convolution", "kernel", "((3, 3),)", "tuple of integers"),
    ("Convolution", "kernel", "(" + "[" * 5000 + "]" * 5000 + ")", "characters"),
    ("Convolution", "kernel", "(" + "1, " * 40 + ")", "at most"),
    ("Convolution", "stride", "(0, 1)", ">= 1"),
    ("Convolution", "stride", "(1, 1, 1)", "kernel"),
    ("Convolution", "dilate", "(0, 0)", ">= 1"),
    ("Convolution", "pad", "(-1, 0)", ">= 0"),
    ("Convolution", "num_group", "0", ">= 1"),
    ("Convolution", "workspace", "-1", ">= 0"),
    ("Convolution", "layout", "NHWC", "not supported"),
    ("Convolution", "layout", "NCDHW", "kernel"),
    ("Convolution", "cudnn_tune", "rm -rf", "one of"),
    ("Deconvolution", "adj", "(-1, 0)", ">= 0"),
    ("Deconvolution", "target_shape", "(4,)", "kernel"),
    ("Deconvolution", "stride", "(0, 0)", ">= 1"),
    ("Pooling", "pool_type", "median", "one of"),
    ("Pooling", "pooling_convention", "same", "1-D"),
    ("Pooling", "stride", "(0, 0)", ">= 1"),
    ("Pooling", "stride", "(1,)", "kernel"),
    ("Pooling", "kernel", "(0, 2)", ">= 1"),
    ("Pooling", "pad", "(-2, 0)", ">= 0"),
    ("Pooling", "layout", "NHWC", "not supported"),
    ("BatchNorm", "eps", "0", "> 0"),
    ("BatchNorm", "eps", "-1e-5", "> 0"),
    ("BatchNorm", "momentum", "nan", "finite"),
    ("BatchNorm", "axis", "1e400", "integer"),
    ("Dropout", "p", "1", "< 1"),
    ("Dropout", "p", "-0.1", ">= 0"),
    ("Dropout", "p", "nan", "finite"),
    ("Dropout", "mode", "sometimes", "one of"),
    ("LeakyReLU", "act_type", "swish", "one of"),
    ("LeakyReLU", "slope", "inf", "finite"),
    ("softmax", "temperature", "0", "not be 0"),
    ("softmax", "dtype", "object", "one of"),
    ("L2Normalization", "eps", "0", "> 0"),
    ("L2Normalization", "mode", "global", "one of"),
    ("LRN", "nsize", "0", ">= 1"),
    ("LRN", "nsize", "4", "odd"),
    ("Embedding", "input_dim", "0", ">= 1"),
    ("Embedding", "output_dim", "-1", ">= 1"),
    ("Embedding", "dtype", "str", "dtype"),
    ("UpSampling", "scale", "0", ">= 1"),
    ("UpSampling", "scale", "1001", "<= 1000"),
    ("UpSampling", "sample_type", "cubic", "one of"),
    ("Pad", "pad_width", "(0, 0, 0, 0, -1, 1, 1, 1)", ">= 0"),
    ("Pad", "pad_width", "(1, 1)", "entries"),
    ("Pad", "constant_value", "inf", "finite"),
    ("Reshape", "shape", "(-5, 2)", ">= -4"),
    ("Reshape", "target_shape", "(-1, 2)", ">= 0"),
    ("SliceChannel", "num_outputs", "0", ">= 1"),
    ("Concat", "num_args", "0", ">= 1"),
    ("one_hot", "depth", "-1", ">= 0"),
    ("one_hot", "dtype", "complex128", "dtype"),
    ("clip", "a_min", "nan", "NaN"),
    ("_mul_scalar", "scalar", "inf", "finite"),
    ("_mul_scalar", "scalar", "nan", "finite"),
    ("Cast", "dtype", "<class 'os.system'>", "dtype"),
    ("sum", "axis", "(0, 'a')", "tuple of integers"),
    ("dot", "forward_stype", "dense", "one of"),
    ("slice_axis", "end", "-2147483649", "out of range"),
    ("expand_dims", "axis", "", "integer"),
]


def _message_names(err, op, key, value):
    text = str(err)
    assert "operator %s" % op in text
    assert "node 'bad'" in text
    assert "parameter %s=" % key in text
    return text


@pytest.mark.parametrize("op,key,value,why", BAD, ids=["%s-%s-%d" % (o, k, i)
                                                       for i, (o, k, _, _) in enumerate(BAD)])
def test_bad_attribute_made_in_python(op, key, value, why):
    attrs, n_in = VALID[op]
    inputs = [mx.sym.Variable("x%d" % i) for i in range(n_in)]
    kwargs = dict(attrs, **{key: value})
    with pytest.raises(MXNetError) as info:
        getattr(mx.sym, op)(*inputs, name="bad", **kwargs)
    assert why in _message_names(info.value, op, key, value)


def _graph_json(op, attrs, n_in, name="bad"):
    nodes = [{"op": "null", "name": "x%d" % i, "inputs": []} for i in range(n_in)]
    nodes.append({"op": op, "name": name, "attrs": attrs,
                  "inputs": [[i, 0, 0] for i in range(n_in)]})
    return json.dumps({"nodes": nodes, "arg_nodes": list(range(n_in)),
                       "node_row_ptr": list(range(n_in + 2)), "heads": [[n_in, 0, 0]],
                       "attrs": {"mxnet_version": ["int", 10600]}})


@pytest.mark.parametrize("op,key,value,why", BAD, ids=["%s-%s-%d" % (o, k, i)
                                                       for i, (o, k, _, _) in enumerate(BAD)])
def test_bad_attribute_loaded_from_json(op, key, value, why):
    attrs, n_in = VALID[op]
    with pytest.raises(MXNetError) as info:
        mx.sym.load_json(_graph_json(op, dict(attrs, **{key: value}), n_in))
    assert why in _message_names(info.value, op, key, value)


def test_every_op_family_has_a_bad_value_and_a_valid_base():
    """The table reaches every operator with parameters that take a size, range or name."""
    for op, (attrs, n_in) in VALID.items():
        sym = mx.sym.load_json(_graph_json(op, attrs, n_in, name="good"))
        assert sym.name == "good"
    assert set(VALID) == {op for op, _, _, _ in BAD}


def test_required_and_unknown_attributes():
    x = mx.sym.Variable("x")
    with pytest.raises(MXNetError, match=r"FullyConnected \(node 'bad'\).*num_hidden.*missing"):
        mx.sym.FullyConnected(x, name="bad")
    with pytest.raises(MXNetError, match=r"node 'bad'.*unknown parameter 'num_hiden'"):
        mx.sym.FullyConnected(x, num_hiden=3, num_hidden=3, name="bad")
    with pytest.raises(MXNetError, match=r"node 'bad'.*unknown parameter 'kernel'"):
        mx.sym.load_json(_graph_json("FullyConnected", {"num_hidden": "3", "kernel": "(3,)"}, 1))


def test_attributes_mxnet_accepts_besides_parameters():
    """__attributes__, MXNet's hidden keys and pre-1.0 `weight_lr_mult` keys are not refused."""
    x = mx.sym.Variable("x")
    fc = mx.sym.FullyConnected(x, num_hidden=3, name="fc", attr={"__mood__": "calm"},
                               ctx_group="dev1")
    assert fc.list_arguments() == ["x", "fc_weight", "fc_bias"]
    sym = mx.sym.load_json(_graph_json("FullyConnected", {"num_hidden": "3", "__note__": "a",
                                                          "weight_lr_mult": "0.5"}, 1, "fc"))
    assert sym.attr_dict()["fc_weight"]["__lr_mult__"] == "0.5"


def test_num_hidden_zero_names_the_layer_not_its_weight():
    x = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(x, num_hidden=4, name="fc1")
    with pytest.raises(MXNetError) as info:
        mx.sym.FullyConnected(fc1, num_hidden=0, name="fc2")
    assert "node 'fc2'" in str(info.value) and "num_hidden" in str(info.value)
    assert "fc2_weight" not in str(info.value)


def test_tuple_parser_accepts_mxnet_spellings_only():
    assert p_shape("(3, 3)") == (3, 3)
    assert p_shape("(3,3)") == (3, 3)
    assert p_shape("[2, 2]") == (2, 2)
    assert p_shape("(5,)") == (5,)
    assert p_shape("5") == (5,)
    assert p_shape("()") == ()
    assert p_shape("None") == ()
    assert p_shape("(3L, 3L)") == (3, 3)          # written by Python 2 MXNet
    assert p_shape((1, 2)) == (1, 2)
    for bad in ("(1, 2", "1 2", "(1,,2)", "True", "('a',)", "(1, None)", "0x10", "(1e3,)",
                "[[1]]", "(1, 2) + (3,)", "__import__('os').system('true')"):
        with pytest.raises(ValueError):
            p_shape(bad)


def test_no_registered_parameter_is_free_text():
    """Templates receive typed values only: every string parameter comes from a closed list."""
    free = []
    for op in REGISTRY.values():
        for key, prm in op.params.items():
            for probe in ("free text", "x */ #include"):
                try:
                    value = prm.read(probe)
                except ValueError:
                    continue
                free.append((op.name, key, value))
    assert free == []


def test_valid_extremes_are_accepted():
    x = mx.sym.Variable("x")
    big = 2 ** 31 - 1
    fc = mx.sym.FullyConnected(x, num_hidden=big, name="fc")
    assert fc.get_internals()["fc_output"].list_outputs() == ["fc_output"]
    assert mx.sym.FullyConnected(x, num_hidden=" 1000 ", name="f3").infer_shape(x=(2, 5))[1] == \
        [(2, 1000)]
    assert mx.sym.Dropout(x, p=0.0).infer_shape(x=(2, 3))[1] == [(2, 3)]
    assert mx.sym.Dropout(x, p=0.999).infer_shape(x=(2, 3))[1] == [(2, 3)]
    assert mx.sym.clip(x, a_min="-inf", a_max="inf").infer_shape(x=(4,))[1] == [(4,)]
    assert mx.sym._mul_scalar(x, scalar=-1e300).infer_shape(x=(4,))[1] == [(4,)]
    assert mx.sym.BatchNorm(x, eps=1e-30, axis=-1).infer_shape(x=(2, 3))[1] == [(2, 3)]
    assert mx.sym.Reshape(x, shape="[-4, -1, 2, -2]").infer_shape(x=(4, 3))[1] == [(2, 2, 3)]
    assert mx.sym.Pooling(x, global_pool=True, pool_type="avg").infer_shape(
        x=(1, 2, 5, 5))[1] == [(1, 2, 1, 1)]


def _conv_out(x, k, s, d, p):
    """MXNet's documented convolution output size."""
    return (x + 2 * p - d * (k - 1) - 1) // s + 1


@pytest.mark.parametrize("kernel,stride,dilate,pad", [
    ((5, 5), (1, 1), (1, 1), (0, 0)),       # kernel the size of the input: one output
    ((1, 1), (100, 100), (1, 1), (0, 0)),   # stride far beyond the input: one output
    ((2, 2), (1, 1), (4, 4), (0, 0)),       # dilation that exactly fits
    ((3, 3), (2, 2), (1, 1), (40, 40)),     # padding much larger than the input
])
def test_convolution_geometry_extremes_infer_mxnets_shapes(kernel, stride, dilate, pad):
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=kernel, stride=stride,
                             dilate=dilate, pad=pad, num_filter=2, name="c")
    want = tuple(_conv_out(5, k, s, d, p) for k, s, d, p in zip(kernel, stride, dilate, pad))
    assert sym.infer_shape(data=(1, 1, 5, 5))[1] == [(1, 2) + want]


def test_stride_beyond_the_input_computes_the_first_window():
    sym = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(1, 1), stride=(7, 7),
                             num_filter=2, name="c")
    ex = Executor(sym, {"data": (2, 3, 5, 5)}, for_training=False, dtype="float64")
    rs = np.random.RandomState(0)
    x, w, b = rs.normal(size=(2, 3, 5, 5)), rs.normal(size=(2, 3, 1, 1)), rs.normal(size=2)
    ex.arg_arrays["data"][...] = x
    ex.arg_arrays["c_weight"][...] = w
    ex.arg_arrays["c_bias"][...] = b
    ex.forward(False)
    want = np.einsum("nc,fc->nf", x[:, :, 0, 0], w[:, :, 0, 0]) + b
    np.testing.assert_allclose(ex.outputs[0][:, :, 0, 0], want, rtol=1e-12)
    assert ex.outputs[0].shape == (2, 2, 1, 1)


# (symbol maker, input shape, words the error must contain): valid attributes that cannot
# work on this input are shape errors naming the node
SHAPE_BAD = [
    (lambda x: mx.sym.Convolution(x, kernel=(7, 7), num_filter=2, name="bad"), (1, 1, 5, 5),
     "fit"),
    (lambda x: mx.sym.Convolution(x, kernel=(3, 3), dilate=(3, 3), num_filter=2, name="bad"),
     (1, 1, 5, 5), "fit"),
    (lambda x: mx.sym.Convolution(x, kernel=(3,), num_filter=2, name="bad"), (1, 1, 5, 5),
     "1-D kernel"),
    (lambda x: mx.sym.Deconvolution(x, kernel=(2, 2), pad=(9, 9), num_filter=2, name="bad"),
     (1, 1, 3, 3), "not positive"),
    (lambda x: mx.sym.Pooling(x, kernel=(9, 9), name="bad"), (1, 1, 5, 5), "larger"),
    (lambda x: mx.sym.Reshape(x, shape=(-4, 0, -1), name="bad"), (4, 3), "-4"),
    (lambda x: mx.sym.Reshape(x, shape=(-4, -1, -1), name="bad"), (4, 3), "-4"),
    (lambda x: mx.sym.Reshape(x, shape=(0, 0, 0), name="bad"), (4, 3), "past"),
    (lambda x: mx.sym.Reshape(x, shape=(-3, -3), name="bad"), (4, 3), "past"),
    (lambda x: mx.sym.Dropout(x, axes=(5,), name="bad"), (4, 3), "axes"),
    (lambda x: mx.sym.SliceChannel(x, num_outputs=5, name="bad"), (4, 3), "divisible"),
    (lambda x: mx.sym.softmax(x, axis=2, name="bad"), (4, 3), "axis"),
    (lambda x: mx.sym.Concat(x, dim=-5, name="bad"), (4, 3), "dim"),
]


@pytest.mark.parametrize("make,shape,why", SHAPE_BAD, ids=[str(i) for i in range(len(SHAPE_BAD))])
def test_valid_attributes_that_do_not_fit_the_input_name_the_node(make, shape, why):
    sym = make(mx.sym.Variable("x"))
    with pytest.raises(MXNetError) as info:
        sym.infer_shape(x=shape)
    assert "node 'bad'" in str(info.value) and why in str(info.value)


def test_bad_shape_hint_in_a_file_names_the_variable():
    text = _graph_json("FullyConnected", {"num_hidden": "3"}, 1, "fc")
    js = json.loads(text)
    js["nodes"][0]["attrs"] = {"__shape__": "(" * 10000 + ")" * 10000}
    sym = mx.sym.load_json(json.dumps(js))
    with pytest.raises(MXNetError, match=r"variable 'x0'.*__shape__"):
        sym.infer_shape()
    js["nodes"][0]["attrs"] = {"__shape__": "(0, 5)"}          # 0: an unknown dimension
    assert mx.sym.load_json(json.dumps(js)).infer_shape(x0=(2, 5))[1] == [(2, 3)]


def test_messages_quote_hostile_values_briefly():
    with pytest.raises(MXNetError) as info:
        mx.sym.Activation(mx.sym.Variable("x"), act_type="relu\n*/ #include <x>" + "A" * 500,
                          name="bad")
    text = str(info.value)
    assert "\n" not in text and len(text) < 400
    assert re.search(r"parameter act_type='relu\\n", text)


def test_tensors_beyond_32_bit_sizes_are_refused_before_any_allocation():
    x = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(x, num_hidden=2 ** 31 - 1, name="fc")
    with pytest.raises(MXNetError, match=r"tensor 'fc_weight' \(node 'fc_weight'\).*elements"):
        fc.infer_shape(data=(2, 4))
    with pytest.raises(MXNetError, match=r"tensor 'fc_output' \(node 'fc'\)"):
        Executor(mx.sym.FullyConnected(x, num_hidden=2 ** 16, no_bias=True, name="fc"),
                 {"data": (2 ** 16, 1)}, for_training=False)
    small = mx.sym.FullyConnected(x, num_hidden=2 ** 31 - 1, name="fc")
    assert small.infer_shape(data=(1, 1))[1] == [(1, 2 ** 31 - 1)]
