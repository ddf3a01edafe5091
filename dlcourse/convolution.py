"""NumPy references for convolutional layers, as derived in 05_cnn_theory, plus the plumbing of that lesson.

Conventions are Keras' own, so weights can be copied between the two: images are (N, H, W, C)
("channels last"), a kernel is (kernel_height, kernel_width, in_channels, filters), and every
"convolution" is the cross-correlation that deep-learning libraries compute (the kernel is not flipped):

    y[n, i, j, o] = b[o] + sum_{p, q, c} x[n, i*s + p*d, j*s + q*d, c] * w[p, q, c, o]

    out = conv2d(images, kernel, bias, stride=2, padding=1)   # == ZeroPadding2D(1) + Conv2D(strides=2)
    pooled = pool2d(out, 2, mode="max")                       # == MaxPooling2D(2)
    output_size(28, 3, padding=1, stride=2)                   # 14

Used in notebooks: 05.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# ---------------------------------------------------------------------------------------------
# Shapes


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value}")


def output_size(n: int, kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """Output length of a convolution along one axis, floor((n + 2p - d(k-1) - 1) / s) + 1 (05_cnn_theory).

    `n` input length, `kernel_size` k, `padding` p zeros on each side, `stride` s, `dilation` d.
    """
    _check_positive(n=n, kernel_size=kernel_size, stride=stride, dilation=dilation)
    if padding < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    span = dilation * (kernel_size - 1) + 1  # how many input positions one kernel placement covers
    if n + 2 * padding < span:
        raise ValueError(f"a kernel spanning {span} inputs does not fit in {n} inputs padded by {padding}")
    return (n + 2 * padding - span) // stride + 1


def conv_parameters(kernel_size: int | tuple[int, int], in_channels: int, filters: int,
                    use_bias: bool = True) -> int:
    """Weights of a Conv2D layer: (k_h * k_w * C_in + 1) * C_out with a bias (05_cnn_theory)."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    _check_positive(kernel_height=kh, kernel_width=kw, in_channels=in_channels, filters=filters)
    return (kh * kw * in_channels + int(use_bias)) * filters


# ---------------------------------------------------------------------------------------------
# Convolution and pooling


def _as_images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got shape {x.shape}")
    return x


def pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad the height and width of images (N, H, W, C) by `padding` on each side (Keras' ZeroPadding2D)."""
    x = _as_images(x)
    if padding < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def windows(x: np.ndarray, kernel_size: int | tuple[int, int], stride: int = 1,
            dilation: int = 1) -> np.ndarray:
    """Every kernel placement of images (N, H, W, C) as a view (N, H_out, W_out, C, k_h, k_w), no copy.

    The vectorised convolution of 05_cnn_theory: NumPy's sliding_window_view cuts out every window of
    the dilated span, then slicing keeps every `stride`-th window and every `dilation`-th pixel in it.
    """
    x = _as_images(x)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    _check_positive(kernel_height=kh, kernel_width=kw, stride=stride, dilation=dilation)
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    if x.shape[1] < span_h or x.shape[2] < span_w:
        raise ValueError(f"a {span_h}x{span_w} window does not fit in {x.shape[1]}x{x.shape[2]} images")
    view = sliding_window_view(x, (span_h, span_w), axis=(1, 2))  # (N, H-span+1, W-span+1, C, span_h, span_w)
    return view[:, ::stride, ::stride, :, ::dilation, ::dilation]


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, *, stride: int = 1,
           padding: int = 0, dilation: int = 1) -> np.ndarray:
    """2-D cross-correlation with many channels and filters, as derived in 05_cnn_theory.

    Equals ``keras.layers.ZeroPadding2D(padding)`` followed by ``keras.layers.Conv2D(filters,
    (k_h, k_w), strides=stride, dilation_rate=dilation)`` with the same `kernel` (k_h, k_w, C_in,
    C_out) and `bias` (C_out,). Returns (N, H_out, W_out, C_out).
    """
    x = _as_images(x)
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f"kernel must have shape (k_h, k_w, {x.shape[3]}, filters) for {x.shape[3]} input "
                         f"channels, got {kernel.shape}")
    patches = windows(pad(x, padding), kernel.shape[:2], stride, dilation)
    out = np.einsum("nhwcpq,pqco->nhwo", patches, kernel, optimize=True)
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (kernel.shape[3],):
            raise ValueError(f"bias must have shape ({kernel.shape[3]},), got {bias.shape}")
        out = out + bias
    return out


