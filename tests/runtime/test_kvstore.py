"""mx.kvstore: push/pull/pushpull semantics against NumPy, updaters and optimizers against
mx.optimizer applied by hand, optimizer-state files, errors, and Module.fit with a kvstore
giving the same parameters as without one."""
import logging

import numpy as np
import pytest

import mxc as mx
from mxc import states_format
from mxc.base import MXNetError

SHAPE = (2, 3)


def rand(seed, shape=SHAPE):
    return np.random.RandomState(seed).normal(size=shape).astype(np.float32)


def nd(a):
    return mx.nd.array(a)


def pulled(kv, key, shape=SHAPE):
    out = mx.nd.zeros(shape)
    kv.pull(key, out=out)
    return out.asnumpy()


# ----------------------------------------------------------------------------- push / pull

@pytest.mark.parametrize("name", ["local", "device", "nccl", "dist_sync", "dist_device_sync",
                                  "dist", "local_allreduce_cpu"])
def test_types_rank_and_workers(name):
    kv = mx.kv.create(name)
    assert (kv.type, kv.rank, kv.num_workers) == (name, 0, 1)
    kv.barrier()
    assert mx.kvstore.create is mx.kv.create


def test_init_then_pull_gives_a_copy_of_the_value():
    kv = mx.kv.create()
    value = nd(rand(0))
    kv.init(3, value)
    value[:] = 0                      # the store keeps its own copy
    np.testing.assert_array_equal(pulled(kv, 3), rand(0))


def test_push_of_a_list_sums_and_replaces():
    kv = mx.kv.create("local")
    kv.init(0, nd(rand(0)))
    grads = [rand(s) for s in (1, 2, 3)]
    kv.push(0, [nd(g) for g in grads])
    np.testing.assert_allclose(pulled(kv, 0), grads[0] + grads[1] + grads[2], rtol=1e-6)
    kv.push(0, nd(rand(4)))           # no updater: the new sum replaces, never accumulates
    np.testing.assert_array_equal(pulled(kv, 0), rand(4))


def test_pull_into_a_list_of_outputs_and_several_keys():
    kv = mx.kv.create("device")
    kv.init([5, 7], [nd(rand(5)), nd(rand(7, (4,)))])
    outs = [mx.nd.zeros(SHAPE) for _ in range(3)]
    out7 = mx.nd.zeros((4,))
    kv.pull([5, 7], out=[outs, out7])
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), rand(5))
    np.testing.assert_array_equal(out7.asnumpy(), rand(7, (4,)))
    kv.push([5, 7], [[nd(rand(1)), nd(rand(2))], nd(rand(3, (4,)))])
    np.testing.assert_allclose(pulled(kv, 5), rand(1) + rand(2), rtol=1e-6)
    np.testing.assert_array_equal(pulled(kv, 7, (4,)), rand(3, (4,)))


def test_string_and_int_keys_are_distinct():
    kv = mx.kv.create()
    kv.init("3", nd(np.ones(SHAPE)))
    kv.init(3, nd(np.zeros(SHAPE)))
    kv.init(np.int64(4), nd(np.full(SHAPE, 4.0)))
    np.testing.assert_array_equal(pulled(kv, "3"), np.ones(SHAPE))
    np.testing.assert_array_equal(pulled(kv, 3), np.zeros(SHAPE))
    np.testing.assert_array_equal(pulled(kv, 4), np.full(SHAPE, 4.0))


def test_pushpull_writes_into_value_or_out():
    kv = mx.kv.create()
    kv.init("w", nd(np.zeros(SHAPE)))
    grads = [nd(rand(1)), nd(rand(2))]
    kv.pushpull("w", grads)
    for g in grads:
        np.testing.assert_allclose(g.asnumpy(), rand(1) + rand(2), rtol=1e-6)
    out = mx.nd.zeros(SHAPE)
    kv.pushpull("w", nd(rand(3)), out=out)
    np.testing.assert_array_equal(out.asnumpy(), rand(3))


