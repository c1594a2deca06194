"""The plan's passes one by one, on small graphs: each check is derived from the graph itself
(reachability, readers, lifetimes), not from a stored layout."""
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.compiler import plan as P
from mxc.compiler.graph import topo_order

ALIGN = P.ALIGN_BYTES // 4          # float32 elements per alignment unit


def _fc(x, h, name):
    return mx.sym.FullyConnected(x, num_hidden=h, name=name)


def _relu(x, name):
    return mx.sym.Activation(x, act_type="relu", name=name)


def _views(sym, shapes):
    order = topo_order(sym._heads)
    return P.node_views(order, P.infer_shapes(order, sym._heads, shapes))


def _by_label(views):
    return {v.label: v for v in views}


def _overlap(a, b):
    return a.offset < b.offset + max(b.size, 1) and b.offset < a.offset + max(a.size, 1)


# ---- checks, roles, requests ------------------------------------------------------------------

def test_check_inputs_names_the_bad_argument():
    args = ["data", "fc_weight", "fc_bias"]
    P.check_inputs(args, {"data": (2, 3)}, ["data"], [])
    with pytest.raises(MXNetError, match="'label' is not an argument"):
        P.check_inputs(args, {"data": (2, 3)}, ["data"], ["label"])
    with pytest.raises(MXNetError, match="shape given for 'dta'"):
        P.check_inputs(args, {"dta": (2, 3)}, ["data"], [])
    with pytest.raises(MXNetError, match=r"shape of 'data' must be positive, got \(2, 0\)"):
        P.check_inputs(args, {"data": (2, 0)}, ["data"], [])
    with pytest.raises(MXNetError, match="unsupported dtype 'float16'"):
        P.check_dtype("float16")


def test_infer_shapes_names_the_variable_it_cannot_infer():
    net = mx.sym.var("a") + mx.sym.var("b")
    order = topo_order(net._heads)
    shapes = P.infer_shapes(order, net._heads, {"a": (2, 3), "b": (2, 3)})
    assert shapes[(id(order[-1]), 0)] == (2, 3)
    unknown = mx.sym.var("c") * mx.sym.dot(mx.sym.var("a"), mx.sym.var("b"))
    with pytest.raises(MXNetError, match="cannot infer the shapes of .*b"):
        P.infer_shapes(topo_order(unknown._heads), unknown._heads, {"a": (2, 3)})


def test_roles_and_requests():
    data = mx.sym.var("data")
    bn = mx.sym.BatchNorm(_fc(data, 4, "fc"), name="bn")
    net = mx.sym.SoftmaxOutput(bn, name="sm")
    order = topo_order(net._heads)
    roles = P.assign_roles(order, ["data"], ["sm_label"])
    by_name = {n.name: roles[id(n)] for n in order if n.is_variable}
    assert by_name == {"data": "data", "fc_weight": "param", "fc_bias": "param",
                       "bn_gamma": "param", "bn_beta": "param", "bn_moving_mean": "aux",
                       "bn_moving_var": "aux", "sm_label": "label"}
    variables = [n for n in order if n.is_variable]
    reqs = P.gradient_requests(variables, roles, {"data": "write", "fc_bias": "add"}, True)
    assert {n.name: reqs[id(n)] for n in variables} == {
        "data": "write", "fc_weight": "write", "fc_bias": "add", "bn_gamma": "write",
        "bn_beta": "write", "bn_moving_mean": "null", "bn_moving_var": "null",
        "sm_label": "null"}
    inference = P.gradient_requests(variables, roles, {"data": "write"}, False)
    assert set(inference.values()) == {"null"}
    with pytest.raises(MXNetError, match="grad_req for 'fc_weight' must be write, add or null"):
        P.gradient_requests(variables, roles, {"fc_weight": "sum"}, True)


def test_two_variables_with_one_name_are_refused():
    net = _fc(mx.sym.var("x"), 3, "f") + mx.sym.var("x")
    with pytest.raises(MXNetError, match="two different variables are named 'x'"):
        P.assign_roles(topo_order(net._heads), ["x"], [])


# ---- argument layout --------------------------------------------------------------------------