def pool2d(x: np.ndarray, pool_size: int = 2, stride: int | None = None, mode: str = "max") -> np.ndarray:
    """Max or average pooling of images (N, H, W, C), 'valid' padding, as derived in 05_cnn_theory.

    Equals ``keras.layers.MaxPooling2D`` / ``AveragePooling2D(pool_size, strides=stride)``; the stride
    defaults to the pool size (windows side by side), as in Keras.
    """
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
    patches = windows(x, pool_size, stride or pool_size)
    return patches.max(axis=(-2, -1)) if mode == "max" else patches.mean(axis=(-2, -1))


# ---------------------------------------------------------------------------------------------
# Receptive fields


@dataclass(frozen=True)
class Layer:
    """One layer of a stack, for receptive-field arithmetic: its kernel size, stride and dilation."""

    name: str
    kernel_size: int
    stride: int = 1
    dilation: int = 1


def receptive_fields(layers: Sequence[Layer]) -> list[dict]:
    """Receptive field and jump of each layer's units, r_l = r_(l-1) + d_l (k_l - 1) j_(l-1), j_l = j_(l-1) s_l.

    The recursion of 05_cnn_theory: `jump` is how many input pixels apart two neighbouring units of the
    layer are; `receptive_field` how many input pixels (per axis) one unit of the layer can see.
    """
    rows, r, j = [], 1, 1
    for layer in layers:
        _check_positive(kernel_size=layer.kernel_size, stride=layer.stride, dilation=layer.dilation)
        r += layer.dilation * (layer.kernel_size - 1) * j
        j *= layer.stride
        rows.append({"layer": layer.name, "kernel": layer.kernel_size, "stride": layer.stride,
                     "dilation": layer.dilation, "jump": j, "receptive_field": r})
    return rows


def nonzero_extent(mask: np.ndarray) -> tuple[int, int]:
    """Height and width of the smallest box holding every True (nonzero) pixel of a 2-D array."""
    rows, cols = np.nonzero(np.asarray(mask))
    if len(rows) == 0:
        return 0, 0
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def input_gradient(feature_fn: Callable, images: np.ndarray, row: int, col: int) -> np.ndarray:
    """|d unit / d input| summed over `images` and input channels: (H, W), the measured receptive field.

    `feature_fn` maps a batch (N, H, W, C) to feature maps (N, H', W', C'); the unit is position
    (`row`, `col`) summed over the C' channels. TensorFlow's GradientTape does the differentiation
    (05_cnn_theory compares the nonzero extent with :func:`receptive_fields`).
    """
    import tensorflow as tf

    x = tf.constant(np.asarray(images, dtype="float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        unit = tf.reduce_sum(feature_fn(x)[:, row, col, :])
    grad = tape.gradient(unit, x).numpy()
    return np.abs(grad).sum(axis=(0, 3))


# ---------------------------------------------------------------------------------------------
# Translation tolerance


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (N, H, W, C) moved down by `dy` and right by `dx` pixels, zeros filling in (no wrap-around)."""
    x = _as_images(images)
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src = x[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    out[:, max(dy, 0):h - max(-dy, 0), max(dx, 0):w - max(-dx, 0)] = src
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each pair of examples a[i], b[i] (flattened); 1 means the same direction."""
    a = np.asarray(a, dtype="float64").reshape(len(a), -1)
    b = np.asarray(b, dtype="float64").reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


# ---------------------------------------------------------------------------------------------
# Plumbing: photos, timing, pictures


def to_gray(photo: np.ndarray, step: int = 1) -> np.ndarray:
    """A uint8 RGB photo (H, W, 3) as luminance in [0, 1] (ITU-R 601 weights), every `step`-th pixel."""
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must have shape (H, W, 3), got {photo.shape}")
    _check_positive(step=step)
    return (photo[::step, ::step] @ np.array([0.299, 0.587, 0.114])) / 255


def show_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 8,
              title: str | None = None, size: float = 1.4, cmap: str = "gray", symmetric: bool = False):
    """Show 2-D arrays (kernels, feature maps, photos) in a grid; returns the figure.

    `symmetric=True` centres a diverging colour map on 0 for each panel (positive red, negative blue),
    the way to look at kernels and gradients.
    """
    from dlcourse import plots

    if len(images) == 0:
        raise ValueError("images must hold at least one array, got 0")
    _check_positive(ncols=ncols)
    ncols = min(ncols, len(images))
    ratio = images[0].shape[0] / images[0].shape[1]
    fig, axes = plots.image_grid(len(images), ncols, size, size * ratio + 0.3, extra_height=0.4)
    for ax, img in zip(axes, images, strict=False):
        if symmetric:
            limit = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(img, cmap=cmap)
    return plots.finish_grid(fig, axes, titles, title)
