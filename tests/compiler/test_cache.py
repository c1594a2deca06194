"""The build cache: one entry per shape signature, hits need no compiler, concurrent builds."""
import os
import subprocess
import sys
import textwrap

import pytest

import mxc as mx
from mxc.compiler import build

SCRIPT = textwrap.dedent("""
    import sys
    import mxc as mx
    from mxc.executor import Executor
    hidden, batch = int(sys.argv[1]), int(sys.argv[2])
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=hidden, name="fc")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    ex = Executor(net, {"data": (batch, 7), "softmax_label": (batch,)}, ["data"],
                  ["softmax_label"])
    print("compiled" if ex.built.compiled else "cached", ex.built.key)
""")


def _run(cache, *args, env_extra=None):
    env = dict(os.environ, MXC_CACHE_DIR=str(cache))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", SCRIPT] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=300)


def _entries(cache):
    return sorted(e for shard in cache.iterdir() if shard.is_dir() and len(shard.name) == 2
                  for e in os.listdir(shard) if not e.startswith("."))


def test_second_bind_hits_cache_without_a_compiler(tmp_path):
    first = _run(tmp_path, 11, 4)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("compiled")
    # no C compiler on PATH: the cached entry must still load
    bindir = os.path.dirname(sys.executable)
    second = _run(tmp_path, 11, 4, env_extra={"PATH": bindir})
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["cached", first.stdout.split()[1]]
    assert len(_entries(tmp_path)) == 1


def test_other_batch_size_makes_a_new_entry(tmp_path):
    a = _run(tmp_path, 12, 4)
    b = _run(tmp_path, 12, 5)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert b.stdout.startswith("compiled") and a.stdout.split()[1] != b.stdout.split()[1]
    assert len(_entries(tmp_path)) == 2


def test_two_processes_build_the_same_graph_at_once(tmp_path):
    env = dict(os.environ, MXC_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, "13", "3"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    keys = {o[0].split()[1] for o in outs}
    assert len(keys) == 1
    assert sorted(o[0].split()[0] for o in outs) in (["cached", "compiled"],
                                                     ["compiled", "compiled"])
    assert len(_entries(tmp_path)) == 1


def test_damaged_entry_is_rebuilt(tmp_path):
    first = _run(tmp_path, 14, 2)
    assert first.returncode == 0, first.stderr
    key = first.stdout.split()[1]
    entry = tmp_path / key[:2] / key
    for f in entry.iterdir():
        if f.suffix == ".so":
            f.write_bytes(b"not a library")
    again = _run(tmp_path, 14, 2)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["compiled", key]


def test_same_input_renders_the_same_bytes():
    from mxc.compiler import codegen
    from mxc.compiler.plan import make_plan
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                                     name="fc"), name="sm")
    shapes = {"data": (2, 5), "sm_label": (2,)}
    a = codegen.render(make_plan(net, shapes, ["data"], ["sm_label"]))
    b = codegen.render(make_plan(mx.sym.load_json(net.tojson()), shapes, ["data"],
                                 ["sm_label"]))
    assert a == b
    assert "fc_forward" in a[0] and "sm_backward" in a[0]


def test_compile_error_is_reported(tmp_path):
    with pytest.raises(mx.base.MXNetError, match="compilation"):
        build.build("int broken( {", "", "int f(void);", root=str(tmp_path))
    assert _entries(tmp_path) == []


def test_a_seen_bind_loads_without_rendering(tmp_path):
    """The second process finds the library by fingerprint: no Jinja, no compiler."""
    probe = SCRIPT + "\nprint('jinja2' in sys.modules)\n"
    env = dict(os.environ, MXC_CACHE_DIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", probe, "15", "3"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "compiled" and first.stdout.split()[-1] == "True"
    second = subprocess.run([sys.executable, "-c", probe, "15", "3"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["cached", first.stdout.split()[1], "False"]
    # a changed graph (other hidden size) is a different fingerprint: it renders and compiles
    third = subprocess.run([sys.executable, "-c", probe, "16", "3"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert third.stdout.split()[0] == "compiled", third.stderr