def test_layout_arguments_orders_regions_and_aligns_every_tensor():
    data = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(_fc(mx.sym.BatchNorm(_fc(data, 5, "f1"), name="bn"), 3, "f2"),
                               name="sm")
    plan = P.make_plan(net, {"data": (4, 7), "sm_label": (4,)}, ["data"], ["sm_label"],
                       grad_req={"data": "write", "f1_bias": "null"})
    assert [a.name for a in plan.args] == net.list_arguments()
    params = plan.params
    assert plan.param_begin == params[0].value.offset == ALIGN      # after the header
    assert plan.param_end == params[-1].value.offset + params[-1].value.size
    for a, b in zip(params, params[1:]):                              # contiguous, aligned
        assert b.value.offset == -(-(a.value.offset + a.value.size) // ALIGN) * ALIGN
    grads = [a.grad for a in params if a.grad is not None]
    assert [a.name for a in params if a.grad is None] == ["f1_bias"]
    assert min(g.offset for g in grads) >= plan.param_end
    aux_start = min(a.value.offset for a in plan.aux)
    assert aux_start > max(g.offset for g in grads)
    data_arg = plan.arg("data")
    assert data_arg.value.offset > aux_start and data_arg.grad.offset > data_arg.value.offset
    assert plan.arg("sm_label").grad is None
    tensors = [a.value for a in plan.args + plan.aux] + [a.grad for a in plan.args if a.grad]
    for i, t in enumerate(tensors):
        assert t.offset % ALIGN == 0
        assert not any(_overlap(t, u) for u in tensors[i + 1:]), t
    assert plan.regions["params"] == plan.param_end - plan.param_begin
    assert plan.regions["params"] == sum(-(-a.value.size // ALIGN) * ALIGN
                                         for a in params[:-1]) + params[-1].value.size


# ---- gradients --------------------------------------------------------------------------------

def _reachable(heads, seeds):
    """Reference: a tensor needs a gradient when a path of differentiable, gradient-carrying
    input slots leads from a seed to it (recursive over the graph, no execution order)."""
    memo = {}

    def needs(node, i):
        key = (id(node), i)
        if key not in memo:
            memo[key] = key in seeds or (not node.is_variable and node.op.differentiable and any(
                needs(c, j) for slot, (c, j) in zip(node.input_names(), node.inputs)
                if slot not in node.op.no_grad_inputs))
        return memo[key]

    out = set()
    for n in topo_order(heads):
        for i in range(n.num_outputs()):
            if needs(n, i):
                out.add(n.output_name(i))
    return out


def test_mark_gradients_marks_exactly_the_reachable_tensors():
    data, other = mx.sym.var("data"), mx.sym.var("other")
    h = _relu(_fc(data, 6, "fc1"), "r1")
    side = mx.sym.sum(other * other, name="side")           # reads no seed
    loss = mx.sym.SoftmaxOutput(_fc(h, 3, "fc2"), name="sm")
    net = mx.sym.Group([loss, side, mx.sym.BlockGrad(h, name="blk")])
    shapes = {"data": (2, 4), "other": (2, 2), "sm_label": (2,)}
    views = _views(net, shapes)
    order = topo_order(net._heads)
    seeds = {(id(n), 0) for n in order if n.name in ("fc1_weight", "fc2_bias")}
    needs = P.mark_gradients(views, seeds)
    names = {n.output_name(i) for n in order for i in range(n.num_outputs())
             if (id(n), i) in needs}
    assert names == _reachable(net._heads, seeds)
    assert names == {"fc1_weight", "fc2_bias", "fc1_output", "r1_output", "fc2_output",
                     "sm_output"}
    v = _by_label(views)
    assert v["fc1"].need_grad == {"data": False, "weight": True, "bias": False}
    assert v["sm"].need_grad == {"data": True, "label": False}
    assert not v["side"].needs_backward and not v["blk"].needs_backward
    assert v["fc2"].needs_backward and v["r1"].needs_backward


def test_mark_gradients_without_seeds_marks_nothing():
    net = mx.sym.SoftmaxOutput(_fc(mx.sym.var("data"), 3, "fc"), name="sm")
    views = _views(net, {"data": (2, 4), "sm_label": (2,)})
    assert P.mark_gradients(views, set()) == set()
    assert not any(v.needs_backward for v in views)


def test_gradient_buffers_sum_shared_readers_and_write_single_ones_directly():
    x = mx.sym.var("x")
    fc = _fc(x, 4, "fc")
    a, b = mx.sym.Activation(fc, act_type="tanh", name="a"), mx.sym.exp(fc, name="b")
    net = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(a + b), name="loss"), fc])
    plan = P.make_plan(net, {"x": (3, 5)}, ["x"], [], grad_req={"x": "add"}, fuse=False)
    v = _by_label(plan.nodes)
    w = plan.arg("fc_weight")
    assert v["fc"].bwd_grad["weight"] is w.grad                # one reader, 'write': direct
    assert not any(total is w.grad for total, _, _, _ in plan.sums)
    sums = {total.name: (parts, add) for total, parts, add, _ in plan.sums}
    parts, add = sums["fc_output_grad"]                        # two readers + a head gradient
    head = [o for o in plan.outputs if o.name == "fc_output"][0]
    assert head.grad is not None and not add
    assert parts == [head.grad, v["a"].bwd_grad["data"], v["b"].bwd_grad["data"]]
    assert len({id(p) for p in parts}) == 3
    parts, add = sums["x_grad"]                                  # grad_req='add' accumulates
    assert add and parts == [v["fc"].bwd_grad["data"]]
    assert plan.arg("x").grad.name == "x_grad"
    assert [a for a in plan.outputs if a.name == "loss_output"][0].grad is None    # a loss


