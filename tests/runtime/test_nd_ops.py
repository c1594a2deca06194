"""mx.nd.<op>: every registered operator run eagerly on NumPy (the registry's reference),
checked against the compiled C kernels of the same operators, against NumPy written here,
and for never compiling anything."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import build, ops
from mxc.executor import Executor

nd = mx.nd

# (operator, explicit inputs {name: shape}, parameters, value range, integer-valued inputs)
CASES = [
    ("FullyConnected", {"data": (3, 2, 4)}, dict(num_hidden=5), (-1, 1), ()),
    ("FullyConnected", {"data": (3, 2, 4)}, dict(num_hidden=3, flatten=False, no_bias=True),
     (-1, 1), ()),
    ("Activation", {"data": (4, 5)}, dict(act_type="softrelu"), (-3, 3), ()),
    ("Activation", {"data": (4, 5)}, dict(act_type="softsign"), (-3, 3), ()),
    ("Convolution", {"data": (2, 4, 7, 6)},
     dict(kernel=(3, 2), num_filter=6, stride=(2, 1), pad=(1, 1), dilate=(1, 2), num_group=2),
     (-1, 1), ()),
    ("Convolution", {"data": (2, 3, 9)}, dict(kernel=(3,), num_filter=2, stride=(2,)), (-1, 1),
     ()),
    ("Convolution", {"data": (1, 2, 4, 5, 4)}, dict(kernel=(2, 3, 2), num_filter=3, pad=(1, 0, 1)),
     (-1, 1), ()),
    ("Deconvolution", {"data": (2, 4, 3, 4)},
     dict(kernel=(3, 3), num_filter=4, stride=(2, 2), pad=(1, 0), adj=(1, 0), num_group=2,
          no_bias=False), (-1, 1), ()),
    ("Deconvolution", {"data": (1, 2, 3, 3)},
     dict(kernel=(4, 4), num_filter=3, stride=(2, 2), target_shape=(6, 7)), (-1, 1), ()),
    ("Pooling", {"data": (2, 3, 7, 6)}, dict(kernel=(3, 2), stride=(2, 2), pad=(1, 1)),
     (-1, 1), ()),
    ("Pooling", {"data": (2, 3, 7, 6)},
     dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", pooling_convention="full"),
     (-1, 1), ()),
    ("Pooling", {"data": (2, 3, 7, 6)},
     dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False),
     (-1, 1), ()),
    ("Pooling", {"data": (2, 3, 5, 6)}, dict(kernel=(2, 2), pool_type="sum"), (-1, 1), ()),
    ("Pooling", {"data": (2, 3, 5, 6)}, dict(kernel=(2, 3), pool_type="lp", p_value=2), (-1, 1),
     ()),
    ("Pooling", {"data": (2, 3, 5, 6)}, dict(global_pool=True, pool_type="avg"), (-1, 1), ()),
    ("Pooling", {"data": (1, 2, 4, 5, 3)}, dict(kernel=(2, 2, 2), pool_type="max"), (-1, 1), ()),
    ("BatchNorm", {"data": (3, 4, 2, 2)}, dict(fix_gamma=False, eps=1e-4), (-1, 1), ()),
    ("BatchNorm", {"data": (5, 3)}, dict(axis=-1, output_mean_var=True), (0.5, 1.5), ()),
    ("Dropout", {"data": (3, 4)}, dict(p=0.4), (-1, 1), ()),
    ("LeakyReLU", {"data": (3, 4)}, dict(act_type="leaky", slope=0.2), (-1, 1), ()),
    ("LeakyReLU", {"data": (3, 4)}, dict(act_type="elu", slope=0.7), (-1, 1), ()),
    ("LeakyReLU", {"data": (3, 4)}, dict(act_type="selu"), (-1, 1), ()),
    ("LeakyReLU", {"data": (3, 4)}, dict(act_type="gelu"), (-2, 2), ()),
    ("LeakyReLU", {"data": (2, 3, 4)}, dict(act_type="prelu"), (-1, 1), ()),
    ("LeakyReLU", {"data": (3, 4)}, dict(act_type="rrelu"), (-1, 1), ()),
    ("softmax", {"data": (2, 4, 3)}, dict(axis=1, temperature=2.0), (-2, 2), ()),
    ("log_softmax", {"data": (3, 5)}, dict(), (-2, 2), ()),
    ("SoftmaxActivation", {"data": (2, 3, 2, 2)}, dict(mode="channel"), (-2, 2), ()),
    ("SoftmaxActivation", {"data": (2, 3, 2)}, dict(), (-2, 2), ()),
    ("Embedding", {"data": (3, 4)}, dict(input_dim=6, output_dim=5), (-1, 7), ("data",)),
    ("L2Normalization", {"data": (2, 3, 4)}, dict(mode="channel"), (-1, 1), ()),
    ("L2Normalization", {"data": (2, 3, 4)}, dict(mode="spatial"), (-1, 1), ()),
    ("L2Normalization", {"data": (2, 3, 4)}, dict(), (-1, 1), ()),
    ("LRN", {"data": (2, 5, 3, 3)}, dict(nsize=3, alpha=0.01, beta=0.6, knorm=1.5), (-1, 1), ()),
    ("UpSampling", {"arg0": (1, 2, 2, 3), "arg1": (1, 3, 4, 6)},
     dict(scale=2, sample_type="nearest", num_args=2), (-1, 1), ()),
    ("UpSampling", {"arg0": (1, 2, 2, 2), "arg1": (1, 2, 4, 4)},
     dict(scale=2, sample_type="nearest", num_args=2, multi_input_mode="sum"), (-1, 1), ()),
    ("UpSampling", {"data": (1, 2, 3, 3)}, dict(scale=2, sample_type="bilinear", num_filter=2),
     (-1, 1), ()),
    ("Pad", {"data": (1, 2, 3, 4)}, dict(mode="reflect", pad_width=(0, 0, 0, 0, 1, 2, 2, 1)),
     (-1, 1), ()),
    ("Pad", {"data": (1, 2, 3, 4)},
     dict(mode="constant", constant_value=0.5, pad_width=(0, 0, 0, 0, 1, 0, 0, 2)), (-1, 1), ()),
    ("Pad", {"data": (1, 2, 3, 4)}, dict(mode="edge", pad_width=(0, 0, 0, 0, 2, 1, 1, 1)),
     (-1, 1), ()),
    ("SoftmaxOutput", {"data": (4, 5), "label": (4,)}, dict(), (-2, 2), ("label",)),
    ("SoftmaxOutput", {"data": (2, 3, 2, 2), "label": (2, 2, 2)}, dict(multi_output=True),
     (-2, 2), ("label",)),
    ("LogisticRegressionOutput", {"data": (4, 3), "label": (4, 3)}, dict(), (-2, 2), ()),
    ("LinearRegressionOutput", {"data": (4, 3), "label": (4, 3)}, dict(), (-2, 2), ()),
    ("SVMOutput", {"data": (4, 3), "label": (4,)}, dict(), (-2, 2), ("label",)),
    ("MAERegressionOutput", {"data": (4, 3), "label": (4, 3)}, dict(), (-2, 2), ()),
    ("Cast", {"data": (4, 3)}, dict(dtype="float64"), (-2, 2), ()),
    ("MakeLoss", {"data": (4, 3)}, dict(), (-2, 2), ()),
    ("BlockGrad", {"data": (4, 3)}, dict(), (-2, 2), ()),
    ("Flatten", {"data": (2, 3, 4)}, dict(), (-1, 1), ()),
    ("Reshape", {"data": (2, 3, 4)}, dict(shape=(-1, 0), reverse=True), (-1, 1), ()),
    ("Reshape", {"data": (2, 3, 4)}, dict(shape=(0, -3)), (-1, 1), ()),
    ("expand_dims", {"data": (2, 3)}, dict(axis=-1), (-1, 1), ()),
    ("transpose", {"data": (2, 3, 4)}, dict(axes=(1, 2, 0)), (-1, 1), ()),
    ("transpose", {"data": (2, 3)}, dict(), (-1, 1), ()),
    ("Concat", {"arg0": (2, 3), "arg1": (2, 4)}, dict(dim=1, num_args=2), (-1, 1), ()),
    ("SliceChannel", {"data": (2, 6)}, dict(num_outputs=3), (-1, 1), ()),
    ("SliceChannel", {"data": (3, 2)}, dict(num_outputs=3, axis=0, squeeze_axis=True), (-1, 1),
     ()),
    ("slice_axis", {"data": (4, 5)}, dict(axis=1, begin=1, end=-1), (-1, 1), ()),
    ("one_hot", {"indices": (2, 3)}, dict(depth=4, on_value=2.0, off_value=-1.0), (-1, 5),
     ("indices",)),
    ("sum", {"data": (2, 3, 4)}, dict(axis=(0, 2), keepdims=True), (-1, 1), ()),
    ("mean", {"data": (2, 3, 4)}, dict(axis=1, exclude=True), (-1, 1), ()),
    ("max", {"data": (2, 3, 4)}, dict(axis=-1), (-1, 1), ()),
    ("min", {"data": (2, 3, 4)}, dict(), (-1, 1), ()),
    ("dot", {"lhs": (3, 4), "rhs": (5, 4)}, dict(transpose_b=True), (-1, 1), ()),
    ("dot", {"lhs": (4, 2, 3), "rhs": (4, 5)}, dict(transpose_a=True), (-1, 1), ()),
    ("batch_dot", {"lhs": (2, 4, 3), "rhs": (2, 4, 5)}, dict(transpose_a=True), (-1, 1), ()),
    ("clip", {"data": (4, 5)}, dict(a_min=-0.3, a_max=0.5), (-1, 1), ()),
    ("hard_sigmoid", {"data": (4, 5)}, dict(alpha=0.3, beta=0.4), (-4, 4), ()),
    ("broadcast_power", {"lhs": (2, 1, 4), "rhs": (3, 1)}, dict(), (0.5, 2), ()),
    ("broadcast_maximum", {"lhs": (2, 1, 4), "rhs": (3, 1)}, dict(), (-1, 1), ()),
    ("elemwise_div", {"lhs": (3, 4), "rhs": (3, 4)}, dict(), (0.5, 2), ()),
]
CASES += [(name, {"data": (3, 4)}, {}, (0.3, 2) if name in ("log", "sqrt", "rsqrt") else (-2, 2),
           ()) for name in ("exp", "log", "sqrt", "rsqrt", "square", "abs", "sign", "negative",
                            "tanh", "sigmoid", "softsign", "relu", "zeros_like", "ones_like")]
CASES += [(name, {"data": (3, 4)}, dict(scalar=1.5), (0.5, 2), ())
          for name in ("_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar",
                       "_div_scalar", "_rdiv_scalar", "_power_scalar", "_rpower_scalar")]

CASES += [(name, {"lhs": (3, 4), "rhs": (3, 4)}, {}, (0.5, 2), ())
          for name in ("elemwise_add", "elemwise_sub", "elemwise_mul", "_power", "_maximum",
                       "_minimum")]
CASES += [("broadcast_" + kind, {"lhs": (2, 3, 1), "rhs": (1, 4)}, {}, (0.5, 2), ())
          for kind in ("add", "sub", "mul", "div", "minimum")]


def _values(case, index, rng):
    name, inputs, params, (low, high), integer = case
    values = {}
    for key, shape in inputs.items():
        v = rng.uniform(low, high, shape)
        values["c%d_%s" % (index, key)] = np.floor(v) if key in integer else v
    return values


def _symbol(case, index):
    name, inputs, params, _, _ = case
    args = [mx.sym.Variable("c%d_%s" % (index, key)) for key in inputs]
    return getattr(mx.sym, name)(*args, name="c%d" % index, **params)


def _nd_call(case, index, arrays):
    """mx.nd.<op> on the executor's own argument and aux values of case `index`."""
    name, inputs, params, _, _ = case
    op = ops.FUNCTIONS[name]
    p = op.parse_params(params)
    names = op.input_names(p, len(inputs)) + op.aux_names(p)
    given = [nd.array(arrays["c%d_%s" % (index, n)], dtype=np.float64) for n in names]
    out = getattr(nd, name)(*given, **params)
    return out if isinstance(out, list) else [out]


