"""Type inference as MXNet does it (Symbol.infer_type / infer_type_partial): one dtype across
an operator's inputs and outputs unless its rule says otherwise (Cast, creation ops, one_hot,
Embedding, BatchNorm, softmax's dtype), index inputs free, __dtype__ hints, inference in both
directions. Expected types are worked out by hand from each operator's definition."""
import warnings

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

ALL = [np.float16, np.float32, np.float64, np.uint8, np.int8, np.int32, np.int64]


def _mlp():
    x = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(x, num_hidden=4, name="fc1")
    h = mx.sym.Activation(h, act_type="relu")
    h = mx.sym.FullyConnected(h, num_hidden=3, name="fc2") * 2 + 1
    return mx.sym.SoftmaxOutput(h, name="softmax")


@pytest.mark.parametrize("dtype", ALL)
def test_one_dtype_flows_through_every_argument_and_output(dtype):
    net = _mlp()
    args, outs, aux = net.infer_type(data=dtype)
    assert args == [dtype] * 6 and outs == [dtype] and aux == []
    # the same from the label alone (backward through the loss head and the layers)
    assert net.infer_type(softmax_label=dtype)[0] == [dtype] * 6
    # positionally, and as names or np.dtype objects
    assert net.infer_type(dtype)[0] == [dtype] * 6
    assert net.infer_type(data=np.dtype(dtype).name)[1] == [dtype]


def test_cast_changes_the_type_and_partial_leaves_the_unknown_input_none():
    data = mx.sym.Variable("data")
    f32 = mx.sym.Cast(data=data, dtype="float32")
    mlp = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(f32, name="fc1", num_hidden=8),
                               name="softmax")
    assert mlp.infer_type(data=np.float16) == (
        [np.float16, np.float32, np.float32, np.float32], [np.float32], [])
    assert mlp.infer_type_partial() == ([None, np.float32, np.float32, np.float32],
                                        [np.float32], [])
    with pytest.warns(UserWarning, match="data: None"):
        assert mlp.infer_type() == (None, None, None)


def test_types_are_inferred_backwards_from_consumers():
    w = mx.sym.Variable("w")
    out = mx.sym.Cast(mx.sym.Variable("x"), dtype="float64") + w
    args, outs, _ = out.infer_type_partial()
    assert args == [None, np.float64] and outs == [np.float64]
    z = mx.sym.zeros((0, 3), dtype="float16")
    out = mx.sym.exp(mx.sym.Variable("y")) * z
    assert out.infer_type() == ([np.float16], [np.float16], [])


def test_mixed_dtypes_are_refused_naming_node_and_input():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    with pytest.raises(MXNetError, match=r"'sum'.*elemwise_add.*float.*float"):
        mx.sym.elemwise_add(a, b, name="sum").infer_type(a=np.float32, b=np.float64)
    fc = mx.sym.FullyConnected(a, num_hidden=2, name="fc")
    with pytest.raises(MXNetError, match=r"fc.*int32"):
        fc.infer_type(a=np.float32, fc_weight=np.int32)


def test_dtype_hints_of_variables():
    x = mx.sym.Variable("x", dtype=np.float64)
    net = mx.sym.FullyConnected(x, num_hidden=2, name="fc")
    assert net.infer_type() == ([np.float64] * 3, [np.float64], [])
    # a given type wins over the hint (and must then agree with the graph)
    assert net.infer_type(x=np.float16)[0] == [np.float16] * 3
    bad = mx.sym.Variable("v", __dtype__="complex")
    with pytest.raises(MXNetError, match="__dtype__"):
        mx.sym.exp(bad).infer_type()


def test_index_inputs_keep_their_own_type():
    idx = mx.sym.Variable("idx")
    emb = mx.sym.Embedding(idx, input_dim=10, output_dim=4, name="emb")
    assert emb.infer_type(idx=np.int32) == ([np.int32, np.float32], [np.float32], [])
    emb16 = mx.sym.Embedding(idx, input_dim=10, output_dim=4, dtype="float16", name="e16")
    assert emb16.infer_type(idx=np.int64) == ([np.int64, np.float16], [np.float16], [])
    with pytest.raises(MXNetError, match="e16"):
        emb16.infer_type(idx=np.int64, e16_weight=np.float32)
    hot = mx.sym.one_hot(idx, depth=3, dtype="int32")
    assert hot.infer_type(idx=np.uint8) == ([np.uint8], [np.int32], [])


def test_batchnorm_keeps_float32_statistics_for_float16_data():
    bn = mx.sym.BatchNorm(mx.sym.Variable("x"), name="bn", output_mean_var=True)
    assert bn.infer_type(x=np.float16) == (
        [np.float16, np.float32, np.float32], [np.float16, np.float32, np.float32],
        [np.float32, np.float32])
    assert bn.infer_type(x=np.float64) == ([np.float64] * 3, [np.float64] * 3,
                                           [np.float64] * 2)


def test_softmax_dtype_parameter_sets_the_output_type():
    x = mx.sym.Variable("x")
    assert mx.sym.softmax(x, dtype="float64").infer_type(x=np.float16) == (
        [np.float16], [np.float64], [])
    assert mx.sym.log_softmax(x).infer_type(x=np.float16) == ([np.float16], [np.float16], [])


