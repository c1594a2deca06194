"""mx.util's NumPy shape-semantics switch, against JSON written by real MXNet 1.9.1."""
import pathlib

import pytest

import mxc as mx

RECORDED = pathlib.Path(__file__).parent / "mxnet_recorded"


def fc_graph():
    return mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=3, name="fc")


def test_np_shape_json_matches_mxnet_byte_for_byte():
    # written by MXNet 1.9.1 inside `with mx.util.np_shape(True):`
    expected = (RECORDED / "fc_np_shape.json").read_text()
    with mx.util.np_shape(True):
        assert mx.util.is_np_shape()
        assert fc_graph().tojson() == expected
    assert not mx.util.is_np_shape()
    assert '"is_np_shape"' not in fc_graph().tojson()
    assert mx.sym.load_json(expected).tojson() != expected  # legacy scope writes no flag


def test_np_shape_scope_restores_on_error_and_nests():
    with pytest.raises(RuntimeError):
        with mx.util.np_shape(True):
            with mx.util.np_shape(False):
                assert not mx.util.is_np_shape()
            assert mx.util.is_np_shape()
            raise RuntimeError("inside")
    assert not mx.util.is_np_shape()


def test_use_np_shape_decorates_functions_and_classes():
    @mx.util.use_np_shape
    def flag():
        return mx.util.is_np_shape()

    @mx.util.use_np_shape
    class Probe:
        def flag(self):
            return mx.util.is_np_shape()

    assert flag() and Probe().flag()
    assert mx.test_utils.use_np(flag)()
    assert not mx.util.is_np_shape()


def test_np_shape_inference_and_zero_size_refused():
    net = fc_graph()
    with mx.util.np_shape(True):
        args, outs, _ = net.infer_shape(data=(4, 5))
        assert args == [(4, 5), (3, 5), (3,)] and outs == [(4, 3)]
        with pytest.raises(mx.MXNetError, match="'data'.*zero-size"):
            net.infer_shape(data=(4, 0))
    assert net.infer_shape(data=(4, 5))[1] == [(4, 3)]


def test_gluon_imports_and_refuses_use_by_name():
    from mxc import gluon
    with pytest.raises(AttributeError, match="gluon.loss.*not part of mxc"):
        gluon.loss
