"""MXNet 1.9's example scripts, unchanged, through tools/mxnet_examples.py.

The scripts come from an MXNet source checkout named by the environment variable
MXNET_CHECKOUT; without it those tests are skipped. The runner itself is tested on a small
stand-in example folder either way.
"""
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tools" / "mxnet_examples.py"
CHECKOUT = os.environ.get("MXNET_CHECKOUT")

needs_checkout = pytest.mark.skipif(
    not CHECKOUT or not os.path.isdir(os.path.join(CHECKOUT or "", "example")),
    reason="set MXNET_CHECKOUT to an MXNet 1.9 source tree to run its example scripts")


def run(checkout, *specs, extra=(), timeout=600):
    proc = subprocess.run([sys.executable, str(RUNNER), str(checkout), *specs,
                           "--lines", "50", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout


def last_value(pattern, text):
    values = [float(v) for v in re.findall(pattern, text)]
    assert values, text
    return values[-1]


STAND_IN = textwrap.dedent('''
    import logging
    import numpy as np
    import numba
    import mxnet as mx
    logging.basicConfig(level=logging.INFO)

    @numba.jit
    def double(x):
        return 2 * x

    raw = np.arange(4, dtype=np.int8).tobytes()
    values = np.fromstring(raw, dtype=np.int8)          # NumPy 1.x binary reading
    ctx = mx.context.gpu(1)
    for speed in (100.0, 300.0):
        logging.info("Epoch[0] Batch [0-1]\tSpeed: %.2f samples/sec\taccuracy=1.0", speed)
    out = mx.nd.array(values.astype(np.float32), ctx=ctx) + 1
    logging.info("Epoch[0] Validation-accuracy=%f on %s by %s", double(out.asnumpy().sum()) / 100,
                 ctx, mx.__name__)
''')


def test_runner_on_a_stand_in_checkout(tmp_path):
    folder = tmp_path / "example" / "demo"
    folder.mkdir(parents=True)
    (folder / "demo.py").write_text(STAND_IN)
    code, out = run(tmp_path, "demo/demo.py", extra=["--gpu-as-cpu"], timeout=120)
    assert code == 0, out
    assert "== demo/demo.py: ok" in out
    # 2 * (1+2+3+4) / 100, computed by mxc standing for mxnet, on the stand-in context
    assert "Epoch[0] Validation-accuracy=0.200000 on cpu(1) by mxc" in out
    assert "mx.gpu(i) runs as mx.cpu(i)" in out
    assert "mean Speedometer speed: 200.0 samples/s over 2 reports" in out
    code, out = run(tmp_path, "demo/demo.py", timeout=120)
    assert code == 0, out
    assert "Epoch[0] Validation-accuracy=0.200000 on gpu(1) by mxc" in out
    assert "mx.gpu(i) runs as mx.cpu(i)" not in out


def test_runner_reports_a_failing_script(tmp_path):
    folder = tmp_path / "example" / "demo"
    folder.mkdir(parents=True)
    (folder / "bad.py").write_text("import mxnet as mx\nmx.sym.NoSuchOperator()\n")
    code, out = run(tmp_path, "demo/bad.py", timeout=120)
    assert code == 1
    assert "== demo/bad.py: FAILED" in out and "NoSuchOperator" in out


@needs_checkout
def test_module_mnist_mlp():
    code, out = run(CHECKOUT, "module/mnist_mlp.py")
    assert code == 0, out
    # MXNet's default Uniform(0.01) start learns slowly: about 0.85 after the 2 epochs
    assert last_value(r"Epoch\[1\] Validation-accuracy=([0-9.]+)", out) > 0.8
    assert last_value(r"validation Accuracy: ([0-9.]+)", out) > 0.8


@needs_checkout
def test_module_sequential_module_on_cpu_contexts():
    code, out = run(CHECKOUT, "module/sequential_module.py", extra=["--gpu-as-cpu"])
    assert code == 0, out
    assert last_value(r"Epoch\[1\] Validation-accuracy=([0-9.]+)", out) > 0.8


@needs_checkout
def test_image_classification_train_mnist_mlp():
    code, out = run(CHECKOUT, "image-classification/train_mnist.py --network mlp "
                              "--num-epochs 1")
    assert code == 0, out
    assert "Speed:" in out and "samples/sec" in out
    assert last_value(r"Epoch\[0\] Validation-accuracy=([0-9.]+)", out) > 0.95
