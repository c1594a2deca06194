"""tools/mxnet_tests.py on a fake MXNet checkout: the shim maps `mxnet` to mxc, outcomes count."""
import json
import pathlib
import subprocess
import sys
import textwrap

_TOOL = pathlib.Path(__file__).resolve().parents[2] / "tools" / "mxnet_tests.py"

_MAPPED = '''
import mxnet as mx
import mxnet.sym
from mxnet.base import MXNetError
import mxc


def test_mxnet_is_mxc():
    assert mx is mxc
    assert mxnet.sym is mxc.sym
    assert MXNetError is mxc.base.MXNetError
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias"]


def test_wrong_number():
    assert mx.sym.Variable("x").name == "y"


def test_missing_submodule():
    import mxnet.notamodule  # noqa: F401


def test_slow():
    import time
    time.sleep(30)


def test_sparse_storage_thing():
    raise RuntimeError("deselected by name, never run")


def test_uses_helper():
    _helper()


def _helper():
    return "mx.autograd.record"  # the word autograd, reached through a helper
'''

_BROKEN_IMPORT = '''
from mxnet import notaname


def test_one():
    pass


def test_two():
    pass
'''


def _fake_checkout(root):
    unittest_dir = root / "tests" / "python" / "unittest"
    unittest_dir.mkdir(parents=True)
    (unittest_dir / "test_mapped.py").write_text(textwrap.dedent(_MAPPED))
    (unittest_dir / "test_broken.py").write_text(textwrap.dedent(_BROKEN_IMPORT))
    return root


def _run_tool(checkout, *args):
    done = subprocess.run([sys.executable, str(_TOOL), str(checkout)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout
    return done.stdout


def test_shim_routes_mxnet_to_mxc_and_counts_outcomes(tmp_path):
    out = _run_tool(_fake_checkout(tmp_path), "test_mapped", "test_broken", "--timeout", "2")
    lines = out.splitlines()
    assert "test_mapped: 2 passed, 3 failed, 0 errors, 0 skipped" in lines, out
    assert "  deselected 1 (about sparse storage)" in lines, out
    assert "test_uses_helper [autograd]" in out
    assert "test_broken: 0 passed, 0 failed, 2 errors, 0 skipped" in lines, out
    assert "TOTAL: 2 passed, 3 failed, 2 errors, 0 skipped" in out
    assert "No module named 'mxnet.notamodule' (mxc has no 'mxc.notamodule')" in out
    assert "TestTimeout: test ran past the N s per-test limit" in out
    assert "cannot import name 'notaname' from 'mxc'" in out
    assert "slowest: test_slow" in out


def test_missing_checkout_is_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, str(_TOOL), str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)
    assert done.returncode != 0
    assert "expected an apache/mxnet checkout" in done.stdout


_PLAIN = '''
import mxnet


def test_passes_on_both():
    assert mxnet.__name__ in ("mxnet", "mxc")


def test_passes_only_on_the_reference():
    assert getattr(mxnet, "__version__", "") == "9.9.9"


def test_fails_on_both():
    assert False
'''


def test_reference_run_records_outcomes_and_mxc_runs_compare(tmp_path):
    checkout = tmp_path / "checkout"
    unittest_dir = checkout / "tests" / "python" / "unittest"
    unittest_dir.mkdir(parents=True)
    (unittest_dir / "test_plain.py").write_text(textwrap.dedent(_PLAIN))
    fake = tmp_path / "fake_mxnet"
    (fake / "mxnet").mkdir(parents=True)
    (fake / "mxnet" / "__init__.py").write_text("__version__ = '9.9.9'\n")
    outcomes = tmp_path / "outcomes.json"
    env_path = "PYTHONPATH=%s" % fake
    done = subprocess.run(["env", env_path, sys.executable, str(_TOOL), str(checkout),
                           "test_plain", "--reference-python", sys.executable,
                           "--outcomes", str(outcomes)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout
    assert "test_plain: 2 passed, 1 failed" in done.stdout, done.stdout
    recorded = json.loads(outcomes.read_text())
    assert recorded["recorded_with"].startswith("mxnet 9.9.9")
    assert recorded["outcomes"]["test_plain"] == {
        "test_passes_on_both": "passed", "test_passes_only_on_the_reference": "passed",
        "test_fails_on_both": "failure"}
    out = _run_tool(checkout, "test_plain", "--outcomes", str(outcomes))
    assert "test_plain: 1 passed, 2 failed" in out, out
    assert ("  of the 2 passing on MXNet 1.9.1: 1 pass "
            "(not: test_passes_only_on_the_reference)") in out, out
    assert "of the 2 tests that pass on MXNet 1.9.1 (outcomes.json): 1 pass (50%)" in out, out
