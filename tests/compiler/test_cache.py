"""The build cache: one entry per shape signature, hits need no compiler, concurrent builds;
planted, damaged and stale entries are rebuilt or refused, never loaded."""
import errno
import hashlib
import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import time

import pytest

import mxc as mx
from mxc.compiler import build, target
from mxc.compiler.target import CTarget, Rendered

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
        CTarget().build(Rendered("int broken( {", "", "int f(void);"), root=str(tmp_path))
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


# ---- planted and damaged entries: rebuilt or refused, never loaded -------------------------
# Each planted library carries a constructor that writes a marker file when it is loaded, and
# its meta.json is updated to its sha256, so only the rule under test stands between it and a
# load. The binds run in fresh processes (nothing loaded yet).

FOREIGN_UID = 12345

PAYLOAD_C = """
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) fclose(f);
}
"""


def _entry(cache, key):
    return cache / key[:2] / key


def _library(entry):
    return next(f for f in entry.iterdir() if f.suffix == ".so")


def _plant_payload(entry, marker, tmp_path):
    """Replace the entry's library by one that writes `marker` when loaded; meta.json then
    records the planted library's sha256."""
    src = tmp_path / "planted.c"
    src.write_text(PAYLOAD_C % marker)
    lib = _library(entry)
    cc = target.compiler_command().split()
    subprocess.run(cc + ["-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    meta = json.loads((entry / "meta.json").read_text())
    meta["sha256"] = hashlib.sha256(lib.read_bytes()).hexdigest()
    (entry / "meta.json").write_text(json.dumps(meta))


def _chown_tree(path, uid):
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), uid, -1)
    os.lchown(path, uid, -1)


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="planting a foreign-owned entry "
                                "needs root (chown)")


def _first_bind(cache, hidden, batch=2):
    first = _run(cache, hidden, batch)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("compiled")
    return first.stdout.split()[1]


