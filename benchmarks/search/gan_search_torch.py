import copy
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

D = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")  # the four .gz files
dev = "cuda" if torch.cuda.is_available() else "cpu"


def rd(name, off, shape):
    with gzip.open(f"{D}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off).reshape(shape)


xa = (rd("train-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28)).astype("float32") - 127.5) / 127.5
ya = rd("train-labels-idx1-ubyte.gz", 8, (-1,)).astype("int64")
xt = (rd("t10k-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28)).astype("float32") - 127.5) / 127.5
yt = rd("t10k-labels-idx1-ubyte.gz", 8, (-1,)).astype("int64")


class G(nn.Module):
    def __init__(s, z=64, f=64, mom=0.01):
        super().__init__()
        s.f = f
        s.fc = nn.Linear(z, 49 * f, bias=False)
        s.b0 = nn.BatchNorm1d(49 * f, momentum=mom, eps=1e-3)
        s.t1 = nn.ConvTranspose2d(f, f // 2, 4, 2, 1, bias=False)
        s.b1 = nn.BatchNorm2d(f // 2, momentum=mom, eps=1e-3)
        s.t2 = nn.ConvTranspose2d(f // 2, 1, 4, 2, 1)

    def forward(s, z):
        x = F.leaky_relu(s.b0(s.fc(z)), 0.2).view(-1, s.f, 7, 7)
        return torch.tanh(s.t2(F.leaky_relu(s.b1(s.t1(x)), 0.2)))


class Dn(nn.Module):
    def __init__(s, f=64, drop=0.3):
        super().__init__()
        s.c1 = nn.Conv2d(1, f // 2, 4, 2, 1)
        s.c2 = nn.Conv2d(f // 2, f, 4, 2, 1)
        s.fc = nn.Linear(49 * f, 1)
        s.d = nn.Dropout(drop)

    def forward(s, x):
        x = s.d(F.leaky_relu(s.c1(x), 0.2))
        x = s.d(F.leaky_relu(s.c2(x), 0.2))
        return s.fc(x.flatten(1))


class C(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 32, 3, padding=1)
        s.c2 = nn.Conv2d(32, 64, 3, padding=1)
        s.fc = nn.Linear(3136, 64)
        s.out = nn.Linear(64, 10)
        s.d = nn.Dropout(0.3)

    def feats(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2)
        x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return F.relu(s.fc(x.flatten(1)))

    def forward(s, x):
        return s.out(s.d(s.feats(x)))


def fd(a, b):
    a, b = a.astype("float64"), b.astype("float64")
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(ca)
    ra = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(ra @ cb @ ra), 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross)


def main(cfg):
    torch.manual_seed(cfg.get("seed", 42))
    rng = np.random.default_rng(0)
    clf = C().to(dev)
    opt = torch.optim.Adam(clf.parameters(), 1e-3)
    cx, cy = (
        torch.tensor(xa[-cfg.get("clf_size", 20000) :]).to(dev),
        torch.tensor(ya[-cfg.get("clf_size", 20000) :]).to(dev),
    )
    for _ in range(cfg.get("clf_epochs", 1)):
        perm = torch.randperm(len(cx), device=dev)
        for i in range(0, len(cx), 128):
            idx = perm[i : i + 128]
            loss = F.cross_entropy(clf(cx[idx]), cy[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.eval()

    def emb(x):
        feats = [clf.feats(torch.as_tensor(x[i : i + 1000]).to(dev)) for i in range(0, len(x), 1000)]
        return torch.cat(feats).detach().cpu().numpy()

    with torch.no_grad():
        acc = float(
            (
                torch.cat(
                    [clf(torch.tensor(xt[i : i + 1000]).to(dev)).argmax(1).cpu() for i in range(0, 10000, 1000)]
                ).numpy()
                == yt
            ).mean()
        )
        ref = emb(xt[5000:])
        floor = fd(emb(xt[:5000]), ref)
    z = cfg.get("z", 64)
    g = G(z, cfg.get("gf", 64), cfg.get("mom", 0.01)).to(dev)
    d = Dn(cfg.get("df", 64), cfg.get("drop", 0.3)).to(dev)
    og = torch.optim.Adam(g.parameters(), cfg.get("glr", 5e-4), betas=(cfg.get("b1", 0.5), 0.999))
    od = torch.optim.Adam(d.parameters(), cfg.get("dlr", 5e-4), betas=(cfg.get("b1", 0.5), 0.999))
    ema = copy.deepcopy(g) if cfg.get("ema") else None
    train = torch.tensor(xa[: cfg.get("train", 11520)]).to(dev)
    bs = cfg.get("bs", 128)
    noise = torch.tensor(rng.normal(size=(5000, z)).astype("float32")).to(dev)
    rows = []
    step = 0
    checkpoints = cfg.get("steps", [450, 900, 1800, 3600, 7200])
    perm = torch.randperm(len(train), device=dev)
    pos = 0
    while step < checkpoints[-1]:
        if pos + bs > len(train):
            perm = torch.randperm(len(train), device=dev)
            pos = 0
        real = train[perm[pos : pos + bs]]
        pos += bs
        fake = g(torch.randn(bs, z, device=dev)).detach()
        dl = F.binary_cross_entropy_with_logits(
            d(real), torch.ones(bs, 1, device=dev)
        ) + F.binary_cross_entropy_with_logits(d(fake), torch.zeros(bs, 1, device=dev))
        od.zero_grad()
        dl.backward()
        od.step()
        gl = F.binary_cross_entropy_with_logits(d(g(torch.randn(bs, z, device=dev))), torch.ones(bs, 1, device=dev))
        og.zero_grad()
        gl.backward()
        og.step()
        if ema is not None:
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), g.parameters(), strict=True):
                    pe.lerp_(p, 1 - cfg["ema"])
                for be, b in zip(ema.buffers(), g.buffers(), strict=True):
                    be.copy_(b)
        step += 1
        if step in checkpoints:
            res = {"steps": step}
            with torch.no_grad():
                for name, net, mode in [("inf", g, "eval"), ("train", g, "train")] + (
                    [("ema", ema, "eval")] if ema is not None else []
                ):
                    net.train(mode == "train")
                    im = torch.cat([net(noise[i : i + 500]) for i in range(0, 5000, 500)]).cpu().numpy()
                    f = fd(emb(im), ref)
                    cls = (
                        np.bincount(
                            torch.cat(
                                [
                                    clf(torch.tensor(im[i : i + 1000]).to(dev)).argmax(1).cpu()
                                    for i in range(0, 5000, 1000)
                                ]
                            ).numpy(),
                            minlength=10,
                        )
                        / 5000
                    )
                    res[name] = [round(f, 3), round(f / floor, 1), int((cls >= 0.02).sum())]
                g.train()
            rows.append(res)
    return {"cfg": cfg, "floor": round(floor, 4), "clf_acc": round(acc, 3), "rows": rows}


if __name__ == "__main__":
    cfgs = json.load(open(sys.argv[1]))
    with open(sys.argv[2], "a") as out:
        for c in cfgs:
            r = main(c)
            print(json.dumps(r), flush=True)
            out.write(json.dumps(r) + "\n")
            out.flush()
