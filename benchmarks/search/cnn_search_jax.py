import gzip
import json
import math
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
import keras
import numpy as np

L = keras.layers
D = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")  # the four .gz files


def rd(name, off, shape):
    with gzip.open(f"{D}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off).reshape(shape)


xtr = rd("train-images-idx3-ubyte.gz", 16, (-1, 28, 28, 1))
ytr = rd("train-labels-idx1-ubyte.gz", 8, (-1,))
xte = rd("t10k-images-idx3-ubyte.gz", 16, (-1, 28, 28, 1)).astype("float32") / 255
yte = rd("t10k-labels-idx1-ubyte.gz", 8, (-1,))
order = np.random.default_rng(0).permutation(len(xtr))
xv, yv = xtr[order[:6000]].astype("float32") / 255, ytr[order[:6000]]
xt, yt = xtr[order[6000:]].astype("float32") / 255, ytr[order[6000:]]


def build(cfg):
    inp = keras.Input((28, 28, 1))
    x = inp
    if cfg.get("flip"):
        x = L.RandomFlip("horizontal")(x)
    if cfg.get("shift"):
        x = L.RandomTranslation(cfg["shift"], cfg["shift"], fill_mode="constant")(x)
    if cfg.get("stem"):
        x = L.Conv2D(cfg["stem"], cfg.get("stem_k", 4), strides=2, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.ReLU()(x)
    order = cfg.get("order", "pool_bn")
    blocks = cfg["blocks"]
    for bi, blk in enumerate(blocks):
        for ci, w in enumerate(blk):
            pool = ci == len(blk) - 1 and bi < cfg.get("pools", len(blocks))
            x = L.Conv2D(w, 3, padding="same", use_bias=False)(x)
            if pool and order == "pool_bn":
                x = L.MaxPooling2D(2)(x)
                x = L.BatchNormalization(momentum=0.9)(x)
                x = L.ReLU()(x)
            else:
                x = L.BatchNormalization(momentum=0.9)(x)
                x = L.ReLU()(x)
                if pool:
                    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x) if cfg.get("head", "flatten") == "flatten" else L.GlobalAveragePooling2D()(x)
    if cfg.get("dense"):
        x = L.Dense(cfg["dense"], activation="relu")(x)
    if cfg.get("dropout"):
        x = L.Dropout(cfg["dropout"])(x)
    return keras.Model(inp, L.Dense(10)(x))


class OneCycle(keras.callbacks.Callback):
    def __init__(self, total, peak, warm=0.15):
        super().__init__()
        self.total, self.peak, self.warm, self.i = total, peak, warm, 0

    def on_train_batch_begin(self, b, logs=None):
        f = min(self.i / self.total, 1.0)
        self.i += 1
        self.model.optimizer.learning_rate = (
            self.peak * f / self.warm
            if f < self.warm
            else self.peak * 0.5 * (1 + math.cos(math.pi * (f - self.warm) / (1 - self.warm)))
        )

    def on_train_batch_end(self, b, logs=None):
        if self.i >= self.total:
            self.model.stop_training = True


def run(cfg):
    keras.utils.set_random_seed(cfg.get("seed", 42))
    m = build(cfg)
    bs = cfg.get("bs", 256)
    steps = int(cfg["images"] // bs)
    m.compile(
        optimizer=keras.optimizers.AdamW(cfg.get("lr", 0.003), weight_decay=cfg.get("wd", 1e-4),
                                         use_ema=bool(cfg.get("ema")), ema_momentum=cfg.get("ema") or 0.99),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.get("ls", 0.0)),
    )
    t = time.perf_counter()
    X, Y = (np.concatenate([xt, xv]), np.concatenate([yt, yv])) if cfg.get("all") else (xt, yt)
    m.fit(
        X,
        np.eye(10, dtype="float32")[Y],
        batch_size=bs,
        epochs=math.ceil(steps / (len(X) // bs)) + 1,
        verbose=0,
        callbacks=[OneCycle(steps, cfg.get("lr", 0.003))],
    )
    wall = time.perf_counter() - t
    pv = m.predict(xv, batch_size=2000, verbose=0)
    pt = m.predict(xte, batch_size=2000, verbose=0)
    ptf = m.predict(xte[:, :, ::-1], batch_size=2000, verbose=0)

    def sm(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    return {
        "cfg": cfg,
        "epochs": round(steps * bs / len(xt), 2),
        "params": m.count_params(),
        "wall": round(wall, 1),
        "val": float((pv.argmax(1) == yv).mean()),
        "test": float((pt.argmax(1) == yte).mean()),
        "tta": float(((sm(pt) + sm(ptf)).argmax(1) == yte).mean()),
    }


if __name__ == "__main__":
    cfgs = json.load(open(sys.argv[1]))
    out = open(sys.argv[2], "a")
    for c in cfgs:
        r = run(c)
        print(json.dumps(r), flush=True)
        out.write(json.dumps(r) + "\n")
        out.flush()
