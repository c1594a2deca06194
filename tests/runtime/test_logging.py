"""mxc's own messages go through named loggers and never configure the root logger, so a script
that calls logging.basicConfig after its first bind still sees fit's epoch lines (as in MXNet)."""
import subprocess
import sys

SCRIPT = r"""
import logging, sys
import numpy as np
import mxc as mx
x = np.random.RandomState(0).rand(40, 5).astype(np.float32)
y = (x[:, 0] > 0.5).astype(np.float32)
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2),
                           name="softmax")
probe = mx.mod.Module(net)
probe.bind(data_shapes=[("data", (10, 5))], label_shapes=[("softmax_label", (10,))])
assert not logging.getLogger().handlers, "mxc configured the root logger"
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s|%(message)s")
mod = mx.mod.Module(net)
mod.fit(mx.io.NDArrayIter(x, y, 10), num_epoch=2, optimizer_params={"learning_rate": 0.1})
"""


def test_epoch_lines_reach_a_root_logger_configured_after_bind(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=300, env=None, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.startswith("root|Epoch[1] Train-accuracy=") for l in lines), r.stdout
    assert any(l.startswith("root|Epoch[1] Time cost=") for l in lines), r.stdout
    binds = [l for l in lines if "|bind data (10, 5)" in l]
    assert binds and all(l.startswith("mxc.") for l in binds), r.stdout
