"""Real MXNet 1.9.1 checkpoints with layer ops (LeNet, BatchNorm/Dropout MLP) reproduce MXNet's
predictions and every internal output."""
import numpy as np
import pytest

import mxc as mx
from mxc.executor import Executor

NETS = [("lenet", 1, 1e-4), ("bn_mlp", 1, 1e-4), ("mx_mlp", 3, 1e-5)]


def _load(shared_dir, prefix, epoch):
    base = shared_dir / "mxnet"
    sym, arg, aux = mx.model.load_checkpoint(str(base / prefix), epoch)
    x = np.load(base / ("%s_input.npy" % prefix))
    return sym, arg, aux, x, base


@pytest.mark.parametrize("prefix,epoch,tol", NETS)
def test_predictions_match_mxnet(shared_dir, prefix, epoch, tol):
    sym, arg, aux, x, base = _load(shared_dir, prefix, epoch)
    want = np.load(base / ("%s_pred.npy" % prefix))
    mod = mx.mod.Module(sym, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", x.shape)], for_training=False)
    mod.set_params(arg, aux)
    got = mod.predict(mx.io.NDArrayIter(x, batch_size=x.shape[0])).asnumpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("prefix,epoch,tol", NETS)
def test_every_internal_matches_mxnet(shared_dir, prefix, epoch, tol):
    sym, arg, aux, x, base = _load(shared_dir, prefix, epoch)
    internals = np.load(base / ("%s_internals.npz" % prefix))
    group = sym.get_internals()
    assert set(group.list_outputs()) == set(internals.files)
    ex = Executor(group, {"data": x.shape}, data_names=["data"], label_names=["softmax_label"],
                  for_training=False)
    for name, value in arg.items():
        ex.arg_arrays[name][...] = value.asnumpy()
    for name, value in aux.items():
        ex.aux_arrays[name][...] = value.asnumpy()
    ex.arg_arrays["data"][...] = x
    ex.arg_arrays["softmax_label"][...] = internals["softmax_label"]
    ex.forward(False)
    for name, out in zip(group.list_outputs(), ex.outputs):
        np.testing.assert_allclose(out, internals[name], rtol=tol, atol=tol, err_msg=name)
