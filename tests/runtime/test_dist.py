"""Training across processes over MPI: kvstore 'dist_sync' in Module.fit and the exported C
trainer built with MPI=1, each run as `mpirun -np 2` and compared with one process training on
the combined batches and with MXNet 1.9.1's dist_sync on ps-lite (recorded); only rank 0 writes
checkpoints; a failing or stuck rank ends the job quickly."""
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError


def _mpi_missing():
    if shutil.which("mpirun") is None:
        return "mpirun is not installed (Open MPI or MPICH)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install \"mxc[dist]\")"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
# the collectives are MPI's blocking ones under a watchdog thread when MPI allows calls from
# several threads (mpi4py asks for that), else non-blocking ones polled with the same guards
THREAD_LEVELS = pytest.mark.parametrize("level", ["multiple", "single"])

BATCH = 8           # rows per worker and step
WORKERS = 2
ROWS = 400          # 25 steps of WORKERS * BATCH rows an epoch
EPOCHS = 4          # 100 updates


def _mpirun(args, cwd, timeout=120, np_first=WORKERS):
    """Run `mpirun -np 2 ARGS` (ARGS may hold `: -np K ...` for ranks running another
    command line, with np_first the count of the first); (returncode, output, seconds)."""
    cmd = ["mpirun", "-np", str(np_first)]
    if _is_open_mpi():
        cmd += ["--oversubscribe", "--mca", "btl", "self,vader",
                "--mca", "btl_vader_single_copy_mechanism", "none"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    res = subprocess.run(cmd + list(args), cwd=str(cwd), env=env, capture_output=True,
                         text=True, timeout=timeout)
    return res.returncode, res.stdout + res.stderr, time.monotonic() - t0


def _is_open_mpi():
    res = subprocess.run(["mpirun", "--version"], capture_output=True, text=True)
    return "Open MPI" in res.stdout + res.stderr or "OpenRTE" in res.stdout + res.stderr


def _data():
    rng = np.random.RandomState(3)
    x = rng.randn(ROWS, 10).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.float32) + (x[:, 4] > 1)
    return x, y.astype(np.float32)


def _net():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=16)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=3)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _initial(seed):
    rng = np.random.RandomState(seed)
    shapes = {"fc1_weight": (16, 10), "fc1_bias": (16,), "fc2_weight": (3, 16), "fc2_bias": (3,)}
    return {k: (0.3 * rng.randn(*s)).astype(np.float32) for k, s in shapes.items()}


OPTIMIZER = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}