def test_zero_fill_covers_unwritten_gradients_only():
    data = mx.sym.var("data")
    parts = mx.sym.SliceChannel(_fc(data, 4, "fc"), num_outputs=2, name="sl")
    net = mx.sym.SoftmaxOutput(parts[0], name="sm")
    # sm_label bound as a parameter: its slot carries no gradient, so nothing writes it
    plan = P.make_plan(net, {"data": (2, 3), "sm_label": (2,)}, ["data"], [])
    zeroed = {t.name for t in plan.zero_fill}
    assert "sm_label_grad" in zeroed                            # never written
    assert "sl_output1_grad_zero" in zeroed                     # unused output of a backward node
    assert "fc_weight_grad" not in zeroed and "sl_output0_grad" not in zeroed
    assert len(zeroed) == 2
    v = _by_label(plan.nodes)
    grad_args = {name: expr for _, name, expr in v["sl"].bwd_args}
    assert grad_args["output1_grad"] == plan.zero_fill[1].expr()


# ---- fusion -----------------------------------------------------------------------------------

def _fused_labels(sym, shapes, rules=P.FUSION_RULES):
    views = _views(sym, shapes)
    return [(rule, p.label, c.label) for rule, p, c in P.fuse_nodes(views, sym._heads, rules)]


def test_fusion_table_fuses_fc_relu():
    net = _fc(_relu(_fc(mx.sym.var("data"), 8, "fc1"), "r1"), 2, "fc2")
    views = _views(net, {"data": (4, 3)})
    fused = P.fuse_nodes(views, net._heads)
    assert [(r, p.label, c.label) for r, p, c in fused] == [("fc_relu", "fc1", "r1")]
    v = _by_label(views)
    assert v["fc1"].fused_act is v["r1"] and v["r1"].fused_into is v["fc1"]
    assert v["fc1"].forward_name == "fused_fc1_r1_forward"
    assert v["fc2"].fused_act is None and v["fc2"].forward_name == "fc2_forward"


def test_fusion_refuses_shared_requested_or_unmatched_producers():
    fc = _fc(mx.sym.var("data"), 8, "fc")
    shapes = {"data": (4, 3)}
    assert _fused_labels(_relu(fc, "r") + fc, shapes) == []            # FC read twice
    assert _fused_labels(mx.sym.Group([_relu(fc, "r"), fc]), shapes) == []   # FC is a head
    assert _fused_labels(_relu(fc, "r").get_internals(), shapes) == []
    sig = mx.sym.Activation(fc, act_type="sigmoid", name="s")
    assert _fused_labels(sig, shapes) == []                            # predicate fails
    conv = mx.sym.Convolution(mx.sym.var("data"), kernel=(1, 1), num_filter=2, name="cv")
    assert _fused_labels(_relu(conv, "r"), {"data": (1, 1, 3, 3)}) == []   # no rule


