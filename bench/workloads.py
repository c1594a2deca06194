"""The three workloads: data, network shape, loop settings, and FLOP counts per sample."""
import numpy as np

from . import data as _data


class Workload:
    def __init__(self, name, title, batch, epochs, lr, infer_batch, conv=False):
        self.name, self.title, self.batch, self.epochs, self.lr = name, title, batch, epochs, lr
        self.infer_batch, self.conv = infer_batch, conv

    def load(self):
        """(train_x, train_y, val_x, val_y); val may be the inference set."""
        if self.name == "tutorial":
            x, y = _data.letters()
            n = int(x.shape[0] * 0.8)
            return x[:n], y[:n], x[n:], y[n:]
        if self.name == "mlp":
            tx, ty = _data.mnist("train")
            vx, vy = _data.mnist("test")
            return tx.reshape(len(tx), -1), ty, vx.reshape(len(vx), -1), vy
        tx, ty = _data.mnist("train", limit=10000)
        vx, vy = _data.mnist("test")
        return tx, ty, vx, vy

    # FLOPs (multiply-add = 2) per sample
    def flops(self):
        if self.name == "tutorial":
            dense = [(16, 64), (64, 26)]
        elif self.name == "mlp":
            dense = [(784, 512), (512, 256), (256, 10)]
        else:
            dense = [(800, 500), (500, 10)]
        macs = sum(i * o for i, o in dense)
        first = dense[0][0] * dense[0][1]
        if self.conv:
            conv1 = 24 * 24 * 20 * 25
            conv2 = 8 * 8 * 50 * 500
            macs += conv1 + conv2
            first = conv1
        # training: forward + weight grads + data grads except for the first layer
        return 2 * macs, 2 * (3 * macs - first)


WORKLOADS = {
    "tutorial": Workload("tutorial", "(a) tutorial MLP 16-64-26, fit 8 epochs + validation",
                         batch=32, epochs=8, lr=0.1, infer_batch=32),
    "mlp": Workload("mlp", "(b) MLP 784-512-256-10, batch 128, 2 epochs; infer batch 1000",
                    batch=128, epochs=2, lr=0.1, infer_batch=1000),
    "lenet": Workload("lenet", "(c) LeNet, batch 64, 1 epoch on 10k; infer batch 1000",
                      batch=64, epochs=1, lr=0.1, infer_batch=1000, conv=True),
}


def dense_sizes(name):
    return {"tutorial": [16, 64, 26], "mlp": [784, 512, 256, 10]}[name]


def glorot(rng, fan_in, fan_out, shape):
    s = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-s, s, size=shape).astype(np.float32)
