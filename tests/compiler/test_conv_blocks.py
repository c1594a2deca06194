"""Convolution over blocks of samples (several samples per GEMM) and the max pooling fast path,
checked on batches large enough to take those paths, against NumPy references written here."""
import numpy as np
import pytest

from mxc import sym as S
from mxc.executor import Executor

RNG = np.random.RandomState(11)


def conv_ref(x, w, b, stride, pad, dilate, head):
    """Forward output and the gradients of sum(output * head) by direct loops over taps."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dilate[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilate[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    gw, gxp = np.zeros_like(w), np.zeros_like(xp)
    for i in range(kh):
        for j in range(kw):
            hs, ws = i * dilate[0], j * dilate[1]
            sl = (slice(None), slice(None), slice(hs, hs + stride[0] * (oh - 1) + 1, stride[0]),
                  slice(ws, ws + stride[1] * (ow - 1) + 1, stride[1]))
            patch = xp[sl]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j])
            gw[:, :, i, j] = np.einsum("nfhw,nchw->fc", head, patch)
            gxp[sl] += np.einsum("nfhw,fc->nchw", head, w[:, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    gx = gxp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd]
    return out, gx, gw, head.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("n,shape,kernel,stride,pad,dilate,no_bias", [
    (9, (3, 10, 9), (3, 3), (1, 1), (0, 0), (1, 1), False),
    (13, (2, 11, 12), (3, 2), (2, 1), (1, 2), (1, 2), True),
    (6, (4, 8, 8), (5, 5), (1, 1), (2, 2), (1, 1), False),
])
def test_convolution_sample_blocks_forward_backward(n, shape, kernel, stride, pad, dilate,
                                                    no_bias):
    net = S.Convolution(S.Variable("data"), kernel=kernel, stride=stride, pad=pad,
                        dilate=dilate, num_filter=7, no_bias=no_bias, name="c")
    ex = Executor(net, {"data": (n,) + shape}, dtype="float64",
                  grad_req={k: "write" for k in net.list_arguments()})
    vals = {k: RNG.uniform(-1, 1, v.shape) for k, v in ex.arg_arrays.items()}
    for k, v in vals.items():
        ex.arg_arrays[k][...] = v
    ex.forward(True)
    head = RNG.uniform(-1, 1, ex.outputs[0].shape)
    ex.head_grads[0][...] = head
    ex.backward()
    out, gx, gw, gb = conv_ref(vals["data"], vals["c_weight"], vals.get("c_bias"), stride, pad,
                               dilate, head)
    np.testing.assert_allclose(ex.outputs[0], out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ex.grad_arrays["data"], gx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ex.grad_arrays["c_weight"], gw, rtol=1e-10, atol=1e-10)
    if not no_bias:
        np.testing.assert_allclose(ex.grad_arrays["c_bias"], gb, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((3, 3), (2, 2))])
def test_max_pooling_inside_windows_first_maximum(kernel, stride):
    shape = (5, 3, 9, 9)
    x = RNG.randint(0, 3, shape).astype(np.float64)        # many ties within windows
    net = S.Pooling(S.Variable("data"), kernel=kernel, stride=stride, pool_type="max")
    ex = Executor(net, {"data": shape}, grad_req={"data": "write"}, dtype="float64")
    ex.arg_arrays["data"][...] = x
    ex.forward(True)
    oh = (shape[2] - kernel[0]) // stride[0] + 1
    ow = (shape[3] - kernel[1]) // stride[1] + 1
    head = RNG.uniform(-1, 1, (shape[0], shape[1], oh, ow))
    ex.head_grads[0][...] = head
    ex.backward()
    want, gx = np.zeros(head.shape), np.zeros(shape)
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * stride[0]:i * stride[0] + kernel[0],
                    j * stride[1]:j * stride[1] + kernel[1]].reshape(shape[0], shape[1], -1)
            want[:, :, i, j] = win.max(axis=2)
            first = win.argmax(axis=2)
            for a in range(shape[0]):
                for b in range(shape[1]):
                    r, s = divmod(int(first[a, b]), kernel[1])
                    gx[a, b, i * stride[0] + r, j * stride[1] + s] += head[a, b, i, j]
    np.testing.assert_array_equal(ex.outputs[0], want)
    np.testing.assert_allclose(ex.grad_arrays["data"], gx, rtol=1e-12, atol=1e-12)