def test_constants_take_their_dtype_parameter():
    z = mx.sym.full((2, 2), 3, dtype="int8")
    assert z.infer_type() == ([], [np.int8], [])
    assert mx.sym.ones((1,)).infer_type() == ([], [np.float32], [])


def test_complete_inference_raises_no_warning_and_bad_types_are_named():
    net = _mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.infer_type(data="float32")
    with pytest.raises(MXNetError, match="data"):
        net.infer_type(data="complex128")
    with pytest.raises(ValueError, match="positional or kwargs"):
        net.infer_type(np.float32, data=np.float32)


# ---- the dtype a compiled executor runs ------------------------------------------------------

def test_simple_bind_keeps_integer_index_arguments_and_runs_the_float_type():
    x, idx = mx.sym.Variable("x"), mx.sym.Variable("idx")
    out = mx.sym.stop_gradient(mx.sym.batch_take(x, idx))
    assert out.infer_type(x=np.float32, idx=np.int32) == ([np.float32, np.int32],
                                                          [np.float32], [])
    ex = out.simple_bind(mx.cpu(), x=(4, 3), idx=(4,),
                         type_dict={"x": np.float32, "idx": np.int32})
    xv = np.arange(12.0).reshape(4, 3)
    ex.arg_dict["x"][:] = xv
    ex.arg_dict["idx"][:] = np.array([2, 0, 1, 2])
    got = ex.forward()[0].asnumpy()
    np.testing.assert_array_equal(got, xv[np.arange(4), [2, 0, 1, 2]])
    assert got.dtype == np.float32
    ex64 = mx.sym.exp(x).simple_bind(mx.cpu(), x=(2, 2), type_dict={"x": "float64"})
    assert ex64.forward()[0].dtype == np.float64


def test_simple_bind_refuses_integer_data_in_float_arithmetic():
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    with pytest.raises(MXNetError, match="int32"):
        mx.sym.exp(x).simple_bind(mx.cpu(), x=(2, 2), type_dict={"x": np.int32})
    with pytest.raises(MXNetError, match="rhs"):
        (x + y).simple_bind(mx.cpu(), x=(2, 2), y=(2, 2),
                            type_dict={"x": np.float32, "y": np.int32})


def test_creation_and_sampling_operators_default_to_float32_or_their_dtype():
    assert mx.sym.random.uniform(shape=(2, 2)).infer_type() == ([], [np.float32], [])
    assert mx.sym.random.normal(shape=(2,), dtype="float64").infer_type()[1] == [np.float64]
    assert mx.sym.random.randint(low=0, high=3, shape=(2,)).infer_type()[1] == [np.int32]
    noisy = mx.sym.Variable("x") + mx.sym.random.uniform(shape=(2, 2), dtype="float16")
    assert noisy.infer_type() == ([np.float16], [np.float16], [])


def test_index_and_shape_outputs_have_their_own_type():
    x = mx.sym.Variable("x")
    assert mx.sym.topk(x, k=2, ret_typ="both", dtype="int32").infer_type(x=np.float16) == (
        [np.float16], [np.float16, np.int32], [])
    assert mx.sym.topk(x, k=2).infer_type(x=np.float64)[1] == [np.float32]
    assert mx.sym.argsort(x, dtype="int64").infer_type(x=np.float16)[1] == [np.int64]
    assert mx.sym.shape_array(x).infer_type(x=np.float16)[1] == [np.int64]
    # the executor still runs the arguments' type for such graphs
    net = mx.sym.Group([mx.sym.exp(x), mx.sym.shape_array(x)])
    ex = net.simple_bind(mx.cpu(), x=(2, 3), type_dict={"x": np.float64})
    ex.arg_dict["x"][:] = 0.5
    out = ex.forward()
    assert out[0].dtype == np.float64
    np.testing.assert_allclose(out[0].asnumpy(), np.exp(0.5))
    np.testing.assert_array_equal(out[1].asnumpy(), [2, 3])


def test_custom_operators_type_through_their_property():
    @mx.operator.register("infer_type_to_float64")
    class ToFloat64(mx.operator.CustomOpProp):      # noqa: F841 (registered by the decorator)
        def list_arguments(self):
            return ["data", "scale"]

        def infer_type(self, in_type):
            return [in_type[0], np.int32], [np.float64], []

    @mx.operator.register("infer_type_default")
    class Default(mx.operator.CustomOpProp):        # noqa: F841
        pass

    x, s = mx.sym.Variable("x"), mx.sym.Variable("s")
    cast = mx.sym.Custom(x, s, op_type="infer_type_to_float64")
    assert cast.infer_type(x=np.float16) == ([np.float16, np.int32], [np.float64], [])
    # the property answers with the input type unknown too (as MXNet asks it)
    assert cast.infer_type_partial() == ([None, np.int32], [np.float64], [])
    plain = mx.sym.Custom(x, op_type="infer_type_default")
    assert plain.infer_type(x=np.uint8) == ([np.uint8], [np.uint8], [])
    with pytest.raises(MXNetError, match="int32"):
        mx.sym.Custom(x, s, op_type="infer_type_to_float64").infer_type(x=np.float32,
                                                                           s=np.float32)
