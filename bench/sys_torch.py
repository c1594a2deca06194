"""The same loops in PyTorch eager mode on the CPU (only when torch is installed)."""
import time

import numpy as np

from .sys_numpy import _batches
from .workloads import dense_sizes


def _model(torch, w):
    nn = torch.nn
    if w.conv:
        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    sizes = dense_sizes(w.name)
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(i, o))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if w.name == "tutorial":
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-0.01, 0.01)
    return model


def threads():
    import torch
    return torch.get_num_threads()


def run(w, arrays, seed=0):
    import torch
    torch.manual_seed(seed)
    tx, ty, vx, vy = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    ty, vy = ty.long(), vy.long()
    model = _model(torch, w)
    opt = torch.optim.SGD(model.parameters(), lr=w.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(w.epochs):
        model.train()
        hits = 0
        for b in _batches(len(tx), w.batch, rng):
            b = torch.from_numpy(b)
            x, y = tx[b], ty[b]
            out = model(x)
            loss = loss_fn(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            hits += int((out.argmax(1) == y).sum())
        if w.name == "tutorial":
            with torch.no_grad():
                val = float(np.mean([float((model(vx[b]).argmax(1) == vy[b]).float().mean())
                                     for b in map(torch.from_numpy,
                                                  _batches(len(vx), w.batch, None))]))
    train_s = time.perf_counter() - t0
    nb = _batches(len(vx), w.infer_batch, None)
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        outs = [model(vx[torch.from_numpy(b)]) for b in nb]
    infer_s = time.perf_counter() - t0
    if w.name != "tutorial":
        val = float((torch.cat(outs)[:len(vx)].argmax(1) == vy).float().mean())
    return dict(train_s=train_s, train_samples=len(tx) * w.epochs, infer_s=infer_s,
                infer_samples=nb.size, accuracy=val)
