"""Training across processes: the 'dist_sync' / 'dist_device_sync' kvstore over MPI.

A script launched as ``mpirun -np N python train.py`` gets, from ``mx.kv.create('dist_sync')``,
a store whose N workers are the N MPI processes (mpi4py, the optional extra ``mxc[dist]``):

* ``rank`` / ``num_workers`` are the MPI rank and size; ``barrier()`` waits for every worker.
* ``init`` stores rank 0's value on every worker (a broadcast), as MXNet's servers keep the
  first worker's initial value.
* ``push`` sums the values of this worker's devices, then sums that over all workers (an
  all-reduce) and applies the updater (set_optimizer) to the sum on every worker; the same
  floats go in everywhere, so every worker holds the same parameters afterwards. MXNet's
  dist_sync runs the update on its servers on the same sum, so the numbers agree.
* ``pull`` copies the stored value out; ``pushpull`` is push then pull.

A Module trained with such a store all-reduces its gradient arena once per batch before the
compiled update (see Module.update), takes its initial parameters from rank 0 and lets only
rank 0 write checkpoints (`writes_checkpoints`).

A worker that fails must not leave the others waiting in a collective forever. Three guards:
an uncaught exception in any worker logs which rank failed and calls MPI_Abort, which makes
mpirun end every process of the job at once; a worker whose script ends (returns, or calls
sys.exit) tells the others at exit, and one still waiting in a collective a few seconds
after that aborts the job, naming the rank that left; and every collective this module
starts is waited on with a deadline (``MXC_DIST_TIMEOUT`` seconds, default 600), after which
the job is aborted with a message naming the operation and the rank.

MXNet's ps-lite launch (``tools/launch.py``: DMLC_ROLE, DMLC_PS_ROOT_URI, DMLC_NUM_WORKER,
...) is refused with the mpirun command line to use instead.
"""
import atexit
import logging
import os
import sys
import time
import zlib

import numpy as np

from .base import MXNetError
from .kvstore import KVStore, _check_type, _init_pairs, _pairs
from .ndarray import NDArray

__all__ = ["DistKVStore", "check_launcher", "launched_size", "writes_checkpoints"]

_log = logging.getLogger("mxc.dist")

# environment variables by which an MPI launcher tells a process the size of its job
_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
# ... and those of MXNet's ps-lite launcher (tools/launch.py, dmlc-submit)
_PSLITE_VARS = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_WORKER",
                "DMLC_NUM_SERVER")
_DEFAULT_TIMEOUT = 600.0
_GOODBYE = 7717         # the message tag of "this worker has left its script"
_GRACE = 5.0            # seconds a collective may still take after another worker left
_MAX_NDIM = 32
_TYPES = {np.dtype(t).num: t for t in ("float16", "float32", "float64", "int8", "uint8",
                                       "int32", "int64", "bool")}

_active = None          # the DistKVStore of this process with more than one worker, if any


def check_launcher(name):
    """A clear error when this process was started by MXNet's ps-lite launcher."""
    found = [v for v in _PSLITE_VARS if os.environ.get(v, "").strip()]
    if not found:
        return
    role = os.environ.get("DMLC_ROLE", "").strip() or "worker"
    workers = os.environ.get("DMLC_NUM_WORKER", "").strip()
    n = workers if workers.isdigit() else "N"
    raise MXNetError(
        "kvstore '%s': this process was started by MXNet's ps-lite launcher (tools/launch.py; "
        "%s set, role '%s'). mxc trains across processes with MPI and has no parameter "
        "servers or scheduler: run the training script once per worker with mpirun instead, "
        "e.g. `mpirun -np %s python train.py ...` (add `-H host1,host2,...` for several "
        "hosts), and unset %s" % (name, ", ".join(found), role, n, ", ".join(found)))


