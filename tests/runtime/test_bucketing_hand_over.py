"""BucketingModule's hand-over between buckets: buckets laid out alike take the parameter
region as one copy and update one optimizer state buffer, others copy by name, and a parameter
some buckets lack keeps its latest value; each against MXNet's SGD with momentum in NumPy."""
import numpy as np
import pytest

import mxc as mx
import mxc.module.bucketing_module as bm
from test_module_family import BATCH, BucketIter, init_params, rnn_sym_gen

LR, MOM, WD = 0.1, 0.9, 1e-3


def sgd_reference(data_iter, params, num_epoch, wd=WD):
    """One Module per bucket computes the gradients at the current weights; NumPy applies
    MXNet's SGD with momentum (wd on weights only) to the parameters the bucket has."""
    mods = {}
    w = {k: v.copy() for k, v in params.items()}
    mom = {k: np.zeros_like(v) for k, v in params.items()}
    for _epoch in range(num_epoch):
        data_iter.reset()
        for batch in data_iter:
            key = batch.bucket_key
            if key not in mods:
                sym, dn, ln = rnn_sym_gen(key)
                mods[key] = mx.mod.Module(sym, dn, ln)
                mods[key].bind(batch.provide_data, batch.provide_label)
            mod = mods[key]
            names = mod._param_names
            mod.init_params(arg_params={k: mx.nd.array(w[k]) for k in names}, force_init=True)
            mod.forward_backward(batch)
            for name in names:
                grad = mod._exec.grad_arrays[name] / BATCH
                decay = wd if name.endswith("_weight") else 0.0
                mom[name] = MOM * mom[name] - LR * (grad + decay * w[name])
                w[name] = w[name] + mom[name]
    return w


def fit(keys, optimizer="sgd", optimizer_params=None, epochs=2, wd=WD, context=None):
    mod = mx.mod.BucketingModule(rnn_sym_gen, default_bucket_key=max(keys), context=context)
    mod.fit(BucketIter(keys, max(keys)), num_epoch=epochs, optimizer=optimizer,
            optimizer_params=optimizer_params or {"learning_rate": LR, "momentum": MOM,
                                                  "wd": wd},
            arg_params={k: mx.nd.array(v) for k, v in init_params().items()},
            eval_metric="acc")
    return mod


def params_of(mod, names):
    """The latest value of each parameter (the buckets lacking one keep it in the stash)."""
    out = {}
    for name in names:
        mine = mod._curr_module._exec.arg_arrays.get(name)
        out[name] = mine.copy() if mine is not None else mod._stash[name][0]
    return out


@pytest.mark.parametrize("one_layout", [True, False])
def test_hand_over_matches_the_reference(one_layout, monkeypatch):
    if not one_layout:                      # force the by-name path on the same buckets
        monkeypatch.setattr(bm, "_same_layout", lambda src, dst: False)
    keys = [3, 5, 3, 4, 5, 3]
    mod = fit(keys)
    want = sgd_reference(BucketIter(keys, 5), init_params(), 2)
    got, _ = mod.get_params()
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    buffers = {id(m._opt_state) for m in mod._buckets.values()}
    assert len(buffers) == (1 if one_layout else 3)


def test_one_layout_is_one_copy_and_one_state_buffer():
    mod = fit([2, 3, 2, 3], optimizer="adam", optimizer_params={"learning_rate": 0.01})
    a, b = mod._buckets[2], mod._buckets[3]
    assert bm._same_layout(a, b)
    assert a._opt_state is b._opt_state
    # the current bucket's parameter region is what the other receives on the next switch
    region = lambda m: m._exec.arena[m._exec.plan.param_begin:m._exec.plan.param_end]
    current = mod._curr_module
    other = a if current is b else b
    mod.switch_bucket(2 if current is b else 3, None)
    np.testing.assert_array_equal(region(other), region(current))


def test_adam_state_survives_either_hand_over(monkeypatch):
    keys = [3, 5, 4, 3, 5]
    adam = {"learning_rate": 0.05}
    shared = fit(keys, "adam", adam, epochs=2).get_params()[0]
    monkeypatch.setattr(bm, "_same_layout", lambda src, dst: False)
    by_name = fit(keys, "adam", adam, epochs=2).get_params()[0]
    for name in shared:
        np.testing.assert_allclose(shared[name].asnumpy(), by_name[name].asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_parameter_some_buckets_lack_keeps_its_latest_value():
    # bucket 1 has no recurrent product, so no h2h_weight: leaving 3 for 1 and then entering
    # 5 must give 5 the h2h_weight (and momentum) that training in 3 left, not 5's own copy.
    # No weight decay: MXNet (and so mxc) looks up a parameter's wd_mult by its position in
    # the current bucket's list, which bucket 1 shifts.
    keys = [5, 3, 1, 5, 1, 3]
    mod = fit(keys, epochs=1, wd=0.0)
    assert "h2h_weight" not in mod._buckets[1]._param_names
    want = sgd_reference(BucketIter(keys, 5), init_params(), 1, wd=0.0)
    got = params_of(mod, want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert {id(mod._buckets[k]._opt_state) for k in (3, 5)} == {id(mod._buckets[3]._opt_state)}
    assert mod._buckets[1]._opt_state is not mod._buckets[3]._opt_state



def test_several_contexts_hand_over_by_name():
    keys = [3, 5, 3, 5]
    mod = fit(keys, context=[mx.cpu(0), mx.cpu(1)])
    want = sgd_reference(BucketIter(keys, 5), init_params(), 2)
    got, _ = mod.get_params()
    for name in want:
        np.testing.assert_allclose(got[name].asnumpy(), want[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