@needs_root
def test_foreign_owned_entry_is_replaced_not_loaded(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    key = _first_bind(cache, 31)
    _plant_payload(_entry(cache, key), marker, tmp_path)
    _chown_tree(_entry(cache, key), FOREIGN_UID)
    again = _run(cache, 31, 2)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["compiled", key]
    assert not marker.exists()
    assert _entry(cache, key).stat().st_uid == os.getuid()
    assert "owned by uid %d" % FOREIGN_UID in again.stderr       # the warning


@needs_root
def test_foreign_owned_shard_builds_privately(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    key = _first_bind(cache, 32)
    _plant_payload(_entry(cache, key), marker, tmp_path)
    _chown_tree(cache / key[:2], FOREIGN_UID)
    probe = SCRIPT + "\nprint(ex.built.path)\n"
    again = subprocess.run([sys.executable, "-c", probe, "32", "2"], capture_output=True,
                           text=True, timeout=300, env=dict(os.environ, MXC_CACHE_DIR=str(cache)))
    assert again.returncode == 0, again.stderr
    compiled, got, path = again.stdout.split()
    assert (compiled, got) == ("compiled", key)
    assert not path.startswith(str(cache))
    assert not marker.exists()
    assert not os.path.exists(path)                # the private folder goes with the process


@pytest.mark.parametrize("loose", ["entry", "library", "meta.json"])
def test_group_or_world_writable_entry_is_rebuilt(tmp_path, loose):
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    key = _first_bind(cache, 33)
    entry = _entry(cache, key)
    _plant_payload(entry, marker, tmp_path)
    target = {"entry": entry, "library": _library(entry), "meta.json": entry / "meta.json"}
    os.chmod(target[loose], target[loose].stat().st_mode | 0o022)
    again = _run(cache, 33, 2)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["compiled", key]
    assert not marker.exists()
    assert (entry.stat().st_mode & 0o777) == 0o700


def test_fingerprint_pointing_at_another_graphs_library_is_a_miss(tmp_path):
    """The poisoned fingerprint would load a library of another shape (wrong outputs, writes
    past the arena); the bind renders instead and gets its own entry."""
    cache = tmp_path / "cache"
    probe = SCRIPT + textwrap.dedent("""
        import numpy as np
        ex.arg_arrays["data"][...] = np.arange(batch * 7).reshape(batch, 7) % 5
        for name in ("fc_weight", "fc_bias"):
            a = ex.arg_arrays[name]
            a[...] = (np.arange(a.size).reshape(a.shape) % 3) - 1
        ex.forward(is_train=False)
        logits = ex.arg_arrays["data"] @ ex.arg_arrays["fc_weight"].T + ex.arg_arrays["fc_bias"]
        want = np.exp(logits - logits.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        print(np.allclose(ex.outputs[0], want, atol=1e-5), "jinja2" in sys.modules)
    """)
    env = dict(os.environ, MXC_CACHE_DIR=str(cache))

    def bind(hidden):
        out = subprocess.run([sys.executable, "-c", probe, str(hidden), "3"], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    first = bind(34)
    fps = list((cache / "fingerprints").rglob("*"))
    fp_file = next(f for f in fps if f.is_file())
    other = bind(35)
    assert other[1] != first[1]
    fp_file.write_text(other[1])                   # A's fingerprint now names B's library
    again = bind(34)
    assert again[1] == first[1], "bound another graph's library"
    assert again[2:] == ["True", "True"]           # correct outputs; it rendered
    assert fp_file.read_text() == first[1]         # and the fingerprint was put right


def test_library_garbled_in_the_middle_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    key = _first_bind(cache, 36)
    lib = _library(_entry(cache, key))
    data = bytearray(lib.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes((b ^ 0x5A) for b in data[mid:mid + 4096])
    with open(lib, "r+b") as f:                    # in place: owner and mode unchanged
        f.write(data)
    again = _run(cache, 36, 2)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["compiled", key]
    meta = json.loads((_entry(cache, key) / "meta.json").read_text())
    assert hashlib.sha256(_library(_entry(cache, key)).read_bytes()).hexdigest() == meta["sha256"]


def test_planted_template_cache_is_never_loaded(tmp_path):
    """Files where Jinja's bytecode cache would live (`<cache>/.templates`), in its format and
    named for every packaged template, each holding a pickle that writes a marker when read."""
    from importlib import resources
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    folder = cache / ".templates"
    folder.mkdir(parents=True)
    root = str(resources.files("mxc.compiler.templates"))

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    planted = b"j2\x80\x02K\x05.\x80\x02J\x0b\x00\x00\x03." + pickle.dumps(Payload(), 2)
    for parent, _, files in os.walk(root):
        for f in files:
            if f.endswith(".j2"):
                path = os.path.join(parent, f)
                name = os.path.relpath(path, root).replace(os.sep, "/")
                for key in (hashlib.sha1(name.encode()).hexdigest(),
                            hashlib.sha1(("%s|%s" % (name, os.path.normpath(path)))
                                         .encode()).hexdigest()):
                    (folder / (".jinja2-%s.cache" % key)).write_bytes(planted)
    assert len(list(folder.iterdir())) > 10
    out = _run(cache, 37, 2)                       # a new graph: it renders every template
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("compiled")
    assert not marker.exists()


def test_cache_folders_and_files_are_private_under_umask_000(tmp_path):
    root = tmp_path / "new" / "cache"
    code = textwrap.dedent("""
        import os, sys
        os.umask(0)
        from mxc.compiler.target import CTarget, Rendered
        built = CTarget().build(Rendered("int f(void) { return 3; }", "int f(void);",
                                         "int f(void);"), root=sys.argv[1])
        assert built.lib.f() == 3
        built.target.remember("ab" * 32, built, root=sys.argv[1])
    """)
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    modes = {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in root.rglob("*")}
    modes["."] = root.stat().st_mode & 0o777
    assert len(modes) > 8
    bad = {p: oct(m) for p, m in modes.items()
           if m != (0o700 if (root / p).is_dir() else 0o600)}
    assert not bad


# ---- temporary folders and files: removed on failure, swept when stale --------------------

def _tiny(root, **kw):
    return CTarget(**kw).build(Rendered("int f(void) { return 7; }", "int f(void);",
                                        "int f(void);"), root=str(root))


def _leftovers(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*")
                  if p.name.startswith((".build-", ".tmp-")))


def test_interrupted_build_leaves_no_build_folder(tmp_path, monkeypatch):
    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "run_compiler", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _tiny(tmp_path, flags=["-O0"])
    assert _leftovers(tmp_path) == []
    assert _entries(tmp_path) == []


def test_stale_build_folders_are_swept_live_ones_kept(tmp_path, hold_lock):
    built = _tiny(tmp_path, flags=["-O0"])
    shard = pathlib.Path(built.path).parent
    dead, live = "1" * 64, "2" * 64
    (shard / (".build-%s-abc" % dead)).mkdir()
    (shard / (".build-%s-abc" % dead) / "mxc.c").write_text("left by a killed build")
    (shard / (".build-%s-xyz" % live)).mkdir()
    holder = hold_lock(shard / (".%s.lock" % live))
    try:
        build._LOADED.clear()                      # bind into that shard again
        again = _tiny(tmp_path, flags=["-O0"])
        assert not again.compiled
        assert _leftovers(tmp_path) == [os.path.join(shard.name, ".build-%s-xyz" % live)]
    finally:
        holder.stdin.close()
        holder.wait()


def test_build_killed_with_sigkill_is_swept_by_the_next_bind(tmp_path):
    """A compiler that hangs while a flag file exists; the build is killed with -9."""
    flag = tmp_path / "hang"
    fake = tmp_path / "cc.sh"
    fake.write_text("#!/bin/sh\nwhile [ -e %s ]; do sleep 0.05; done\nexec %s \"$@\"\n"
                    % (flag, target.compiler_command()))
    fake.chmod(0o755)
    flag.touch()
    env = dict(os.environ, CC=str(fake))
    code = ("import sys\nfrom mxc.compiler.target import CTarget, Rendered\n"
            "CTarget(flags=['-O0']).build(Rendered('int f(void) { return 7; }', "
            "'int f(void);', 'int f(void);'), root=sys.argv[1])\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "c")], env=env)
    deadline = time.monotonic() + 60
    while not [p for p in _leftovers(tmp_path / "c") if ".build-" in p]:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert _leftovers(tmp_path / "c")              # what the killed build left
    flag.unlink()
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _leftovers(tmp_path / "c") == []
    assert len(_entries(tmp_path / "c")) == 1


def test_full_disk_is_a_clear_error_that_leaves_nothing(tmp_path, monkeypatch):
    from mxc.compiler import fileio

    def full(fd, data):
        os.write(fd, bytes(data[:len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "_write_all", full)
    with pytest.raises(mx.base.MXNetError, match="no space left"):
        _tiny(tmp_path, flags=["-O1"])
    assert _leftovers(tmp_path) == []
    assert _entries(tmp_path) == []


# ---- compiler output ----------------------------------------------------------------------

CHATTY = """#!%s
import sys
if "--version" in sys.argv:
    print("fake compiler 1.0")
    sys.exit(0)
for i in range(30000):
    print("noise.c:%%d: error: line %%d of a very chatty compiler" %% (i, i))
sys.exit(1)
"""

TINY = 'Rendered("int f(void) { return 7; }", "", "int f(void);")'
BUILDS = {"cc": ("CC", 'CTarget().build(%s, root=sys.argv[1])' % TINY),
          "nvcc": ("NVCC", 'CudaTarget(arch="80").build(%s, root=sys.argv[1])' % TINY)}


@pytest.mark.parametrize("compiler", sorted(BUILDS))
def test_megabytes_of_compiler_output_fail_promptly_with_the_first_lines(tmp_path, compiler):
    fake = tmp_path / "chatty"
    fake.write_text(CHATTY % sys.executable)
    fake.chmod(0o755)
    var, call = BUILDS[compiler]
    code = textwrap.dedent("""
        import sys
        from mxc.compiler.target import CTarget, CudaTarget, Rendered
        from mxc.base import MXNetError
        try:
            %s
        except MXNetError as err:
            sys.stdout.write(str(err))
    """) % call
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], timeout=120,
                         env=dict(os.environ, **{var: str(fake)}), capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert 30000 * 50 > 1 << 20                    # the compiler printed more than 1 MiB
    assert "noise.c:0: error: line 0 " in out.stdout
    assert "noise.c:39: error" in out.stdout and "noise.c:40: error" not in out.stdout
    assert len(out.stdout) < 6000
    assert _leftovers(tmp_path / "c") == []
