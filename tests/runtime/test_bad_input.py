"""Bad input gets a clear exception naming the culprit, and leaves no partial file."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError


def _net():
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=8)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=5)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _module(batch=4, dim=6):
    mod = mx.mod.Module(_net())
    mod.bind(data_shapes=[("data", (batch, dim))], label_shapes=[("softmax_label", (batch,))])
    mod.init_params()
    mod.init_optimizer()
    return mod


def test_data_of_the_wrong_shape_names_node_and_shapes():
    mod = _module()
    batch = mx.io.DataBatch([mx.nd.ones((4, 7))], [mx.nd.zeros((4,))])
    with pytest.raises(MXNetError, match=r"fc1.*weight.*\(8, 6\).*\(8, 7\)"):
        mod.forward(batch)


def test_label_out_of_range_is_no_error_as_in_mxnet():
    # MXNet's SoftmaxOutput takes such a label as no class: the row's gradient is p itself
    mod = _module()
    batch = mx.io.DataBatch([mx.nd.ones((4, 6))], [mx.nd.array([0, 1, 5, 2])])
    mod.forward(batch, is_train=True)
    mod.backward()
    it = mx.io.NDArrayIter(np.ones((8, 6)), np.array([0, 1, 2, 3, 4, 9, 1, 1]), 4)
    mod = mx.mod.Module(_net())
    mod.fit(it, num_epoch=1)
    assert all(np.isfinite(v.asnumpy()).all() for v in mod.get_params()[0].values())


def test_unknown_data_or_label_names():
    with pytest.raises(ValueError, match="images"):
        mx.mod.Module(_net(), data_names=["images"])
    mod = mx.mod.Module(_net())
    with pytest.raises(ValueError, match="data_names"):
        mod.bind(data_shapes=[("x", (4, 6))])
    mod = mx.mod.Module(_net())
    with pytest.raises(ValueError, match="lbl"):
        mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("lbl", (4,))])


def test_set_params_missing_a_parameter():
    mod = _module()
    arg, aux = mod.get_params()
    del arg["fc2_bias"]
    with pytest.raises(RuntimeError, match="fc2_bias"):
        mod.set_params(arg, aux)
    mod.set_params(arg, aux, allow_missing=True)
    arg["fc1_weight"] = mx.nd.zeros((3, 3))
    with pytest.raises(MXNetError, match="fc1_weight.*\\(3, 3\\)"):
        mod.set_params(arg, aux, allow_missing=True)


def test_truncated_or_corrupt_params_file(tmp_path):
    mod = _module()
    mod.save_checkpoint(str(tmp_path / "m"), 1)
    good = (tmp_path / "m-0001.params").read_bytes()
    (tmp_path / "m-0002.params").write_bytes(good[:len(good) // 2])
    with pytest.raises(MXNetError, match="m-0002.params"):
        mx.model.load_checkpoint(str(tmp_path / "m"), 2)
    (tmp_path / "m-0003.params").write_bytes(b"\x00" * 40)
    with pytest.raises(MXNetError, match="m-0003.params"):
        mx.model.load_checkpoint(str(tmp_path / "m"), 3)
    with pytest.raises(MXNetError, match="m-0009.params"):
        mx.model.load_checkpoint(str(tmp_path / "m"), 9)


def test_corrupt_symbol_file(tmp_path):
    (tmp_path / "m-symbol.json").write_text('{"nodes": [')
    with pytest.raises(MXNetError, match="m-symbol.json"):
        mx.sym.load(str(tmp_path / "m-symbol.json"))


def test_gpu_context_is_a_clear_error_without_gpu_support():
    mod = mx.mod.Module(_net(), context=mx.gpu())
    with pytest.raises(MXNetError, match="gpu|GPU|nvcc"):
        mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])


# ------------------------------------------------------------- the Module API's inputs

def _batch(x, y=None):
    return mx.io.DataBatch([x], [y] if y is not None else None)


@pytest.mark.parametrize("bad", [np.ones((4, 6)) + 1j, np.full((4, 6), None, dtype=object)])
def test_complex_or_object_data_is_refused_naming_the_input(bad):
    with pytest.raises(MXNetError, match="'data'.*(complex|object)"):
        mx.io.NDArrayIter(bad, np.zeros(4), 2)
    with pytest.raises(MXNetError, match="'softmax_label'.*(complex|object)"):
        mx.io.NDArrayIter(np.ones((4, 6)), bad[:, 0], 2)
    mod = _module()
    with pytest.raises(MXNetError, match="input 'data'.*(complex|object)"):
        mod.forward(_batch(mx.nd.NDArray(bad)))
    with pytest.raises(MXNetError, match="input 'softmax_label'.*(complex|object)"):
        mod.forward(_batch(mx.nd.ones((4, 6)), mx.nd.NDArray(bad[:, 0])))
    with pytest.raises(MXNetError, match="eval_data.*(complex|object)"):
        mod.predict(bad)


def test_integer_and_bool_data_are_cast_as_mxnet_does():
    mod = _module()
    x = np.arange(24).reshape(4, 6) % 3
    mod.forward(_batch(mx.nd.NDArray(x), mx.nd.NDArray(np.array([0, 1, 1, 0], bool))),
                is_train=False)
    ints = mod.get_outputs()[0].asnumpy()
    mod.forward(_batch(mx.nd.array(x.astype(np.float32))), is_train=False)
    np.testing.assert_array_equal(ints, mod.get_outputs()[0].asnumpy())
    it = mx.io.NDArrayIter(x, np.array([0, 1, 2, 3]), 4)
    np.testing.assert_array_equal(mod.predict(it).asnumpy(), ints)


class _EmptyIter(mx.io.DataIter):
    provide_data = [mx.io.DataDesc("data", (4, 6))]
    provide_label = [mx.io.DataDesc("softmax_label", (4,))]

    def iter_next(self):
        return False


def test_empty_iterators_are_named():
    with pytest.raises(MXNetError, match="'data' has no rows"):
        mx.io.NDArrayIter(np.zeros((0, 6)), np.zeros(0), 4)
    with pytest.raises(MXNetError, match="'softmax_label' has 3 rows but 'data' has 4"):
        mx.io.NDArrayIter(np.zeros((4, 6)), np.zeros(3), 4)
    with pytest.raises(MXNetError, match="train_data.*_EmptyIter.*no batches"):
        mx.mod.Module(_net()).fit(_EmptyIter(4), num_epoch=1)
    with pytest.raises(MXNetError, match="train_data must be a DataIter.*list"):
        mx.mod.Module(_net()).fit([np.zeros((4, 6))], num_epoch=1)
    mod = _module()
    assert mod.predict(_EmptyIter(4)) == []             # as MXNet: nothing to predict
    name, value = mod.score(_EmptyIter(4), "acc")[0]
    assert name == "accuracy" and np.isnan(value)


def test_calls_out_of_order_say_what_to_call_first():
    mod = mx.mod.Module(_net())
    x = mx.nd.ones((4, 6))
    it = mx.io.NDArrayIter(np.ones((4, 6)), np.zeros(4), 4)
    for call, match in ((lambda: mod.predict(it), "predict: call bind\\(\\) and init_params"),
                        (lambda: mod.forward(_batch(x)), "forward: call bind"),
                        (lambda: mod.backward(), "backward: call bind"),
                        (lambda: mod.update(), "update: call bind\\(\\), init_params\\(\\) and "
                                               "init_optimizer"),
                        (lambda: mod.score(it, "acc"), "score: call bind"),
                        (lambda: mod.init_params(), "init_params: call bind")):
        with pytest.raises(MXNetError, match=match):
            call()
    mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
    with pytest.raises(MXNetError, match="forward: call init_params\\(\\) first"):
        mod.forward(_batch(x))
    with pytest.raises(MXNetError, match="init_optimizer: call init_params"):
        mod.init_optimizer()
    mod.init_params()
    with pytest.raises(MXNetError, match="update: call init_optimizer\\(\\) first"):
        mod.update()
    with pytest.raises(MXNetError, match="backward: call forward\\(\\) first"):
        mod.backward()
    mod.forward(_batch(x, mx.nd.zeros((4,))))
    mod.backward()                                      # in order: works


def test_forward_with_another_batch_size_reshapes_as_mxnet_does():
    mod = _module()
    x = np.random.RandomState(0).normal(size=(4, 6)).astype(np.float32)
    mod.forward(_batch(mx.nd.array(x)), is_train=False)
    four = mod.get_outputs()[0].asnumpy()
    mod.forward(_batch(mx.nd.array(x[:3])), is_train=False)
    assert mod.get_outputs()[0].shape == (3, 5)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), four[:3], rtol=1e-6)
    with pytest.raises(MXNetError, match="backward: call forward"):
        mod.reshape([("data", (2, 6))], [("softmax_label", (2,))])
        mod.backward()                                  # the new binding has not run forward


def test_nan_data_is_not_checked_as_in_mxnet():
    mod = _module()
    x = np.ones((4, 6), np.float32)
    x[1, 2] = np.nan
    out = mod.predict(mx.io.NDArrayIter(x, None, 4)).asnumpy()     # no error is raised
    clean = mod.predict(mx.io.NDArrayIter(np.ones((4, 6), np.float32), None, 4)).asnumpy()
    np.testing.assert_array_equal(out[[0, 2, 3]], clean[[0, 2, 3]])   # other rows untouched