def test_broadcast_initialises_and_pulls():
    kv = mx.kv.create()
    outs = [mx.nd.zeros(SHAPE), mx.nd.zeros(SHAPE)]
    kv.broadcast("b", nd(rand(9)), out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), rand(9))


# ------------------------------------------------------------------------ updates

def test_custom_updater_gets_key_merged_sum_and_stored_weight():
    kv = mx.kv.create()
    kv.init([1, "b"], [nd(rand(0)), nd(rand(1))])
    calls = []

    def updater(key, grad, weight):
        calls.append(key)
        weight[:] = weight.asnumpy() - 0.5 * grad.asnumpy()

    kv._set_updater(updater)
    kv.push([1, "b"], [[nd(rand(2)), nd(rand(3))], nd(rand(4))])
    assert calls == [1, "b"]
    np.testing.assert_allclose(pulled(kv, 1), rand(0) - 0.5 * (rand(2) + rand(3)), rtol=1e-6)
    np.testing.assert_allclose(pulled(kv, "b"), rand(1) - 0.5 * rand(4), rtol=1e-6)
    kv.set_updater(lambda key, grad, weight: weight.__setitem__(slice(None), 0))
    kv.push(1, nd(rand(5)))
    np.testing.assert_array_equal(pulled(kv, 1), np.zeros(SHAPE))


def sgd():
    return mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5)


