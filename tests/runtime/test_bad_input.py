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


def test_label_out_of_range():
    mod = _module()
    batch = mx.io.DataBatch([mx.nd.ones((4, 6))], [mx.nd.array([0, 1, 5, 2])])
    mod.forward(batch, is_train=True)
    with pytest.raises(MXNetError, match="softmax.*label 5.*outside"):
        mod.backward()
    it = mx.io.NDArrayIter(np.ones((8, 6)), np.array([0, 1, 2, 3, 4, 9, 1, 1]), 4)
    mod = mx.mod.Module(_net())
    with pytest.raises(MXNetError, match="label 9"):
        mod.fit(it, num_epoch=1)


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
