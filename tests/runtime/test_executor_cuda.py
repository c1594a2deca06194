"""Host/device synchronisation of the GPU executor, on a stand-in device library (NumPy memory
behind the same C API), so it runs without a GPU: after a forward only the outputs travel back."""
import cffi
import numpy as np
import pytest

import mxc as mx
from mxc.compiler import build, target
from mxc import executor_cuda
from mxc.executor import Executor


class FakeDevice:
    """The generated library's API over host memory; forward writes sum(data) + fc_bias[0]
    into every output element, backward writes 1 into every gradient."""

    def __init__(self, plan):
        self.ffi = cffi.FFI()
        self.ffi.cdef("typedef float real;")
        self.plan = plan
        self.arrays = []
        self.calls = []

    # allocation and copies
    def mxc_init(self, device):
        return 0

    def mxc_alloc(self, n):
        arr = np.zeros(max(n, 1), np.float32)
        self.arrays.append(arr)
        return self.ffi.from_buffer("float[]", arr)

    def mxc_free(self, p):
        return 0

    def mxc_seed(self, mem, seed):
        return 0

    def mxc_upload(self, dev, host, n):
        self.calls.append(("upload", n))
        self.ffi.memmove(dev, host, 4 * n)
        return 0

    def mxc_download(self, host, dev, n):
        self.calls.append(("download", n))
        self.ffi.memmove(host, dev, 4 * n)
        return 0

    def _view(self, mem, t):
        buf = np.frombuffer(self.ffi.buffer(mem, 4 * self.plan.size), np.float32)
        return buf[t.offset:t.offset + t.size]

    def mxc_forward(self, mem, is_train):
        self.calls.append(("forward", is_train))
        total = self._view(mem, self.plan.arg("data").value).sum()
        bias = self._view(mem, self.plan.arg("fc_bias").value)[0]
        for o in self.plan.outputs:
            self._view(mem, o.value)[:] = total + bias
        return 0

    def mxc_backward(self, mem):
        self.calls.append(("backward",))
        for a in self.plan.args:
            if a.grad is not None:
                self._view(mem, a.grad)[:] = 1
        return 0

    def mxc_last_error(self):
        return self.ffi.NULL


@pytest.fixture
def fake_executor(monkeypatch, tmp_path):
    made = {}

    def fake_build(self, rendered, name="mxc", root=None):
        assert "__global__" in rendered.source
        lib = made["lib"]
        return build.Built(lib.ffi, lib, "k" * 64, "/nowhere", False, 0.0, self)

    monkeypatch.setattr(target.CudaTarget, "build", fake_build)
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MXC_CUDA_ARCH", "90")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                                     name="fc"), name="softmax")
    from mxc.compiler.plan import make_plan
    plan = make_plan(net, {"data": (2, 4)}, ["data"], ["softmax_label"])
    made["lib"] = FakeDevice(plan)
    ex = Executor(net, {"data": (2, 4)}, ["data"], ["softmax_label"], device_id=0)
    assert isinstance(ex.memory, executor_cuda.DeviceMemory)
    return ex, made["lib"]


def test_forward_downloads_only_outputs(fake_executor):
    ex, dev = fake_executor
    ex.arg_arrays["data"][...] = np.arange(8).reshape(2, 4)
    ex.arg_arrays["fc_bias"][...] = 0.5
    dev.calls.clear()
    ex.forward(False)
    out = ex.outputs[0]
    np.testing.assert_allclose(out, np.full((2, 3), 28.5))
    downloads = [n for kind, *n in dev.calls if kind == "download"]
    assert downloads == [[6]]                        # the output buffer, not the arena
    # the next batch: writing inputs needs no download; the forward uploads them
    dev.calls.clear()
    ex.arg_arrays["data"][...] = 1
    ex.forward(False)
    np.testing.assert_allclose(ex.outputs[0], np.full((2, 3), 8.5))
    assert [c for c in dev.calls if c[0] == "download"] == [("download", 6)]
    assert any(c[0] == "upload" for c in dev.calls)


