"""Plotting helpers that would otherwise be noise in a lesson."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def show_images(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
                title: str | None = None, size: float = 1.2):
    """A grid of images (N, H, W) or (N, H, W, C), one optional title each; returns the figure."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got 0")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images, strict=False)):
        img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
