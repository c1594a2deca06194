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


def _letters_module(shared_dir, optimizer, optimizer_params):
    import mxc as mx
    sym, arg, aux = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    mod = mx.mod.Module(sym)
    mod.bind(data_shapes=[("data", (32, 16))], label_shapes=[("softmax_label", (32,))])
    mod.init_params(arg_params=arg, aux_params=aux)
    mod.init_optimizer(optimizer=optimizer, optimizer_params=optimizer_params)
    return mod


def _schedulers():
    import mxc as mx
    return {"factor": lambda: mx.lr_scheduler.FactorScheduler(step=10, factor=0.5,
                                                              warmup_steps=5,
                                                              warmup_begin_lr=0.0001),
            "cosine": lambda: mx.lr_scheduler.CosineScheduler(max_update=50, final_lr=1e-5,
                                                              warmup_steps=4),
            "multifactor": lambda: mx.lr_scheduler.MultiFactorScheduler(step=[20, 40],
                                                                        factor=0.3)}


@pytest.mark.parametrize("optimizer,params,sched", [
    ("adam", {"learning_rate": 0.003, "wd": 0.001}, "factor"),
    ("rmsprop", {"learning_rate": 0.002, "gamma1": 0.8, "clip_gradient": 1.0}, "cosine"),
    ("rmsprop", {"learning_rate": 0.001, "centered": True, "wd": 0.01}, "multifactor"),
    ("nadam", {"learning_rate": 0.002}, None),
])
def test_trainer_optimizers_match_module_fit(shared_dir, tmp_path, optimizer, params, sched):
    """Module.export(kind='trainer') bakes in the module's optimizer, multipliers and schedule:
    one epoch of the C trainer equals one epoch of Module.fit in the same batch order."""
    import mxc as mx
    x, y, path = _letters(shared_dir)
    rows = 1984                                          # 62 whole batches of 32
    params = dict(params)
    if sched:
        params["lr_scheduler"] = _schedulers()[sched]()
    mod = _letters_module(shared_dir, optimizer, params)
    mod.export(str(tmp_path), kind="trainer", name="opt")
    res = make(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["./opt_train", "--train", str(path), "--train-rows", "0:%d" % rows,
                          "--params", "opt.params", "--epochs", "1", "--no-shuffle",
                          "--prefix", "ck"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    train = mx.io.NDArrayIter(x[:rows], y[:rows], batch_size=32, shuffle=False)
    mod.fit(train, num_epoch=1)
    want, _ = mod.get_params()
    _, got, _ = mx.model.load_checkpoint(str(tmp_path / "ck"), 1)
    moved = 0.0
    _, start, _ = mx.model.load_checkpoint(str(shared_dir / "mxnet" / "mx_mlp"), 3)
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k].asnumpy(), atol=1e-5, err_msg=k)
        moved = max(moved, float(np.abs(want[k].asnumpy() - start[k].asnumpy()).max()))
    assert moved > 1e-3                                  # the epoch really trained


