"""The shared image grid behind plots.show_images and convolution.show_grid."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse import convolution, plots  # noqa: E402


def test_image_grid_has_a_cell_per_image_and_hides_the_rest():
    fig, axes = plots.image_grid(7, 3, 1.0, 1.5, extra_height=0.5)
    assert len(axes) == 7 and len(fig.axes) == 9  # 3 rows of 3; the last two cells stay empty
    assert tuple(fig.get_size_inches()) == pytest.approx((3.0, 3 * 1.5 + 0.5))
    assert not any(ax.axison for ax in fig.axes)


def test_show_images_and_show_grid_title_every_cell():
    rng = np.random.default_rng(0)
    fig = plots.show_images(rng.random((5, 8, 8, 1)), list("abcde"), ncols=2, title="five")
    assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde") and fig._suptitle.get_text() == "five"
    fig = convolution.show_grid([rng.normal(size=(4, 6))] * 3, ["x", "y", "z"], ncols=8, symmetric=True)
    assert len(fig.axes) == 3  # ncols shrinks to the number of panels
    assert fig.axes[0].images[0].get_clim() == pytest.approx((-np.abs(fig.axes[0].images[0].get_array()).max(),
                                                               np.abs(fig.axes[0].images[0].get_array()).max()))


@pytest.mark.parametrize("call, message", [
    (lambda: plots.show_images(np.zeros((0, 8, 8))), "at least one image"),
    (lambda: plots.show_images(np.zeros((2, 8, 8)), ncols=0), "ncols must be ≥ 1"),
    (lambda: convolution.show_grid([]), "at least one array"),
])
def test_grids_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