def _one_process_reference():
    """One process, batches of WORKERS * BATCH rows, starting from rank 0's parameters."""
    x, y = _data()
    mod = mx.mod.Module(_net())
    it = mx.io.NDArrayIter(x, y, WORKERS * BATCH, shuffle=False)
    mod.fit(it, num_epoch=EPOCHS, optimizer="sgd", optimizer_params=OPTIMIZER,
            arg_params={k: mx.nd.array(v) for k, v in _initial(0).items()})
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def _mxnet_dist_sync():
    """MXNet 1.9.1's parameters after the same run on ps-lite (two workers, one server), as
    recorded by mxnet_recorded/record_dist_sync.py, after checking it trained on our data."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_recorded",
                        "dist_sync", "mxnet_dist_sync.npz")
    rec = np.load(path)
    x, y = _data()
    assert np.array_equal(rec["x"], x) and np.array_equal(rec["y"], y)
    for k, v in _initial(0).items():
        assert np.array_equal(rec["init:" + k], v), k
    return rec


def test_mxnet_dist_sync_equals_one_process_on_the_combined_batches():
    """The claim the MPI test rests on, checked on MXNet itself: its dist_sync run gives the
    parameters of one process training on the combined batches."""
    rec = _mxnet_dist_sync()
    want = _one_process_reference()
    for k in want:
        assert np.abs(want[k] - _initial(0)[k]).max() > 0.1          # training moved it
        for rank in range(WORKERS):
            np.testing.assert_allclose(rec["rank%d:%s" % (rank, k)], want[k], rtol=0,
                                       atol=1e-5, err_msg="rank %d %s" % (rank, k))


# the training script every rank runs: the data split as MXNet's examples split it (each rank
# its own part of every combined batch), its own initial parameters (the store must replace
# them with rank 0's) and its own checkpoint prefix (only rank 0 may write)
WORKER = r'''
import logging, sys
import numpy as np
import mxc as mx
sys.path.insert(0, sys.argv[1])
import test_dist as t

logging.basicConfig(level=logging.INFO, format="%(message)s")
out, mode = sys.argv[2], sys.argv[3]
kv = mx.kv.create("dist_sync")
assert (kv.num_workers, type(kv).__name__) == (t.WORKERS, "DistKVStore"), kv
x, y = t._data()
part = np.arange(t.ROWS).reshape(-1, kv.num_workers, t.BATCH)[:, kv.rank].ravel()
it = mx.io.NDArrayIter(x[part], y[part], t.BATCH, shuffle=False)
mod = mx.mod.Module(t._net())

def fail(param):
    if mode == "raise" and kv.rank == 1 and param.epoch == 1 and param.nbatch == 5:
        raise RuntimeError("injected failure in rank 1")

mod.fit(it, num_epoch=t.EPOCHS, kvstore=kv, optimizer="sgd", optimizer_params=t.OPTIMIZER,
        arg_params={k: mx.nd.array(v) for k, v in t._initial(kv.rank).items()},
        batch_end_callback=[mx.callback.Speedometer(t.BATCH, 10), fail],
        epoch_end_callback=mx.callback.do_checkpoint("%s/ck-rank%d" % (out, kv.rank)))
np.savez("%s/final-rank%d.npz" % (out, kv.rank),
         **{k: v.asnumpy() for k, v in mod.get_params()[0].items()})
'''


@needs_mpi
def test_dist_sync_fit_equals_one_process_on_the_combined_batches(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(WORKER)
    here = os.path.dirname(os.path.abspath(__file__))
    rc, out, _ = _mpirun([sys.executable, str(script), here, str(tmp_path), "fit"], tmp_path)
    assert rc == 0, out
    want = _one_process_reference()
    mxnet = _mxnet_dist_sync()
    for rank in range(WORKERS):
        got = np.load(tmp_path / ("final-rank%d.npz" % rank))
        assert sorted(got.files) == sorted(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5,
                                       err_msg="rank %d %s" % (rank, k))
            np.testing.assert_allclose(got[k], mxnet["rank%d:%s" % (rank, k)], rtol=0,
                                       atol=1e-5, err_msg="vs MXNet: rank %d %s" % (rank, k))
    # rank 0 wrote every epoch's checkpoint, rank 1 none; the last one is the final state
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ck-"))
    assert written == ["ck-rank0-%04d.params" % e for e in range(1, EPOCHS + 1)] + \
        ["ck-rank0-symbol.json"], written
    _, arg, _ = mx.model.load_checkpoint(str(tmp_path / "ck-rank0"), EPOCHS)
    for k in want:
        np.testing.assert_allclose(arg[k].asnumpy(), want[k], rtol=0, atol=1e-5)
    # each worker logs its own speed and metric, as MXNet's workers do
    assert out.count("Speed:") >= 2 * WORKERS and out.count("Epoch[3] Train-accuracy") == 2


@needs_mpi
def test_a_failing_rank_ends_the_job_with_a_clear_error(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(WORKER)
    here = os.path.dirname(os.path.abspath(__file__))
    rc, out, seconds = _mpirun([sys.executable, str(script), here, str(tmp_path), "raise"],
                               tmp_path, timeout=90)
    assert rc != 0, out
    assert seconds < 60, seconds
    assert "injected failure in rank 1" in out
    assert "worker rank 1 of 2 failed with RuntimeError" in out
    assert not list(tmp_path.glob("final-rank*.npz"))


# the store's API across two workers, checked against closed forms in every rank
STORE = r'''
import os, sys, time
import numpy as np
import mxc as mx
from mxc.base import MXNetError

out, mode = sys.argv[1], sys.argv[2]
kv = mx.kv.create("dist_device_sync")
r, n = kv.rank, kv.num_workers
assert (kv.type, n) == ("dist_device_sync", 2) and r in (0, 1)
if mode == "stuck":                     # rank 1 never reaches the barrier
    if r == 1:
        time.sleep(60)
    kv.barrier()
    sys.exit(0)
if mode == "exit":                      # rank 1 ends its script early, without an error
    if r == 1:
        sys.exit(0)
    kv.barrier()
full = lambda shape, v: mx.nd.array(np.full(shape, v, dtype=np.float32))
kv.init(3, full((2, 3), r + 1.0))       # rank 0's value wins
got = mx.nd.zeros((2, 3))
kv.pull(3, out=got)
assert (got.asnumpy() == 1).all(), got
kv.push(3, [full((2, 3), r + 1.0), full((2, 3), 1.0)])   # two devices a worker, no updater
kv.pull(3, out=got)
assert (got.asnumpy() == (1 + 1) + (2 + 1)).all(), got
kv.init(["a", "b"], [mx.nd.zeros(4), mx.nd.zeros(1)])
a, b = mx.nd.zeros(4), mx.nd.zeros(1)
kv.pushpull(["a", "b"], [mx.nd.array(np.arange(4.0) * (r + 1)), full(1, 1.0)], out=[a, b])
assert np.array_equal(a.asnumpy(), np.arange(4.0) * 3) and b.asnumpy()[0] == 2
try:
    kv.init("bad", mx.nd.zeros(r + 1))
    raise AssertionError("init with different shapes on the workers was accepted")
except MXNetError as err:
    assert "different shapes" in str(err), err
# an optimizer on the store: the same update of the summed gradient on every worker
kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=0.5))
w0 = np.array([1.0, -2.0, 3.0], dtype=np.float32)
kv.init("w", mx.nd.array(w0 * (r + 1)))
g = [np.array([0.5, 1.0, -1.0]), np.array([2.0, 0.0, 1.0])]     # per step, per worker * (r + 1)
mom, w = np.zeros(3), w0.astype(np.float64)
for step in g:
    kv.push("w", mx.nd.array(step * (r + 1)))
    total = 0.5 * step * (1 + 2)
    mom = 0.9 * mom - 0.1 * total
    w = w + mom
got = mx.nd.zeros(3)
kv.pull("w", out=got)
assert np.allclose(got.asnumpy(), w, atol=1e-6), (got, w)
kv.save_optimizer_states("%s/states-rank%d" % (out, r))     # rank 0 writes, rank 1 does not
kv.barrier()
kv.load_optimizer_states("%s/states-rank0" % out)
print("store checks passed on rank %d (watchdog: %s)" % (r, kv._watchdog is not None),
      flush=True)
'''


@needs_mpi
@THREAD_LEVELS
def test_store_api_across_two_workers(tmp_path, monkeypatch, level):
    script = tmp_path / "store.py"
    script.write_text(STORE)
    monkeypatch.setenv("MPI4PY_RC_THREAD_LEVEL", level)
    rc, out, _ = _mpirun([sys.executable, str(script), str(tmp_path), "api"], tmp_path)
    assert rc == 0, out
    assert out.count("store checks passed on rank") == 2, out
    assert out.count("watchdog: %s" % (level == "multiple")) == 2, out
    assert sorted(p.name for p in tmp_path.glob("states-*")) == ["states-rank0"]


@needs_mpi
@THREAD_LEVELS
def test_a_stuck_rank_ends_the_job_after_the_timeout(tmp_path, monkeypatch, level):
    script = tmp_path / "store.py"
    script.write_text(STORE)
    monkeypatch.setenv("MPI4PY_RC_THREAD_LEVEL", level)
    monkeypatch.setenv("MXC_DIST_TIMEOUT", "2")
    rc, out, seconds = _mpirun([sys.executable, str(script), str(tmp_path), "stuck"],
                               tmp_path, timeout=90)
    assert rc != 0 and seconds < 30, (seconds, out)
    assert "worker rank 0 of 2: barrier did not complete within 2 s" in out, out


@needs_mpi
@THREAD_LEVELS
def test_a_rank_that_leaves_early_ends_the_job_naming_it(tmp_path, monkeypatch, level):
    script = tmp_path / "store.py"
    script.write_text(STORE)
    monkeypatch.setenv("MPI4PY_RC_THREAD_LEVEL", level)
    rc, out, seconds = _mpirun([sys.executable, str(script), str(tmp_path), "exit"],
                               tmp_path, timeout=90)
    assert rc != 0 and seconds < 30, (seconds, out)
    assert "rank 1 has ended its script" in out and "waits in barrier" in out, out


def _branches(key):
    """Two dense branches summed, `a + b` for bucket 1 and `b + a` for bucket 2: the same
    function with the parameters laid out in another order."""
    data = mx.sym.Variable("data")
    a = mx.sym.FullyConnected(data, name="fca", num_hidden=8)
    b = mx.sym.FullyConnected(data, name="fcb", num_hidden=8)
    h = mx.sym.Activation(a + b if key == 1 else b + a, name="relu", act_type="relu")
    h = mx.sym.FullyConnected(h, name="out", num_hidden=3)
    return mx.sym.SoftmaxOutput(h, name="softmax")


def _branches_initial(seed):
    rng = np.random.RandomState(seed)
    shapes = {"fca_weight": (8, 10), "fca_bias": (8,), "fcb_weight": (8, 10), "fcb_bias": (8,),
              "out_weight": (3, 8), "out_bias": (3,)}
    return {k: (0.3 * rng.randn(*s)).astype(np.float32) for k, s in shapes.items()}


# BucketingModule with the workers in different buckets at every step (rank 0 in bucket 1,
# rank 1 in bucket 2, whose arena orders the gradients differently); or ("disagree") a Module
# whose network differs between the workers
BUCKETS = r'''
import sys
import numpy as np
import mxc as mx
from mxc.base import MXNetError
sys.path.insert(0, sys.argv[1])
import test_dist as t

out, mode = sys.argv[2], sys.argv[3]
kv = mx.kv.create("dist_sync")
r = kv.rank
shapes = dict(data_shapes=[("data", (t.BATCH, 10))], label_shapes=[("softmax_label", (t.BATCH,))])
init = {k: mx.nd.array(v) for k, v in t._branches_initial(r).items()}
if mode == "disagree":
    mod = mx.mod.Module(t._branches(1 + r))
    mod.bind(**shapes)
    mod.init_params(arg_params=init)
    try:
        mod.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=t.OPTIMIZER)
    except MXNetError as err:
        print("rank %d refused: %s" % (r, err), flush=True)
    sys.exit(0)
mod = mx.mod.BucketingModule(lambda k: (t._branches(k), ("data",), ("softmax_label",)),
                             default_bucket_key=1)
mod.bind(**shapes)
mod.init_params(arg_params=init)
mod.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=t.OPTIMIZER)
x, y = t._data()
groups = np.arange(t.ROWS).reshape(-1, kv.num_workers, t.BATCH)
for epoch in range(2):
    for g in groups:
        rows = g[r]
        batch = mx.io.DataBatch([mx.nd.array(x[rows])], [mx.nd.array(y[rows])],
                                bucket_key=1 + r, provide_data=shapes["data_shapes"],
                                provide_label=shapes["label_shapes"])
        mod.forward(batch, is_train=True)
        mod.backward()
        mod.update()
np.savez("%s/buckets-rank%d.npz" % (out, r),
         **{k: v.asnumpy() for k, v in mod.get_params()[0].items()})
'''


@needs_mpi
def test_workers_in_buckets_with_different_layouts_reduce_the_same_gradients(tmp_path):
    script = tmp_path / "buckets.py"
    script.write_text(BUCKETS)
    here = os.path.dirname(os.path.abspath(__file__))
    rc, out, _ = _mpirun([sys.executable, str(script), here, str(tmp_path), "fit"], tmp_path)
    assert rc == 0, out
    x, y = _data()
    mod = mx.mod.Module(_branches(1))
    mod.fit(mx.io.NDArrayIter(x, y, WORKERS * BATCH), num_epoch=2, optimizer="sgd",
            optimizer_params=OPTIMIZER,
            arg_params={k: mx.nd.array(v) for k, v in _branches_initial(0).items()})
    want = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    for rank in range(WORKERS):
        got = np.load(tmp_path / ("buckets-rank%d.npz" % rank))
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-5,
                                       err_msg="rank %d %s" % (rank, k))


@needs_mpi
def test_workers_with_different_networks_are_refused(tmp_path):
    script = tmp_path / "buckets.py"
    script.write_text(BUCKETS)
    here = os.path.dirname(os.path.abspath(__file__))
    rc, out, _ = _mpirun([sys.executable, str(script), here, str(tmp_path), "disagree"],
                         tmp_path)
    assert rc == 0, out
    assert out.count("refused: the workers disagree on the gradient layout") == 2, out


def _write_raw(path, array):
    """mxc's raw float32 format: magic, u32 ndim, u64 dims, float32 values (little-endian)."""
    array = np.ascontiguousarray(array, dtype="<f4")
    with open(path, "wb") as f:
        f.write(b"MXCF32\n\0" + struct.pack("<I", array.ndim))
        f.write(struct.pack("<%dQ" % array.ndim, *array.shape))
        f.write(array.tobytes())


