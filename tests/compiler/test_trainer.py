"""Standalone trainer: same parameters as Module.fit after one epoch, MXNet-loadable checkpoints."""
import subprocess

import numpy as np
import pytest

from mxc.compiler import export, symbol

from exporthelp import make


def _letters(shared_dir):
    path = shared_dir / "data" / "letter-recognition.data"
    rows = [line.strip().split(",") for line in open(path) if line.strip()]
    y = np.array([ord(r[0]) - ord("A") for r in rows], dtype=np.float32)
    x = np.array([[float(v) for v in r[1:]] for r in rows], dtype=np.float32)
    return x, y, path


@pytest.fixture(scope="module")
def trainer_dir(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trainer")
    sym = symbol.load(str(shared_dir / "mxnet" / "mx_mlp-symbol.json"))
    arg, aux = export.read_params(str(shared_dir / "mxnet" / "mx_mlp-0003.params"))
    export.export(sym, arg, aux, {"data": (32, 16), "softmax_label": (32,)}, str(out),
                  name="tut", kind="trainer", optimizer="sgd",
                  optimizer_params={"learning_rate": 0.1})
    res = make(out)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_trainer_matches_module_fit(trainer_dir, shared_dir):
    import mxc as mx
    x, y, path = _letters(shared_dir)
    res = subprocess.run(["./tut_train", "--train", str(path), "--train-rows", "0:16000",
                          "--val", str(path), "--val-rows", "16000:20000", "--params",
                          "tut.params", "--epochs", "1", "--no-shuffle", "--prefix", "ck"],
                         cwd=trainer_dir, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("Epoch[0] Train-accuracy=")
    assert lines[1].startswith("Epoch[0] Time cost=")
    assert lines[-1].startswith("Epoch[0] Validation-accuracy=")
    c_val = float(lines[-1].split("=")[1])

    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mod = mx.mod.Module(sym)
    train = mx.io.NDArrayIter(x[:16000], y[:16000], batch_size=32, shuffle=False)
    mod.fit(train, num_epoch=1, arg_params=arg, aux_params=aux, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1})
    want, _ = mod.get_params()
    _, got, _ = mx.model.load_checkpoint(str(trainer_dir / "ck"), 1)
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k].asnumpy(), atol=1e-5, err_msg=k)
    val = mx.io.NDArrayIter(x[16000:], y[16000:], batch_size=32)
    score = dict(mod.score(val, "acc"))["accuracy"]
    assert abs(score - c_val) < 1e-3


def test_trainer_resume_and_shuffle(trainer_dir, shared_dir):
    _, _, path = _letters(shared_dir)
    base = ["./tut_train", "--train", str(path), "--train-rows", "0:2000", "--seed", "7"]
    res = subprocess.run(base + ["--params", "tut.params", "--epochs", "1", "--prefix", "a"],
                         cwd=trainer_dir, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(base + ["--params", "a-0001.params", "--begin-epoch", "1", "--epochs",
                                 "2", "--prefix", "a"], cwd=trainer_dir, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("Epoch[1] Train-accuracy="), res.stderr
    assert (trainer_dir / "a-0002.params").exists() and (trainer_dir / "a-symbol.json").exists()
    res = subprocess.run(["./tut_train", "--train", "nope.csv", "--params", "tut.params"],
                         cwd=trainer_dir, capture_output=True, text=True)
    assert res.returncode != 0 and "cannot open data file 'nope.csv'" in res.stderr
    res = subprocess.run(base + ["--params", "tut.params", "--batch-size", "64"],
                         cwd=trainer_dir, capture_output=True, text=True)
    assert res.returncode == 2 and "batch size 32" in res.stderr