def test_every_registered_operator_has_a_reference_and_is_covered_here():
    assert all(op.reference is not None for op in ops.REGISTRY.values())
    assert {ops.FUNCTIONS[c[0]].name for c in CASES} == set(ops.REGISTRY)


def test_nd_ops_match_the_compiled_kernels():
    """One float64 graph of every case, compiled once; each mx.nd result equals its node's."""
    rng = np.random.RandomState(3)
    heads, shapes, values, labels = [], {}, {}, []
    for i, case in enumerate(CASES):
        heads.append(_symbol(case, i))
        vals = _values(case, i, rng)
        values.update(vals)
        shapes.update({k: v.shape for k, v in vals.items()})
        labels += [k for k in vals if k.endswith("_label")]
    group = mx.sym.Group(heads)
    ex = Executor(group, shapes, label_names=labels,
                  grad_req={k: "null" for k in group.list_arguments()}, dtype="float64",
                  for_training=False)
    for k, v in values.items():
        ex.arg_arrays[k][...] = v
    for k, arr in ex.aux_arrays.items():
        arr[...] = rng.uniform(0.5, 1.5, arr.shape)
    arrays = dict(ex.arg_arrays)
    arrays.update(ex.aux_arrays)
    for k, arr in ex.arg_arrays.items():
        if k not in values:
            arr[...] = rng.uniform(-1, 1, arr.shape)
    ex.forward(False)
    compiled = iter(ex.outputs)
    for i, case in enumerate(CASES):
        for got in _nd_call(case, i, arrays):
            want = next(compiled)
            assert got.shape == want.shape, (case[0], i)
            np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10, atol=1e-12,
                                       err_msg="%s (case %d)" % (case[0], i))
    assert next(compiled, None) is None