def launched_size():
    """The number of processes of the MPI job around this process (1 when not launched)."""
    for var in _MPI_SIZE_VARS:
        raw = os.environ.get(var, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return 1


def writes_checkpoints():
    """False on the workers other than rank 0 of a multi-process job: they write no files."""
    return _active is None or _active.rank == 0


def active():
    """The multi-worker store of this process, or None."""
    return _active


def _mpi():
    """mpi4py's MPI module (initialising MPI), or a clear error naming the extra to install."""
    if "mpi4py.MPI" not in sys.modules:
        # Open MPI: a worker waiting in a collective yields its core instead of spinning on
        # it. On a host shared with other work (or more ranks than cores) spinning ranks
        # starve the one everybody waits for: 2 ranks on 2 busy cores trained 3.7x faster
        # with it. Set OMPI_MCA_mpi_yield_when_idle=0 to spin.
        os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise MXNetError("distributed training needs mpi4py (and an MPI library such as Open "
                         "MPI): pip install \"mxc[dist]\" (%s)" % err) from None
    return MPI


def _timeout():
    raw = os.environ.get("MXC_DIST_TIMEOUT", "").strip()
    if not raw:
        return _DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise MXNetError("MXC_DIST_TIMEOUT must be a number of seconds, got %r" % raw) from None
    if not value > 0:
        raise MXNetError("MXC_DIST_TIMEOUT must be positive, got %r" % raw)
    return value


def _install_abort_hook(comm, rank, size):
    """Make an uncaught exception in this worker end the whole job (MPI_Abort)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            previous(kind, value, tb)
            _log.error("worker rank %d of %d failed with %s: %s; aborting all %d workers "
                       "(MPI_Abort)", rank, size, kind.__name__, value, size)
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            comm.Abort(1)
    sys.excepthook = hook


class DistKVStore(KVStore):
    """'dist_sync' / 'dist_device_sync' across the processes of an MPI job."""

    def __init__(self, kvstore_type="dist_sync"):         # pylint: disable=super-init-not-called
        self._type = _check_type(kvstore_type)
        if "dist" not in self._type:
            raise MXNetError("DistKVStore needs a dist type, got '%s'" % self._type)
        check_launcher(self._type)
        MPI = _mpi()
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD
        self._rank = self._comm.Get_rank()
        self._size = self._comm.Get_size()
        launched = launched_size()
        if launched > 1 and self._size != launched:
            raise MXNetError("kvstore '%s': the launcher started %d processes but MPI sees %d "
                             "in this job; mpi4py is probably built against another MPI "
                             "library than the mpirun used (reinstall mpi4py with that MPI's "
                             "mpicc, or use its own mpirun)" % (self._type, launched, self._size))
        self._timeout = _timeout()
        self._store = {}
        self._updater = None
        self._compression = None
        self.reduced_bytes = 0          # bytes all-reduced by this worker so far
        global _active
        self._exit_comm, self._left = None, False
        self._watchdog, self._current = None, None
        if self._size > 1:
            _active = self
            _install_abort_hook(self._comm, self._rank, self._size)
            # a second communicator for the goodbye at exit, so that it never matches a
            # collective of the training itself
            self._exit_comm = self._comm.Dup()
            atexit.register(self._goodbye)
            if MPI.Query_thread() == MPI.THREAD_MULTIPLE:
                self._start_watchdog()
        _log.info("kvstore '%s': worker rank %d of %d (MPI)", self._type, self._rank,
                  self._size)

    # -- attributes
    @property
    def rank(self):
        """This worker's rank in [0, num_workers)."""
        return self._rank

    @property
    def num_workers(self):
        """The number of workers (processes of the MPI job)."""
        return self._size

    def num_dead_node(self, node_id, timeout_sec=60):
        """Dead nodes: 0 (a dead worker aborts the whole job, so a live one sees none)."""
        return 0

    # -- collectives, each waited on with a deadline
    #
    # With an MPI that allows calls from several threads (THREAD_MULTIPLE, mpi4py's default
    # request), the collectives are MPI's blocking ones (its tuned algorithms: a 2 MB
    # all-reduce between two processes of one host takes a fraction of a millisecond where
    # polling a non-blocking one takes several) and a watchdog thread enforces the deadline
    # and notices workers that left. Otherwise the non-blocking ones are polled here.
    def _start_watchdog(self):
        import threading
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="mxc-dist-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def _watch(self):
        left = None
        status = self._MPI.Status()
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if left is None and self._exit_comm.Iprobe(source=self._MPI.ANY_SOURCE,
                                                       tag=_GOODBYE, status=status):
                left = (status.Get_source(), now)
            current = self._current
            if current is not None:
                self._check(current[0], current[1], left, now)

    def _check(self, what, started, left, now):
        """Abort the job when the collective `what` (begun at `started`) can no longer
        complete: another worker left (`left`: its rank and when that was seen) more than
        _GRACE seconds ago, or it has waited past MXC_DIST_TIMEOUT."""
        if left is not None and now - max(left[1], started) > _GRACE:
            _log.error("worker rank %d of %d: rank %d has ended its script (returned or "
                       "called sys.exit) while this worker waits in %s; aborting all "
                       "workers", self._rank, self._size, left[0], what)
            sys.stderr.flush()
            self._comm.Abort(3)
        if now - started > self._timeout:
            _log.error("worker rank %d of %d: %s did not complete within %g s "
                       "(MXC_DIST_TIMEOUT): another worker is gone or stuck; aborting "
                       "all workers", self._rank, self._size, what, self._timeout)
            sys.stderr.flush()
            self._comm.Abort(2)

    def _collective(self, blocking, nonblocking, what):
        """Run one collective: blocking under the watchdog, else non-blocking and polled."""
        if self._watchdog is None:
            self._wait(nonblocking(), what)
            return
        self._current = (what, time.monotonic())
        try:
            blocking()
        finally:
            self._current = None

    def _wait(self, request, what, watch=True):
        """Wait for `request`; abort the job when it takes longer than MXC_DIST_TIMEOUT, or
        (watch) when another worker has left its script and it is still not done after
        _GRACE seconds (the leaver finished every collective it was part of, so one still
        open then can never complete)."""
        started = time.monotonic()
        spins = 0
        left = None
        status = self._MPI.Status()
        while not request.Test():
            spins += 1
            now = time.monotonic()
            if now - started > 1.0:         # a long wait: stop competing for the cores
                time.sleep(0.002)
            elif spins > 100:
                os.sched_yield()
            if watch and left is None and spins % 64 == 0 and self._exit_comm.Iprobe(
                    source=self._MPI.ANY_SOURCE, tag=_GOODBYE, status=status):
                left = (status.Get_source(), now)
            if spins % 64 == 0:
                self._check(what, started, left, now)

    def _goodbye(self):
        """At exit: tell every other worker this one is leaving, then wait until all have
        left (the exit barrier) and collect their notes."""
        comm, MPI = self._exit_comm, self._MPI
        if comm is None or self._left or MPI.Is_finalized():
            return
        self._left = True
        if self._watchdog is not None:
            self._stop.set()
            self._watchdog.join()
        note = np.array([self._rank], dtype=np.int32)
        sends = [comm.Isend(note, dest=r, tag=_GOODBYE) for r in range(self._size)
                 if r != self._rank]
        self._wait(comm.Ibarrier(), "the exit barrier", watch=False)
        got = np.zeros(1, dtype=np.int32)
        for r in range(self._size):
            if r != self._rank:
                comm.Recv(got, source=r, tag=_GOODBYE)
        MPI.Request.Waitall(sends)

    def barrier(self):
        """Wait until every worker has reached this barrier."""
        if self._size > 1:
            self._collective(self._comm.Barrier, self._comm.Ibarrier, "barrier")

    _barrier = barrier

    def allreduce_(self, array, what="all-reduce"):
        """Sum the contiguous NumPy array `array` over all workers, in place."""
        if self._size == 1:
            return array
        if not (isinstance(array, np.ndarray) and array.flags.c_contiguous):
            raise MXNetError("kvstore.%s: expects a contiguous NumPy array" % what)
        MPI = self._MPI
        self._collective(lambda: self._comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM),
                         lambda: self._comm.Iallreduce(MPI.IN_PLACE, array, op=MPI.SUM),
                         what)
        self.reduced_bytes += array.nbytes
        return array

    def broadcast_(self, array, what="broadcast", root=0):
        """Overwrite the contiguous NumPy array `array` with rank `root`'s, in place."""
        if self._size > 1:
            self._collective(lambda: self._comm.Bcast(array, root=root),
                             lambda: self._comm.Ibcast(array, root=root), what)
        return array

    # -- data
    def init(self, key, value):
        """Store rank 0's value of `key` on every worker."""
        for k, v in _init_pairs(self._store, key, value):
            local = np.ascontiguousarray(v.asnumpy()).copy()
            self._check_same_shape(k, local)
            self._store[k] = NDArray(self.broadcast_(local, "init of key %r" % (k,)),
                                     v.context)

    def _check_same_shape(self, key, local):
        """Every worker must init a key with the same shape and dtype (else a broadcast
        would read past a smaller buffer)."""
        if self._size == 1:
            return
        # every worker's (dtype, ndim, dims...) as one row, gathered by a guarded all-reduce
        rows = np.zeros((self._size, 2 + _MAX_NDIM), dtype=np.int64)
        rows[self._rank, :2] = local.dtype.num, local.ndim
        rows[self._rank, 2:2 + local.ndim] = local.shape[:_MAX_NDIM]
        self.allreduce_(rows, "shape check of key %r" % (key,))
        if (rows != rows[self._rank]).any():
            raise MXNetError("kvstore.init: key %r has different shapes or types on the "
                             "workers: %s" % (key, ", ".join(
                                 "rank %d %s %s" % (r, tuple(int(d) for d in row[2:2 + row[1]]),
                                                    _TYPES.get(int(row[0]), "dtype #%d" % row[0]))
                                 for r, row in enumerate(rows))))

    def _agree(self, what, value):
        """A clear error on every worker unless all workers hold the same integer `value`."""
        rows = np.zeros((self._size, 1), dtype=np.int64)
        rows[self._rank, 0] = value
        self.allreduce_(rows, "check of " + what)
        if (rows != rows[0]).any():
            raise MXNetError("the workers disagree on %s (rank by rank: %s); every worker must "
                             "run the same network" % (what, ", ".join(
                                 "%d: %x" % (r, v) for r, v in enumerate(rows[:, 0]))))

    # -- a Module's gradients
    def set_grad_layout(self, ex):
        """Take the gradient region of executor `ex` as the layout every step all-reduces,
        after checking that every worker has the same one (the same parameters, shapes and
        order)."""
        if getattr(self, "_grad_layout", None) is None:
            layout = _grad_layout(ex)
            self._agree("the gradient layout (parameter names, shapes and order)",
                        zlib.crc32(repr(layout).encode()))
            self._grad_layout = layout

    def allreduce_grads(self, ex):
        """Sum the gradients of executor `ex` over all workers, in place: one all-reduce of
        its arena's gradient region when that has the agreed layout (the usual case), else
        (another bucket's graph, a GPU arena) of a buffer packed in the agreed layout, so that
        every worker always reduces the same elements in the same order."""
        size, layout = self._grad_layout
        arena = getattr(ex.memory, "arena", None)
        begin = ex.plan.param_end
        if isinstance(arena, np.ndarray) and _grad_layout(ex) == self._grad_layout:
            self.allreduce_(arena[begin:begin + size], "gradient all-reduce")
            return
        grads = ex.grad_arrays
        missing = [name for name, _, _ in layout if name not in grads]
        if missing:
            raise MXNetError("gradient all-reduce: this executor has no gradient for %s, "
                             "which the first bound executor had" % ", ".join(missing))
        buf = np.zeros(size, dtype=ex.dtype)
        for name, offset, count in layout:
            buf[offset:offset + count] = grads[name].ravel()
        self.allreduce_(buf, "gradient all-reduce")
        for name, offset, count in layout:
            grads[name][...] = buf[offset:offset + count].reshape(grads[name].shape)

    def _merge(self, key, values, stored):
        """The sum over this worker's devices, then over all workers."""
        merged = KVStore._merge(self, key, values, stored)
        summed = np.ascontiguousarray(merged.asnumpy())
        self.allreduce_(summed, "push of key %r" % (key,))
        return NDArray(summed, stored.context)

    def set_gradient_compression(self, compression_params):
        """Accept MXNet's compression settings; gradients are still all-reduced in full
        precision (MXNet's 1bit / 2bit quantization is not applied)."""
        from .kvstore import _compression_settings
        self._compression = _compression_settings(compression_params)
        _log.warning("kvstore '%s': gradient compression %s accepted but not applied; the "
                     "gradients are all-reduced in full precision", self._type,
                     self._compression)

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Rank 0 writes the updater's states (identical on every worker)."""
        if self._rank == 0:
            KVStore.save_optimizer_states(self, fname, dump_optimizer)


def _grad_layout(ex):
    """(size, ((name, offset, count), ...)) of the gradient region of executor `ex`'s arena:
    the parameters' gradients, offsets relative to the region's start."""
    plan = ex.plan
    return (int(plan.regions.get("grads", 0)),
            tuple((a.name, int(a.grad.offset - plan.param_end), int(a.grad.size))
                  for a in plan.params if a.grad is not None))


def create(name):
    """The store for kvstore type `name` in a process launched by mpirun."""
    return DistKVStore(name)
