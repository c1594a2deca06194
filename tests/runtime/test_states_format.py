""".states files are data: the allow-list unpickler builds arrays and containers only."""
import os
import pickle
import struct

import numpy as np
import pytest

import mxc as mx
from mxc import states_format
from mxc.base import MXNetError


def marker_payloads(marker):
    """Pickles that would run code (write `marker`) under pickle's default unpickler."""
    cmd = "touch %s" % marker

    class System:
        def __reduce__(self):
            return (os.system, (cmd,))

    class Exec:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').close()" % str(marker),))

    class Eval:
        def __reduce__(self):
            return (eval, ("__import__('os').system(%r)" % cmd,))

    blobs = [pickle.dumps({0: System()}, protocol=p) for p in (0, 2, 4, 5)]
    blobs += [pickle.dumps({0: Exec()}), pickle.dumps([Eval()], protocol=2)]
    # hand-written: subprocess through GLOBAL, and an allowed name in a foreign module
    blobs.append(b"csubprocess\ncheck_call\n(]S'touch'\naS'%s'\natR." % str(marker).encode())
    blobs.append(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x8c\x06system"
                 b"\x93\x8c\x05touch\x85R.")
    blobs.append(b"cmxc.lr_scheduler\nlogging\n.")
    blobs.append(b"cbuiltins\ngetattr\n(cbuiltins\nobject\nS'__subclasses__'\ntR.")
    return blobs


def test_code_in_a_states_file_never_runs(tmp_path):
    marker = tmp_path / "marker"
    for blob in marker_payloads(marker):
        with pytest.raises(MXNetError, match="x.states"):
            states_format.loads(blob, "x.states")
        assert not marker.exists()
    with pytest.raises(MXNetError, match="refused global 'posix.system'"):
        states_format.loads(marker_payloads(marker)[0])


def allowed_global_with(module, name, args_pickle):
    """A protocol-2 pickle calling module.name(*args) where args is a pickled tuple."""
    return (b"\x80\x02c%s\n%s\n" % (module.encode(), name.encode())) + args_pickle + b"R."


def test_allowed_globals_refuse_dangerous_arguments():
    tup = lambda body: b"(" + body + b"t"      # noqa: E731
    big = b"\x8a\x08" + struct.pack("<q", 1 << 40)   # LONG1: 2**40
    cases = [
        allowed_global_with("builtins", "bytearray", tup(big)),           # 1 TB of zeros
        allowed_global_with("builtins", "set", tup(b"cposix\nsystem\n")),
        allowed_global_with("numpy", "ndarray", tup(b"(" + big + b"t")),    # np.ndarray(shape)
        allowed_global_with("numpy._core.multiarray", "_reconstruct",
                            tup(b"cnumpy\nndarray\n(" + big + b"tU\x01b")),
        allowed_global_with("numpy.core.multiarray", "_reconstruct",
                            tup(b"cbuiltins\nbytearray\n(K\x00tU\x01b")),
        allowed_global_with("numpy", "dtype", tup(b"U\x01O")),               # object arrays
        allowed_global_with("mxnet.ndarray.ndarray", "NDArray", tup(b"U\tos.system")),
        allowed_global_with("_codecs", "encode", tup(b"X\x01\x00\x00\x00xX\x04\x00\x00\x00zlib")),
        allowed_global_with("copyreg", "_reconstructor",
                            tup(b"cbuiltins\nobject\ncbuiltins\nobject\nN")),
    ]
    for blob in cases:
        with pytest.raises(MXNetError, match="optimizer states"):
            states_format.loads(blob)


def test_forged_sizes_are_refused_before_allocating():
    blobs = [b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"x.",      # BINBYTES8
             b"\x80\x04\x8d" + struct.pack("<Q", 1 << 50) + b"x.",      # BINUNICODE8
             b"\x80\x05\x96" + struct.pack("<Q", 1 << 45) + b".",       # BYTEARRAY8
             b"\x80\x04Nr" + struct.pack("<I", 1 << 31) + b".",         # memo index 2**31
             b"\x80\x04N",                                              # no STOP
             b"", b"not a pickle"]
    for blob in blobs:
        with pytest.raises(MXNetError):
            states_format.loads(blob)


def test_legitimate_states_load_at_every_protocol():
    arr = np.arange(6.0).reshape(2, 3)
    states = {0: (mx.nd.array(arr), np.float32(2.5), arr.T.copy()), 1: None,
              2: [1, "x", b"b", bytearray(b"y"), {3}, frozenset([4]), 1 + 2j]}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = states_format.loads(pickle.dumps(states, protocol=protocol))
        np.testing.assert_array_equal(back[0][0].asnumpy(), arr.astype(np.float32))
        assert back[0][1] == np.float32(2.5) and back[1] is None
        np.testing.assert_array_equal(back[0][2], arr.T)
        assert back[2] == states[2]
    mine = states_format.loads(states_format.dumps({0: mx.nd.array(arr)}))
    np.testing.assert_array_equal(mine[0].asnumpy(), arr.astype(np.float32))


def test_mxnet_states_file_still_loads(shared_dir):
    path = shared_dir / "mxnet" / "lenet-0001.states"
    states = states_format.loads(path.read_bytes(), str(path))
    params = mx.nd.load(str(shared_dir / "mxnet" / "lenet-0001.params"))
    shapes = sorted(tuple(v.shape) for k, v in params.items() if k.startswith("arg:"))
    assert sorted(tuple(s.shape) for s in states.values()) == shapes


def small_module():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, name="fc1", num_hidden=3)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(data_shapes=[("data", (2, 4))], label_shapes=[("softmax_label", (2,))])
    mod.init_params()
    return mod


def test_module_loads_states_only_through_the_allow_list(tmp_path):
    marker = tmp_path / "marker"
    mod = small_module()
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("momentum", 0.9),))
    mod.save_checkpoint(str(tmp_path / "net"), 1, save_optimizer_states=True)
    good = (tmp_path / "net-0001.states").read_bytes()
    mod.load_optimizer_states(str(tmp_path / "net-0001.states"))        # the real thing
    for blob in marker_payloads(marker)[:3]:
        (tmp_path / "net-0001.states").write_bytes(blob)
        with pytest.raises(MXNetError, match="net-0001.states"):
            mod.load_optimizer_states(str(tmp_path / "net-0001.states"))
        loaded = mx.mod.Module.load(str(tmp_path / "net"), 1, load_optimizer_states=True)
        loaded.bind(data_shapes=[("data", (2, 4))], label_shapes=[("softmax_label", (2,))])
        with pytest.raises(MXNetError, match="net-0001.states"):
            loaded.init_optimizer(optimizer="sgd", optimizer_params=(("momentum", 0.9),))
        assert not marker.exists()
    assert good