def test_fusion_is_driven_by_the_table():
    shapes = {"data": (4, 3)}
    sig = mx.sym.Activation(_fc(mx.sym.var("data"), 8, "fc"), act_type="sigmoid", name="s")
    rules = [("FullyConnected", lambda v: v.p["num_hidden"] == 8, "Activation",
              lambda v: v.p["act_type"] == "sigmoid", "fc_sigmoid")]
    assert _fused_labels(sig, shapes, rules) == [("fc_sigmoid", "fc", "s")]
    strict = [(rules[0][0], lambda v: v.p["num_hidden"] == 9) + rules[0][2:]]
    assert _fused_labels(sig, shapes, strict) == []
    assert _fused_labels(sig, shapes, []) == []


def test_fused_producer_writes_its_consumers_buffer():
    net = mx.sym.SoftmaxOutput(_fc(_relu(_fc(mx.sym.var("data"), 8, "fc1"), "r1"), 2, "fc2"),
                               name="sm")
    plan = P.make_plan(net, {"data": (4, 3), "sm_label": (4,)}, ["data"], ["sm_label"])
    v = _by_label(plan.nodes)
    out = {name: expr for _, name, expr in v["fc1"].fwd_args}["output"]
    assert out == plan.internals["r1_output"].expr()
    assert "fc1_output" not in plan.internals
    relu_in = {name: expr for _, name, expr in v["r1"].bwd_args}["data"]
    assert relu_in == out          # backward of the relu reads its own output in place of x


# ---- memory -----------------------------------------------------------------------------------

def _net_with_branches():
    x = mx.sym.var("data")
    a = _relu(_fc(x, 32, "f1"), "r1")
    b = mx.sym.Activation(_fc(a, 16, "f2"), act_type="tanh", name="t2")
    c = mx.sym.Activation(_fc(a, 16, "f3"), act_type="sigmoid", name="s3")
    d = mx.sym.Concat(b, c, dim=1, name="cat")
    e = _relu(_fc(d, 24, "f4"), "r4")
    f = _fc(mx.sym.elemwise_add(e, _fc(d, 24, "f5"), name="add"), 5, "f6")
    return mx.sym.Group([mx.sym.SoftmaxOutput(f, name="sm"), b])


def test_reuse_allocator_never_overlaps_live_buffers():
    net = _net_with_branches()
    shapes = {"data": (8, 12), "sm_label": (8,)}
    plan = P.make_plan(net, shapes, ["data"], ["sm_label"], for_training=False)
    steps = [v for v in plan.nodes if v.fused_into is None]
    step = {id(v): k for k, v in enumerate(steps)}
    outputs = {}                    # (id(node), i) -> (Tensor, written at, released after)
    for v in steps:
        writer = v.fused_act or v
        expr = dict((name, e) for _, name, e in v.fwd_args)
        for i, slot in enumerate(writer.slots_out):
            offset = int(expr[slot].split("+")[1])
            outputs[(id(writer.node), i)] = [offset, writer.size[slot], step[id(v)], step[id(v)]]
    for v in plan.nodes:
        runs = step[id(v.fused_into or v)]
        for c, i in v.node.inputs:
            if (id(c), i) in outputs:
                outputs[(id(c), i)][3] = max(outputs[(id(c), i)][3], runs)
    for n, i in net._heads:
        outputs[(id(n), i)][3] = len(steps)          # requested outputs are never released
    items = list(outputs.values())
    assert len(items) == sum(len((v.fused_act or v).slots_out) for v in steps)
    for j, (o1, s1, w1, r1) in enumerate(items):
        assert o1 % ALIGN == 0 and o1 >= plan.regions["params"]
        for o2, s2, w2, r2 in items[j + 1:]:
            both_live = max(w1, w2) <= min(r1, r2)
            assert not (both_live and o1 < o2 + s2 and o2 < o1 + s1), (o1, s1, o2, s2)
    assert plan.size >= max(o + s for o, s, _, _ in items)
    training = P.make_plan(net, shapes, ["data"], ["sm_label"], for_training=True)
    assert plan.regions["activations"] < training.regions["activations"]     # space reused


