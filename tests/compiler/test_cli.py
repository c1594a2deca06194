"""`python -m mxc build` on real MXNet checkpoints."""
import subprocess
import sys

import numpy as np
import pytest

from mxc.compiler import cli

from exporthelp import make


def test_build_mlp_checkpoint(shared_dir, tmp_path):
    out = tmp_path / "gen"
    res = subprocess.run([sys.executable, "-m", "mxc", "build",
                          str(shared_dir / "mxnet" / "mx_mlp-symbol.json"), "--params",
                          str(shared_dir / "mxnet" / "mx_mlp-0003.params"), "--shape",
                          "data=1,16", "--out", str(out), "--name", "letters"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert make(out).returncode == 0
    assert make(out, "check").returncode == 0
    x = np.load(shared_dir / "mxnet" / "mx_mlp_input.npy")[:3]
    want = np.load(shared_dir / "mxnet" / "mx_mlp_pred.npy")[:3]
    text = "\n".join(" ".join(str(v) for v in row) for row in x)
    res = subprocess.run(["./letters_example", "letters.params"], cwd=out, input=text,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    got = np.array([[float(v) for v in line.split()[1:]] for line in res.stdout.splitlines()])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_build_lenet_checkpoint(shared_dir, tmp_path):
    out = tmp_path / "lenet"
    rc = cli.main(["build", str(shared_dir / "mxnet" / "lenet-symbol.json"), "--params",
                   str(shared_dir / "mxnet" / "lenet-0001.params"), "--shape",
                   "data=2,1,28,28", "--out", str(out)])
    assert rc == 0
    assert make(out).returncode == 0
    res = make(out, "check")
    assert res.returncode == 0, res.stdout + res.stderr


def test_bad_arguments(shared_dir, tmp_path, capsys):
    sym = str(shared_dir / "mxnet" / "mx_mlp-symbol.json")
    assert cli.main(["build", sym, "--params", str(tmp_path / "no.params"), "--shape",
                     "data=1,16", "--out", str(tmp_path)]) == 1
    assert "no.params" in capsys.readouterr().err
    assert cli.main(["build", sym, "--params", str(shared_dir / "mxnet" / "mx_mlp-0003.params"),
                     "--shape", "wrong=1,16", "--out", str(tmp_path)]) == 1
    assert "data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["build", sym, "--params", "x", "--shape", "data=a,b"])