def test_trainer_cli_optimizer_flags(shared_dir, tmp_path):
    """python -m mxc build --trainer with adam constants and a poly schedule writes them into
    the trainer's defaults; the C trainer rejects unknown --opt keys."""
    from mxc.compiler import cli
    sym_path = shared_dir / "mxnet" / "mx_mlp-symbol.json"
    rc = cli.main(["build", str(sym_path), "--params",
                   str(shared_dir / "mxnet" / "mx_mlp-0003.params"), "--shape", "data=32,16",
                   "--shape", "softmax_label=32", "--out", str(tmp_path), "--name", "cl",
                   "--trainer", "--optimizer", "adam", "--opt-param", "beta1=0.75",
                   "--lr-scheduler", "poly", "--max-update", "100", "--pwr", "3"])
    assert rc == 0
    src = (tmp_path / "cl.c").read_text()
    assert "c->opt[4] = 0.75;   /* beta1 */" in src
    assert "c->scheduler = 3;   /* poly */" in src and "c->pwr = 3.0;" in src
    assert "c->lr = 0.001;" in src                       # Adam's default learning rate
    res = make(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(["./cl_train", "--train", "x.csv", "--params", "cl.params", "--opt",
                          "gamma1=0.5"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2 and "beta1 beta2 epsilon" in res.stderr
    with pytest.raises(SystemExit):
        cli.main(["build", str(sym_path), "--params", "p", "--shape", "data=1,16",
                  "--opt-param", "beta1"])


def test_trainer_readers_and_options_refuse_bad_input(trainer_dir, tmp_path):
    """CSV rows that are too long, too wide or not numeric are errors at file:line; IDX and raw
    headers that disagree with the file size are errors; numeric options are parsed strictly."""
    import struct
    row = ",".join(["1"] * 16)

    def train(*args):
        return subprocess.run(["./tut_train", "--params", "tut.params", "--epochs", "1",
                               "--prefix", str(tmp_path / "ck")] + list(args),
                              cwd=trainer_dir, capture_output=True, text=True, timeout=60)

    cases = {"A,%s\n0,1,x%s\n" % (row, row[1:]): ":2: column 2 is not a number",
             "A,%s,7\n" % row: ":1: more than 17 columns",
             "A,%s\n\nB,%s\n" % (row, row[:-2]): ":3: 16 columns, the graph takes 16 features",
             "nan,%s\n" % row: ":1: label (column 0) is not a letter or a finite number",
             "A," + "1" * 9000 + "\n": ":1: line longer than",
             "A,1\0,%s\n" % row: ":1: contains a NUL byte"}
    for text, want in cases.items():
        path = tmp_path / "bad.csv"
        path.write_bytes(text.encode())
        res = train("--train", str(path))
        assert res.returncode == 1 and str(path) + want in res.stderr, (want, res.stderr)
    images = tmp_path / "img.idx"
    labels = tmp_path / "lab.idx"
    images.write_bytes(struct.pack(">IIII", 0x803, 2, 4, 4) + bytes(2 * 16 + 1))
    labels.write_bytes(struct.pack(">II", 0x801, 2) + bytes(2))
    res = train("--format", "idx", "--train", str(images), "--train-labels", str(labels))
    assert res.returncode == 1 and "announces 2 items of 16 bytes, the file holds 33" in res.stderr
    raw = tmp_path / "x.raw"
    raw.write_bytes(b"MXCF32\n\0" + struct.pack("<I2Q", 2, 2 ** 62 + 1, 16) + bytes(64))
    res = train("--format", "raw", "--train", str(raw), "--train-labels", str(raw))
    assert res.returncode == 1 and "at most 2^48" in res.stderr
    good = tmp_path / "ok.csv"
    good.write_text(("A,%s\n" % row) * 40)
    for opt, value, want in (("--epochs", "2x", "expected an integer in [0, 1000000]"),
                             ("--label-column", "17", "expected an integer in [0, 16]"),
                             ("--lr", "nan", "expected a finite number"),
                             ("--seed", "-1", "expected an integer"),
                             ("--lr-steps", "10,5x", "comma-separated integers >= 1")):
        res = train("--train", str(good), opt, value)
        assert res.returncode == 2 and want in res.stderr, (opt, res.stderr)
    res = train("--train", str(good), "--train-rows", "5:x")
    assert res.returncode == 1 and "expected A:B with 0 <= A < B <= 40" in res.stderr
    order = tmp_path / "order.txt"
    order.write_text(" ".join(str(i) for i in range(39)) + " 40\n")
    res = train("--train", str(good), "--order", str(order))
    assert res.returncode == 1 and "entry 39 ('40') is not a row index in [0, 40)" in res.stderr
    order.write_text(" ".join(str(i) for i in range(40)) + "\n")
    res = train("--train", str(good), "--order", str(order))
    assert res.returncode == 0, res.stderr