def test_backward_makes_every_view_current(fake_executor):
    ex, dev = fake_executor
    ex.forward(True)
    ex.backward()
    dev.calls.clear()
    np.testing.assert_array_equal(ex.grad_arrays["fc_weight"], 1)
    begin, end = ex.memory._upload_span             # parameters .. bound inputs, not activations
    assert dev.calls == [("download", end - begin)] and end < ex.plan.size
    dev.calls.clear()
    ex.outputs, ex.arg_arrays
    assert dev.calls == [("download", 6)]           # the outputs alone
    dev.calls.clear()
    ex.internals
    assert dev.calls == [("download", ex.plan.size)]


def test_mem_uploads_views_written_in_place(fake_executor):
    """A direct forward call through `mem` sees inputs written through views kept earlier."""
    ex, dev = fake_executor
    data = ex.arg_arrays["data"]
    for value in (1.0, 2.0):
        data[...] = value
        dev.calls.clear()
        assert ex.lib.mxc_forward(ex.mem, 0) == 0
        np.testing.assert_allclose(ex.outputs[0], np.full((2, 3), 8 * value))
        if value == 2.0:         # the inputs alone travel, not the parameters
            assert sorted(c for c in dev.calls if c[0] == "upload") == [("upload", 2),
                                                                       ("upload", 8)]
    ex.arg_arrays["fc_bias"][...] = 1                # a parameter looked up and written
    assert ex.lib.mxc_forward(ex.mem, 0) == 0
    np.testing.assert_allclose(ex.outputs[0], np.full((2, 3), 17))


def test_writing_one_input_uploads_only_that_input(fake_executor):
    ex, dev = fake_executor
    ex.forward(False)                                 # first call: everything goes up
    data = ex.plan.arg("data").value
    for value in (1.0, 3.0):
        dev.calls.clear()
        ex.arg_arrays["data"][...] = value
        ex.forward(False)
        assert [c for c in dev.calls if c[0] == "upload"] == [("upload", data.size)]
        np.testing.assert_allclose(ex.outputs[0], np.full((2, 3), 8 * value))
    # iterating the dict (as get_params-style code does) uploads every writable buffer
    dev.calls.clear()
    for name, arr in ex.arg_arrays.items():
        if name == "fc_bias":
            arr[...] = 2
    ex.forward(False)
    uploaded = sum(c[1] for c in dev.calls if c[0] == "upload")
    assert uploaded == sum(a.value.size for a in ex.plan.args)
    np.testing.assert_allclose(ex.outputs[0], np.full((2, 3), 26))
    # nothing written: nothing uploaded
    dev.calls.clear()
    ex.forward(False)
    assert [c for c in dev.calls if c[0] == "upload"] == []


def test_inference_pass_without_a_compiled_entry_runs_batch_by_batch(fake_executor):
    """The device library has no whole-pass inference entry: the executor's infer_batches
    and predict's fast path run one forward per gathered batch, with the same results."""
    ex, dev = fake_executor
    assert not ex.compiled_inference
    ex.arg_arrays["fc_bias"][...] = 0.25
    x = np.arange(10 * 4, dtype=np.float32).reshape(10, 4) / 10
    rows = np.array([[3, 1], [0, 9], [4, 4]], np.int64)
    outs = [np.zeros((6, 3), np.float32)]
    ex.infer_batches([x, None], 10, rows, "none", outs)
    want = np.concatenate([np.full((2, 3), x[r].sum() + 0.25) for r in rows])
    np.testing.assert_allclose(outs[0], want, rtol=1e-6)
    with pytest.raises(mx.base.MXNetError, match="metric"):
        ex.infer_batches([x, None], 10, rows, "acc")
    it = mx.io.NDArrayIter(x[:5], None, 2)                  # 3 batches, the last one padded
    merged = ex.fast_path(it)()[0].asnumpy()
    batches = [x[[0, 1]], x[[2, 3]], x[[4, 0]]]
    want = np.concatenate([np.full((2, 3), b.sum() + 0.25) for b in batches])[:5]
    np.testing.assert_allclose(merged, want, rtol=1e-6)
