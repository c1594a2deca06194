"""Checkpoints: MXNet's own files load and predict as MXNet did; ours are byte-compatible."""
import numpy as np
import pytest

import mxc as mx


def _mlp_module(shared_dir, batch=64):
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.bind(data_shapes=[("data", (batch, 16))], for_training=False)
    mod.set_params(arg, aux)
    return mod, sym, arg, aux


def test_mxnet_mlp_predictions(shared_dir):
    mod, *_ = _mlp_module(shared_dir)
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy")
    want = np.load(shared_dir / "mxnet" / "mx_mlp_pred.npy")
    got = mod.predict(mx.io.NDArrayIter(x, batch_size=64))
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-5)
    # an odd batch size: a padded last batch, trimmed by predict
    mod2, *_ = _mlp_module(shared_dir, batch=24)
    got2 = mod2.predict(mx.io.NDArrayIter(x, batch_size=24))
    assert got2.shape == want.shape
    np.testing.assert_allclose(got2.asnumpy(), want, rtol=1e-5, atol=1e-5)


def test_mxnet_mlp_internals(shared_dir):
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    internals = np.load(shared_dir / "mxnet" / "mx_mlp_internals.npz")
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy")
    group = sym.get_internals()
    outputs = [n for n in group.list_outputs() if n.endswith("_output")]
    mod = mx.mod.Module(mx.sym.Group([group[n] for n in outputs]), label_names=None)
    mod.bind(data_shapes=[("data", x.shape)], for_training=False)
    mod.set_params(arg, aux, allow_missing=True)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    for name, out in zip(outputs, mod.get_outputs()):
        np.testing.assert_allclose(out.asnumpy(), internals[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_params_bytes_equal_mxnet(shared_dir, tmp_path):
    src = shared_dir / "mxnet" / "mx_mlp-0003.params"
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mx.model.save_checkpoint(str(tmp_path / "copy"), 3, sym, arg, aux)
    assert (tmp_path / "copy-0003.params").read_bytes() == src.read_bytes()
    assert (tmp_path / "copy-symbol.json").read_text() == sym.tojson()


def test_module_checkpoint_roundtrip(shared_dir, tmp_path):
    mod, sym, arg, aux = _mlp_module(shared_dir)
    prefix = str(tmp_path / "mine")
    mod.save_checkpoint(prefix, 7)
    sym2, arg2, aux2 = mx.model.load_checkpoint(prefix, 7)
    assert sym2.tojson() == sym.tojson()
    assert sorted(arg2) == sorted(arg)
    for k in arg:
        np.testing.assert_array_equal(arg2[k].asnumpy(), arg[k].asnumpy())
    loaded = mx.mod.Module.load(prefix, 7)
    loaded.bind(data_shapes=[("data", (64, 16))], for_training=False)
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy")
    np.testing.assert_array_equal(loaded.predict(mx.nd.array(x)).asnumpy(),
                                  mod.predict(mx.nd.array(x)).asnumpy())


def test_interrupted_checkpoint_keeps_the_old_file(shared_dir, tmp_path, monkeypatch):
    mod, *_ = _mlp_module(shared_dir)
    prefix = str(tmp_path / "ck")
    mod.save_checkpoint(prefix, 1)
    before = (tmp_path / "ck-0001.params").read_bytes()
    import mxc.ndarray as ndmod

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(ndmod, "_record_bytes", boom)
    with pytest.raises(KeyboardInterrupt):
        mod.save_checkpoint(prefix, 1)
    assert (tmp_path / "ck-0001.params").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-0001.params", "ck-symbol.json"]