@pytest.mark.parametrize("key", [0, "fc_weight"])
def test_set_optimizer_matches_the_updater_applied_by_hand(key):
    kv = mx.kv.create("dist_sync")
    kv.init(key, nd(rand(0)))
    kv.set_optimizer(sgd())
    by_hand = mx.optimizer.get_updater(sgd())
    weight = nd(rand(0))
    for step in range(3):
        grads = [rand(10 + step), rand(20 + step)]
        kv.push(key, [nd(g) for g in grads])
        by_hand(key, nd(grads[0] + grads[1]), weight)
    np.testing.assert_allclose(pulled(kv, key), weight.asnumpy(), rtol=1e-6)
    # and the same against SGD with momentum written out in NumPy
    w, mom = rand(0).astype(np.float64), np.zeros(SHAPE)
    for step in range(3):
        g = 0.5 * (rand(10 + step) + rand(20 + step))
        mom = 0.9 * mom - 0.1 * 0.01 * w - 0.1 * g
        w = w + mom
    np.testing.assert_allclose(pulled(kv, key), w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dump_optimizer", [False, True])
def test_optimizer_states_round_trip(tmp_path, dump_optimizer):
    def store():
        kv = mx.kv.create()
        kv.init("w", nd(rand(0)))
        kv.set_optimizer(sgd())
        return kv

    full = store()
    for step in range(4):
        full.push("w", nd(rand(step + 1)))
    half = store()
    for step in range(2):
        half.push("w", nd(rand(step + 1)))
    fname = str(tmp_path / "kv.states")
    half.save_optimizer_states(fname, dump_optimizer=dump_optimizer)
    resumed = mx.kv.create()
    resumed.init("w", nd(pulled(half, "w")))
    resumed.set_optimizer(sgd())
    resumed.load_optimizer_states(fname)
    for step in range(2, 4):
        resumed.push("w", nd(rand(step + 1)))
    np.testing.assert_allclose(pulled(resumed, "w"), pulled(full, "w"), rtol=1e-6)


def test_gradient_compression_is_accepted_and_reported(caplog):
    kv = mx.kv.create("device")
    assert kv.gradient_compression is None
    with caplog.at_level(logging.INFO, logger="mxc.kvstore"):
        kv.set_gradient_compression({"type": "2bit", "threshold": 0.25})
    assert kv.gradient_compression == {"type": "2bit", "threshold": 0.25}
    assert any("compression" in r.getMessage() and r.name == "mxc.kvstore"
               for r in caplog.records)


def test_dist_sync_says_it_runs_as_one_worker(caplog):
    with caplog.at_level(logging.WARNING, logger="mxc.kvstore"):
        mx.kv.create("dist_sync")
    assert any("mpirun" in r.getMessage() for r in caplog.records)


def test_registered_store_is_created_by_name():
    @mx.kv.KVStoreBase.register
    class TestStoreForCreate(mx.kv.KVStore):
        def __init__(self):
            super().__init__("local")

    try:
        assert isinstance(mx.kv.create("TestStoreForCreate"), TestStoreForCreate)
    finally:
        del mx.kv.KVStoreBase.kv_registry["teststoreforcreate"]


# ------------------------------------------------------------------------------- errors

def test_errors_name_the_key_and_the_fault():
    kv = mx.kv.create()
    kv.init("w", nd(rand(0)))
    with pytest.raises(MXNetError, match="duplicate init of key 'w'"):
        kv.init("w", nd(rand(0)))
    with pytest.raises(MXNetError, match="key 'nope' has not been initialized"):
        kv.pull("nope", out=mx.nd.zeros(SHAPE))
    with pytest.raises(MXNetError, match="key 9 has not been initialized"):
        kv.push(9, nd(rand(0)))
    with pytest.raises(MXNetError, match=r"key 'w' holds shape \(2, 3\).*\(3, 2\)"):
        kv.push("w", nd(rand(0, (3, 2))))
    with pytest.raises(MXNetError, match=r"output array has shape \(6,\)"):
        kv.pull("w", out=mx.nd.zeros((6,)))
    with pytest.raises(MXNetError, match="row_sparse"):
        kv.row_sparse_pull("w", out=mx.nd.zeros(SHAPE), row_ids=mx.nd.array([0]))
    with pytest.raises(MXNetError, match="ints or strs"):
        kv.init(1.5, nd(rand(0)))
    with pytest.raises(MXNetError, match="must be an NDArray"):
        kv.push("w", rand(0))
    with pytest.raises(MXNetError, match="2 keys need a list of 2 values"):
        kv.push(["w", "w"], nd(rand(0)))
    with pytest.raises(MXNetError, match="no optimizer is set"):
        kv.save_optimizer_states("unused.states")
    with pytest.raises(MXNetError, match="not supported for kvstore type 'local'"):
        kv.set_gradient_compression({"type": "2bit"})


def test_bad_types_and_compression_settings():
    with pytest.raises(MXNetError, match="'dist_async' is not supported"):
        mx.kv.create("dist_async")
    with pytest.raises(MXNetError, match="unknown kvstore type 'locl'"):
        mx.kv.create("locl")
    with pytest.raises(TypeError):
        mx.kv.create(3)
    kv = mx.kv.create("device")
    with pytest.raises(MXNetError, match="type must be one of"):
        kv.set_gradient_compression({"type": "3bit"})
    with pytest.raises(MXNetError, match="threshold must be positive"):
        kv.set_gradient_compression({"type": "2bit", "threshold": -1})
    with pytest.raises(MXNetError, match="type must be one of"):
        kv.set_gradient_compression({"type": "none"})
    with pytest.raises(MXNetError, match="must be a dict"):
        kv.set_gradient_compression("2bit")


def test_compression_defaults_and_unknown_keys(caplog):
    kv = mx.kv.create("dist_sync")
    with caplog.at_level(logging.WARNING, logger="mxc.kvstore"):
        kv.set_gradient_compression({"type": "1bit", "thresh": 1})
    assert kv.gradient_compression == {"type": "1bit", "threshold": 0.5}
    assert any("thresh" in r.getMessage() for r in caplog.records)


def test_a_multi_process_launch_needs_the_dist_store(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")     # mx.kv.create gives the MPI store
    with pytest.raises(MXNetError, match="one of 4 launched processes.*mx.kv.create"):
        mx.kv.KVStore("dist_sync")
    mx.kv.create("local")           # the local types do not care


def test_a_bad_state_file_names_the_file(tmp_path):
    kv = mx.kv.create()
    kv.set_optimizer(sgd())
    bad = tmp_path / "bad.states"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(MXNetError, match="bad.states"):
        kv.load_optimizer_states(str(bad))


# ------------------------------------------------------------------------ Module.fit

def mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=6, name="fc1")
    act = mx.sym.Activation(fc1, act_type="tanh")
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def fit(kvstore, **module_kw):
    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = rng.randint(0, 3, size=32).astype(np.float32)
    mx.random.seed(0)
    mod = mx.mod.Module(mlp(), **module_kw)
    mod.fit(mx.io.NDArrayIter(x, y, 8), num_epoch=2, kvstore=kvstore, optimizer="sgd",
            optimizer_params=(("learning_rate", 0.1), ("momentum", 0.9)),
            initializer=mx.init.Xavier())
    arg, _aux = mod.get_params()
    return mod, {k: v.asnumpy() for k, v in arg.items()}


@pytest.fixture(scope="module")
def reference_params():
    return fit(None)[1]


@pytest.mark.parametrize("kvstore", ["local", "device", "dist_sync", "object"])
def test_fit_with_a_kvstore_matches_fit_without(kvstore, reference_params):
    kv = mx.kv.create("device") if kvstore == "object" else kvstore   # fit.py's default
    mod, params = fit(kv)
    assert sorted(params) == sorted(reference_params)
    for name, value in reference_params.items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
    expected = None if kvstore in ("local", "device") else \
        ("device" if kvstore == "object" else "dist_sync")
    assert (mod._kvstore.type if mod._kvstore is not None else None) == expected


def test_init_optimizer_puts_the_initial_parameters_in_the_store():
    mx.random.seed(0)
    mod = mx.mod.Module(mlp())
    mod.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    mod.init_params(mx.init.Xavier())
    kv = mx.kv.create("dist_device_sync")
    mod.init_optimizer(kvstore=kv, optimizer="sgd")
    assert mod._kvstore is kv
    arg, _aux = mod.get_params()
    for name, value in arg.items():
        np.testing.assert_array_equal(pulled(kv, name, value.shape), value.asnumpy())
    with pytest.raises(MXNetError, match="duplicate init of key 'fc1_weight'"):
        mod.init_optimizer(kvstore=kv, optimizer="sgd", force_init=True)


def test_fit_passes_compression_params_to_the_store():
    kv = mx.kv.create("dist_sync")
    fit(kv, compression_params={"type": "2bit", "threshold": 0.5})
    assert kv.gradient_compression == {"type": "2bit", "threshold": 0.5}


def test_module_optimizer_states_with_a_kvstore(tmp_path):
    mod, params = fit(mx.kv.create("dist_sync"))
    first, second = str(tmp_path / "a.states"), str(tmp_path / "b.states")
    mod.save_optimizer_states(first)
    other = mx.mod.Module(mlp())
    other.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    other.init_params(arg_params={k: nd(v) for k, v in params.items()})
    other.init_optimizer(kvstore=mx.kv.create("dist_sync"), optimizer="sgd",
                         optimizer_params=(("momentum", 0.9),))
    other.load_optimizer_states(first)
    other.save_optimizer_states(second)
    saved = [states_format.loads(open(f, "rb").read()) for f in (first, second)]
    assert sorted(saved[0]) == sorted(saved[1]) == list(range(len(params)))
    for index, state in saved[0].items():
        assert np.abs(state.asnumpy()).max() > 0       # momentum after two epochs
        np.testing.assert_array_equal(saved[1][index].asnumpy(), state.asnumpy())


def test_fit_rejects_bad_kvstores():
    with pytest.raises(TypeError, match="kvstore must be KVStore, str or None"):
        fit(42)
    with pytest.raises(MXNetError, match="'dist_async' is not supported"):
        fit("dist_async")
    with pytest.raises(MXNetError, match="unknown kvstore type"):
        fit("lcoal")
