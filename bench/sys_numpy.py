"""The same training loops written directly in NumPy (the reference implementation)."""
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .workloads import dense_sizes, glorot


def _batches(n, batch, rng):
    idx = rng.permutation(n) if rng is not None else np.arange(n)
    nb = -(-n // batch)
    idx = np.concatenate([idx, idx[:nb * batch - n]])     # pad from the start, like MXNet
    return idx.reshape(nb, batch)


def _softmax_grad(z, y):
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g = p.copy()
    g[np.arange(len(y)), y.astype(np.int64)] -= 1
    return p, g


class DenseNet:
    """FullyConnected + relu stack ending in softmax."""

    def __init__(self, sizes, rng, uniform=None):
        self.W, self.b = [], []
        for i, o in zip(sizes[:-1], sizes[1:]):
            self.W.append(rng.uniform(-uniform, uniform, (o, i)).astype(np.float32)
                          if uniform else glorot(rng, i, o, (o, i)))
            self.b.append(np.zeros(o, np.float32))

    def forward(self, x):
        acts = [x]
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            z = acts[-1] @ W.T + b
            if k < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    def step(self, x, y, lr):
        acts = self.forward(x)
        p, g = _softmax_grad(acts[-1], y)
        scale = lr / len(x)
        for k in range(len(self.W) - 1, -1, -1):
            gw = g.T @ acts[k]
            gb = g.sum(axis=0)
            if k:
                g = (g @ self.W[k]) * (acts[k] > 0)
            self.W[k] -= scale * gw
            self.b[k] -= scale * gb
        return p


class LeNet:
    """conv5x5x20-relu-pool2-conv5x5x50-relu-pool2-fc500-relu-fc10, im2col convolutions."""

    def __init__(self, rng):
        self.c1 = glorot(rng, 25, 20 * 25, (20, 1, 5, 5)); self.c1b = np.zeros(20, np.float32)
        self.c2 = glorot(rng, 500, 50 * 25, (50, 20, 5, 5)); self.c2b = np.zeros(50, np.float32)
        self.f1 = glorot(rng, 800, 500, (500, 800)); self.f1b = np.zeros(500, np.float32)
        self.f2 = glorot(rng, 500, 10, (10, 500)); self.f2b = np.zeros(10, np.float32)

    @staticmethod
    def _conv(x, w, b):
        cols = sliding_window_view(x, w.shape[2:], axis=(2, 3))    # n c oh ow kh kw
        out = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3]))   # n oh ow o
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) + b[:, None, None], cols

    @staticmethod
    def _conv_back(x, cols, w, gy):
        gw = np.tensordot(gy, cols, axes=([0, 2, 3], [0, 2, 3]))   # o c kh kw
        gx = np.zeros_like(x)
        oh, ow = gy.shape[2:]
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                gx[:, :, i:i + oh, j:j + ow] += np.einsum("nohw,oc->nchw", gy, w[:, :, i, j])
        return gw, gy.sum(axis=(0, 2, 3)), gx

    @staticmethod
    def _pool(x):
        n, c, h, w = x.shape
        v = x.reshape(n, c, h // 2, 2, w // 2, 2)
        y = v.max(axis=(3, 5))
        return y, v

    @staticmethod
    def _pool_back(v, y, gy):
        mask = v == y[:, :, :, None, :, None]
        g = mask * gy[:, :, :, None, :, None]
        return g.reshape(v.shape[0], v.shape[1], v.shape[2] * 2, v.shape[4] * 2)

    def forward(self, x, keep=False):
        z1, cols1 = self._conv(x, self.c1, self.c1b); a1 = np.maximum(z1, 0)
        p1, v1 = self._pool(a1)
        z2, cols2 = self._conv(p1, self.c2, self.c2b); a2 = np.maximum(z2, 0)
        p2, v2 = self._pool(a2)
        f = p2.reshape(len(x), -1)
        h = np.maximum(f @ self.f1.T + self.f1b, 0)
        out = h @ self.f2.T + self.f2b
        if keep:
            return out, (x, cols1, a1, p1, v1, cols2, a2, p2, v2, f, h)
        return out

    def step(self, x, y, lr):
        out, (x, cols1, a1, p1, v1, cols2, a2, p2, v2, f, h) = self.forward(x, True)
        p, g = _softmax_grad(out, y)
        s = lr / len(x)
        gf2, gf2b = g.T @ h, g.sum(0)
        gh = (g @ self.f2) * (h > 0)
        gf1, gf1b = gh.T @ f, gh.sum(0)
        gp2 = (gh @ self.f1).reshape(p2.shape)
        ga2 = self._pool_back(v2, p2, gp2) * (a2 > 0)
        gc2, gc2b, gp1 = self._conv_back(p1, cols2, self.c2, ga2)
        ga1 = self._pool_back(v1, p1, gp1) * (a1 > 0)
        gc1, gc1b, _ = self._conv_back(x, cols1, self.c1, ga1)
        for w, gw in ((self.c1, gc1), (self.c1b, gc1b), (self.c2, gc2), (self.c2b, gc2b),
                      (self.f1, gf1), (self.f1b, gf1b), (self.f2, gf2), (self.f2b, gf2b)):
            w -= s * gw
        return p


def _accuracy(net_out, y):
    return float((net_out.argmax(axis=1) == y).mean())


def run(w, arrays, seed=0):
    """One repetition: train (with validation for the tutorial), then inference."""
    tx, ty, vx, vy = arrays
    rng = np.random.default_rng(seed)
    if w.conv:
        net = LeNet(rng)
        fwd = net.forward
    else:
        net = DenseNet(dense_sizes(w.name), rng, 0.01 if w.name == "tutorial" else None)
        fwd = lambda x: net.forward(x)[-1]  # noqa: E731
    t0 = time.perf_counter()
    for _ in range(w.epochs):
        hits = 0
        for b in _batches(len(tx), w.batch, rng):
            p = net.step(tx[b], ty[b], w.lr)
            hits += int((p.argmax(1) == ty[b]).sum())
        if w.name == "tutorial":       # validation each epoch, as fit(eval_data=...) does
            val = np.mean([_accuracy(fwd(vx[b]), vy[b])
                           for b in _batches(len(vx), w.batch, None)])
    train_s = time.perf_counter() - t0
    nb = _batches(len(vx), w.infer_batch, None)
    t0 = time.perf_counter()
    outs = [fwd(vx[b]) for b in nb]
    infer_s = time.perf_counter() - t0
    if w.name != "tutorial":
        val = _accuracy(np.concatenate(outs)[:len(vx)], vy)
    return dict(train_s=train_s, train_samples=len(tx) * w.epochs, infer_s=infer_s,
                infer_samples=nb.size, accuracy=float(val))
