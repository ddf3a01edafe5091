"""Plotting helpers that would otherwise be noise in a lesson.

Used in notebooks: 00, 06, 11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def image_grid(count: int, ncols: int, cell_width: float, cell_height: float, extra_height: float = 0.0):
    """An empty grid for `count` images, `ncols` to a row, every axis off: (figure, axes of the first `count` cells).

    Each cell is `cell_width` x `cell_height` inches; `extra_height` inches go on top (for a title).
    Finish it with :func:`finish_grid`.
    """
    import matplotlib.pyplot as plt

    if count < 1:
        raise ValueError(f"images must hold at least one image, got {count}")
    if ncols < 1:
        raise ValueError(f"ncols must be ≥ 1, got {ncols}")
    nrows = int(np.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_width * ncols, cell_height * nrows + extra_height),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)[:count]


def finish_grid(fig, axes, titles: Sequence[str] | None = None, title: str | None = None):
    """Put one small title on each cell and `title` over the grid, then tighten the layout; returns the figure."""
    if titles is not None:
        for ax, text in zip(axes, titles, strict=False):
            ax.set_title(text, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
                title: str | None = None, size: float = 1.2):
    """A grid of images (N, H, W) or (N, H, W, C), one optional title each; returns the figure."""
    images = np.asarray(images)
    fig, axes = image_grid(len(images), ncols, size, size * 1.15)
    for ax, img in zip(axes, images, strict=False):
        img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None)
    return finish_grid(fig, axes, titles, title)


def plot_history(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "accuracy",
                 title: str = "Training curves"):
    """Loss (left) and `metric` (right) per epoch of each named Keras-style history, training solid and
    validation dashed in one colour per history; returns the figure. A history named "" is labelled just
    "training" / "validation"."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for (label, h), color in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False):
        prefix = f"{label}, " if label else ""
        for ax, m in zip(axes, ("loss", metric), strict=True):
            epochs = np.arange(1, len(h[m]) + 1)
            ax.plot(epochs, h[m], "o-", color=color, label=f"{prefix}training")
            if "val_" + m in h:
                ax.plot(epochs, h["val_" + m], "s--", color=color, label=f"{prefix}validation")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy", title=f"{title}: loss")
    axes[1].set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