@needs_mpi
@pytest.mark.skipif(shutil.which("mpicc") is None, reason="mpicc is not installed")
def test_exported_c_trainer_with_mpi_equals_one_process(tmp_path):
    x, y = _data()
    mod = mx.mod.Module(_net())
    mod.bind(data_shapes=[("data", (BATCH, 10))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in _initial(0).items()})
    mod.init_optimizer(optimizer="sgd", optimizer_params=OPTIMIZER)
    mod.export(str(tmp_path), kind="trainer", name="d")
    res = subprocess.run(["make", "-s", "-C", str(tmp_path), "MPI=1"], capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "d_train_mpi").exists()
    _write_raw(tmp_path / "x.raw", x)
    _write_raw(tmp_path / "y.raw", y)
    args = ["./d_train_mpi", "--format", "raw", "--train", "x.raw", "--train-labels", "y.raw",
            "--params", "d.params", "--epochs", str(EPOCHS), "--no-shuffle", "--prefix", "ck"]
    rc, out, _ = _mpirun(args, tmp_path)
    assert rc == 0, out
    assert out.count("Epoch[3] Train-accuracy=") == WORKERS          # one line per rank
    assert out.count('Saved checkpoint to "ck-0004.params"') == 1    # rank 0 only
    want = _one_process_reference()
    _, got, _ = mx.model.load_checkpoint(str(tmp_path / "ck"), EPOCHS)
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k], rtol=0, atol=1e-5, err_msg=k)
    # shuffled (the same --seed on every rank): the ranks' batches are the one-process
    # trainer's batches of twice the size, split in two
    one = tmp_path / "one"
    mod16 = mx.mod.Module(_net())
    mod16.bind(data_shapes=[("data", (WORKERS * BATCH, 10))],
               label_shapes=[("softmax_label", (WORKERS * BATCH,))])
    mod16.init_params(arg_params={k: mx.nd.array(v) for k, v in _initial(0).items()})
    mod16.init_optimizer(optimizer="sgd", optimizer_params=OPTIMIZER)
    mod16.export(str(one), kind="trainer", name="d16")
    res = subprocess.run(["make", "-s", "-C", str(one), "d16_train"], capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    shuffled = ["--seed", "5", "--epochs", "2"]
    res = subprocess.run(["./d16_train", "--format", "raw", "--train", "../x.raw",
                          "--train-labels", "../y.raw", "--params", "d16.params",
                          "--prefix", "one"] + shuffled, cwd=str(one), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    rc, out, _ = _mpirun(args[:9] + ["--prefix", "sh"] + shuffled, tmp_path)
    assert rc == 0, out
    _, want16, _ = mx.model.load_checkpoint(str(one / "one"), 2)
    _, got16, _ = mx.model.load_checkpoint(str(tmp_path / "sh"), 2)
    _, in_order, _ = mx.model.load_checkpoint(str(tmp_path / "ck"), 2)
    for k in want16:
        assert np.abs(want16[k].asnumpy() - in_order[k].asnumpy()).max() > 1e-3   # shuffled
        np.testing.assert_allclose(got16[k].asnumpy(), want16[k].asnumpy(), rtol=0,
                                   atol=1e-5, err_msg=k)
    # a rank that fails ends the job, never hangs: every rank on a missing file; rank 1 alone
    # (its own command line) while rank 0 trains and waits in MPI_Allreduce
    bad = args[:4] + ["nope.raw"] + args[5:]
    rc, out, seconds = _mpirun(bad, tmp_path, timeout=90)
    assert rc != 0 and "aborting all 2 ranks" in out and seconds < 60, out
    rc, out, seconds = _mpirun(args + [":", "-np", "1"] + bad, tmp_path, timeout=90,
                               np_first=1)
    assert rc != 0 and seconds < 60, (seconds, out)
    assert "rank 1 of 2 failed (exit code 1); aborting all 2 ranks" in out, out


# ---------------------------------------------------------------- in this process, no mpirun

def test_pslite_launch_is_refused_with_the_mpirun_command(monkeypatch):
    monkeypatch.setenv("DMLC_ROLE", "worker")
    monkeypatch.setenv("DMLC_NUM_WORKER", "4")
    monkeypatch.setenv("DMLC_PS_ROOT_URI", "10.0.0.1")
    with pytest.raises(MXNetError, match=r"ps-lite.*mpirun -np 4 python train.py"):
        mx.kv.create("dist_sync")
    mx.kv.create("local")           # the local types do not care


def test_dist_async_is_refused():
    with pytest.raises(MXNetError, match="asynchronous.*dist_sync"):
        mx.kv.create("dist_async")


def test_missing_mpi4py_names_the_extra(monkeypatch):
    from mxc import dist
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(MXNetError, match=r'pip install "mxc\[dist\]"'):
        dist._mpi()


def test_timeout_setting_is_checked(monkeypatch):
    from mxc import dist
    monkeypatch.setenv("MXC_DIST_TIMEOUT", "soon")
    with pytest.raises(MXNetError, match="MXC_DIST_TIMEOUT"):
        dist._timeout()
    monkeypatch.setenv("MXC_DIST_TIMEOUT", "2.5")
    assert dist._timeout() == 2.5


@needs_mpi
def test_an_mpi_that_sees_fewer_processes_than_launched_is_an_error():
    """mpi4py built against another MPI than the launcher's: every process would see a job of
    one and train alone; the store says so instead."""
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="4")
    res = subprocess.run([sys.executable, "-c", "import mxc; mxc.kv.create('dist_sync')"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "launcher started 4 processes but MPI sees 1" in res.stderr, res.stderr


@pytest.mark.skipif(shutil.which("mpicc") is None, reason="mpicc is not installed")
def test_cli_build_with_mpi_makes_the_mpi_trainer(tmp_path):
    prefix = str(tmp_path / "net")
    mx.model.save_checkpoint(prefix, 0, _net(), {k: mx.nd.array(v)
                                                 for k, v in _initial(0).items()}, {})
    out = tmp_path / "gen"
    base = [sys.executable, "-m", "mxc", "build", prefix + "-symbol.json", "--params",
            prefix + "-0000.params", "--shape", "data=8,10", "--shape", "softmax_label=8",
            "--name", "n", "--out", str(out)]
    res = subprocess.run(base + ["--trainer", "--mpi"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["make", "-s", "-C", str(out)], capture_output=True, text=True,
                         timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (out / "n_train").exists() and (out / "n_train_mpi").exists()
    res = subprocess.run(base + ["--mpi"], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "needs kind 'trainer' (--trainer)" in res.stderr