def test_reuse_allocator_lists_only_intact_internals():
    net = _net_with_branches()
    plan = P.make_plan(net, {"data": (8, 12), "sm_label": (8,)}, ["data"], ["sm_label"],
                       for_training=False)
    heads = {o.name for o in plan.outputs}
    assert {"sm_output", "t2_output"} <= set(plan.internals) and heads <= set(plan.internals)
    args = {a.name for a in plan.args}
    intact = [t for name, t in plan.internals.items() if name not in args]
    assert len(intact) < sum(v.node.num_visible() for v in plan.nodes)    # some overwritten
    for i, t in enumerate(intact):               # what it lists still holds its value
        assert not any(_overlap(t, u) for u in intact[i + 1:]), t


def test_training_plan_gives_every_output_its_own_buffer():
    net = _net_with_branches()
    plan = P.make_plan(net, {"data": (8, 12), "sm_label": (8,)}, ["data"], ["sm_label"])
    assert plan.fused == [("f1", "r1"), ("f4", "r4")]
    producers = {p for p, _ in plan.fused}
    names = [v.node.output_name(i) for v in plan.nodes if v.label not in producers
             for i in range(v.node.num_visible())]
    outs = [plan.internals[name] for name in names]
    for i, t in enumerate(outs):
        assert not any(_overlap(t, u) for u in outs[i + 1:])


def test_workspace_is_the_largest_request():
    x = mx.sym.var("data")
    c1 = mx.sym.Convolution(x, kernel=(3, 3), num_filter=4, name="c1")
    c2 = mx.sym.Convolution(c1, kernel=(5, 5), pad=(2, 2), num_filter=2, name="c2")
    plan = P.make_plan(c2, {"data": (2, 3, 9, 9)}, ["data"], [])
    sizes = [v.ws for v in plan.nodes]
    assert all(s > 0 for s in sizes) and sizes[0] != sizes[1]
    assert plan.workspace.size == max(sizes)
    assert plan.workspace.offset >= max(t.offset + t.size for t in plan.internals.values())
    plain = P.make_plan(_fc(x, 3, "f"), {"data": (2, 4)}, ["data"], [])
    assert plain.workspace is None


# ---- kernel arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("fix_gamma", [True, False])
def test_kernel_args_point_at_the_planned_tensors(fix_gamma):
    x = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(mx.sym.BatchNorm(_fc(x, 4, "fc"), fix_gamma=fix_gamma,
                                                name="bn"), name="sm")
    plan = P.make_plan(net, {"data": (3, 5), "sm_label": (3,)}, ["data"], ["sm_label"])
    v = _by_label(plan.nodes)
    fwd = {name: (ctype, e) for ctype, name, e in v["bn"].fwd_args}
    assert list(fwd) == ["data", "gamma", "beta", "moving_mean", "moving_var", "output",
                         "mean", "var"]
    assert fwd["gamma"] == ("real*" if fix_gamma else "const real*",
                            plan.arg("bn_gamma").value.expr())
    assert fwd["beta"] == ("const real*", plan.arg("bn_beta").value.expr())
    assert fwd["moving_var"] == ("real*", plan.aux[1].value.expr())
    assert fwd["data"] == ("const real*", plan.internals["fc_output"].expr())
    bwd = {name: (ctype, e) for ctype, name, e in v["bn"].bwd_args}
    assert bwd["gamma"] == ("const real*", plan.arg("bn_gamma").value.expr())
    assert bwd["gamma_grad"] == ("real*", plan.arg("bn_gamma").grad.expr())
    zeroed = {t.expr() for t in plan.zero_fill}
    assert bwd["mean_grad"][1] == "NULL" and bwd["var_grad"][1] == "NULL"   # hidden outputs
    assert bwd["output_grad"][1] not in zeroed
    fc_bwd = {name: (ctype, e) for ctype, name, e in v["fc"].bwd_args}
    assert fc_bwd["data_grad"] == ("real*", "NULL")             # data's gradient not requested
    assert fc_bwd["weight_grad"] == ("real*", plan.arg("fc_weight").grad.expr())
    assert fc_bwd["output_grad"][1] == v["bn"].bwd_grad["data"].expr()
    sm_fwd = [name for _, name, _ in v["sm"].fwd_args]
    assert sm_fwd == ["data", "label", "output"]
