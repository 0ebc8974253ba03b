"""The digit classifier, its disk cache, and the Fréchet distance in its features."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from bayesmin.diagnostics import digits as D


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The classifier, trained once for this module into a fresh cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAYESMIN_CACHE", str(tmp_path_factory.mktemp("cache")))
        D.classifier.cache_clear()
        yield D.classifier()
        D.classifier.cache_clear()  # later modules must not get our folder's copy


@pytest.fixture(scope="module")
def split():
    return D.digits_split()


def _stub_training(monkeypatch, model):
    """Training replaced by the module's classifier: the cache logic, not the fit, is tested."""
    calls = []

    def train():
        calls.append(1)
        return model

    monkeypatch.setattr(D, "_train", train)
    D.classifier.cache_clear()
    return calls


def _frechet_by_eigenvalues(fx, fy) -> float:
    """The same distance computed another way: Tr((Σx Σy)^½) = Tr((A Σy A)^½), A = Σx^½,
    a symmetric PSD matrix whose root needs only an eigendecomposition."""

    def root(c):
        w, v = np.linalg.eigh(c)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    mx, my = fx.mean(0), fy.mean(0)
    cx, cy = np.cov(fx, rowvar=False), np.cov(fy, rowvar=False)
    a = root(cx)
    cross = np.trace(root(a @ cy @ a))
    return float((mx - my) @ (mx - my) + np.trace(cx) + np.trace(cy) - 2 * cross)


# ------------------------------------------------------------------------ classifier


def test_classifier_is_accurate_on_held_out_digits(model, split):
    assert model.source == "trained"
    assert model.test_accuracy >= 0.95  # measured 0.989 (356 of 360)
    predicted = model.predict_proba(split["x_test"]).argmax(1)
    assert np.mean(predicted == split["y_test"]) == model.test_accuracy
    assert model.features(split["x_test"]).shape == (360, D.HIDDEN[-1])


def test_split_is_the_diffusion_models_default_data(split):
    from bayesmin.models.diffusion import dataset

    data = dataset("digits")
    np.testing.assert_array_equal(split["x_train"], data["x_train"])
    np.testing.assert_array_equal(split["x_test"], data["x_test"])
    assert split["x_train"].min() == -1.0 and split["x_train"].max() == 1.0


def test_cache_path_follows_bayesmin_cache_then_xdg_then_home():
    name = D.CACHE_FILE
    assert D.cache_path({"BAYESMIN_CACHE": "/c", "HOME": "/h"}) == Path("/c") / name
    assert D.cache_path({"XDG_CACHE_HOME": "/x"}) == Path("/x/bayesmin") / name
    assert D.cache_path({"HOME": "/h"}) == Path("/h/.cache/bayesmin") / name


def test_disk_cache_round_trips(model, split):
    path = D.cache_path()
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    D.classifier.cache_clear()
    again = D.classifier()
    assert again.source == "disk"
    assert again.test_accuracy == model.test_accuracy
    np.testing.assert_array_equal(again.features(split["x_test"]), model.features(split["x_test"]))
    assert D.classifier() is again  # in memory from now on


def test_unwritable_or_absent_cache_folder_trains_in_memory(model, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # A folder that cannot be created (its parent is a file): works even as root,
    # where permission bits would not stop the write.
    monkeypatch.setenv("BAYESMIN_CACHE", str(blocker / "cache"))
    calls = _stub_training(monkeypatch, model)
    try:
        assert D.classifier() is model
        assert D.classifier() is model  # trained once, then in memory
        assert calls == [1]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
        # No home folder at all: no path, nothing written, still a classifier.
        monkeypatch.setattr(D, "cache_path", lambda environ=None: None)
        D.classifier.cache_clear()
        assert D.classifier() is model
    finally:
        D.classifier.cache_clear()


@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_corrupt_cache_file_is_replaced(model, monkeypatch, tmp_path, split, content):
    good = D.cache_path().read_bytes()  # the module's file, before the folder changes
    monkeypatch.setenv("BAYESMIN_CACHE", str(tmp_path))
    D.cache_path().write_bytes(b"not an npz" if content == "garbage" else good[: len(good) // 2])
    calls = _stub_training(monkeypatch, model)
    try:
        assert D.classifier() is model and calls == [1]
        D.classifier.cache_clear()
        again = D.classifier()
        assert again.source == "disk" and calls == [1]
        np.testing.assert_array_equal(
            again.features(split["x_test"][:5]), model.features(split["x_test"][:5])
        )
    finally:
        D.classifier.cache_clear()


# ------------------------------------------------------------------ Fréchet distance


def test_frechet_distance_zero_symmetric_and_matches_eigen_formula(model, split):
    x, y = split["x_train"][:400], split["x_test"]
    assert abs(D.frechet_distance(y, y)) < 1e-8
    xy, yx = D.frechet_distance(x, y), D.frechet_distance(y, x)
    assert xy > 0
    assert xy == pytest.approx(yx, rel=1e-8)
    check = _frechet_by_eigenvalues(model.features(x), model.features(y))
    assert xy == pytest.approx(check, rel=1e-6)


def test_frechet_distance_grows_as_images_are_degraded(model, split):
    # Negative control: the metric must notice images turning into noise. The same noise
    # array is scaled at every level (common random numbers), so the ordering is
    # the metric's, not the draws'. Measured: 2.5, 3.0, 6.9, 21, 59.
    x, held_out = split["x_train"][:360], split["x_test"]
    z = np.random.default_rng(0).standard_normal(x.shape)
    distances = [D.frechet_distance(x + sd * z, held_out) for sd in (0.0, 0.3, 0.6, 1.0, 1.5)]
    assert all(a < b for a, b in itertools.pairwise(distances)), distances
    assert distances[-1] > 10 * distances[0]


def test_reference_table_orders_floor_gaussian_independent_pixels(model):
    # Five seeds: each gap must exceed 3 standard errors of the difference of the means
    # (a Monte Carlo tolerance, not a fixed one). Measured over ten seeds (mean ± sd):
    # floor 1.9 ± 0.4, full-covariance Gaussian 10.1 ± 0.5, independent Bernoulli
    # 16.1 ± 0.7, independent Gaussian 36.0 ± 1.0.
    seeds = range(5)
    tables = [D.reference_table(seed=s) for s in seeds]
    assert list(tables[0].columns) == [
        "reference",
        "n",
        "frechet_distance",
        "confidence",
        "class_entropy",
    ]
    fd = np.array([t["frechet_distance"].to_numpy() for t in tables])  # (seeds, rows)
    mean, se = fd.mean(0), fd.std(0, ddof=1) / math.sqrt(len(seeds))
    floor, gauss, gauss_ind, bern_ind = range(4)
    for lo, hi in [(floor, gauss), (gauss, bern_ind), (gauss, gauss_ind)]:
        assert mean[hi] - mean[lo] > 3 * math.hypot(se[hi], se[lo]), (lo, hi, mean, se)
    assert mean[floor] < 0.3 * mean[gauss]  # measured ratio 0.18
    # The classifier is surest of real digits.
    confidence = tables[0]["confidence"].to_numpy()
    assert confidence[floor] > confidence[1:].max()


def test_reference_table_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be an integer"):
        D.reference_table(n=1)
    with pytest.raises(ValueError, match="n must be an integer"):
        D.reference_table(n=5000)


# ------------------------------------------------------------------- digit metrics


def test_class_entropy_is_log10_on_held_out_and_zero_on_one_image(model, split):
    held_out = D.digit_metrics(split["x_test"])
    assert held_out["n"] == 360
    assert held_out["frechet_distance"] == pytest.approx(0.0, abs=1e-8)
    assert held_out["class_histogram"].sum() == 360
    # The labels' own histogram is not exactly uniform (27 to 47 per digit):
    # its entropy is 2.289; the prediction's may differ by the few misclassified.
    counts = np.bincount(split["y_test"], minlength=10) / 360
    true_entropy = -(counts * np.log(counts)).sum()
    assert held_out["class_entropy"] == pytest.approx(true_entropy, abs=0.02)
    assert held_out["class_entropy"] == pytest.approx(math.log(10), abs=0.05)
    assert held_out["confidence"] > 0.95
    # Negative control: mode collapse, ten copies of one image.
    collapsed = D.digit_metrics(np.repeat(split["x_test"][:1], 10, axis=0))
    assert collapsed["class_entropy"] == 0.0
    assert sorted(collapsed["class_histogram"])[-1] == 10
    assert collapsed["frechet_distance"] > held_out["frechet_distance"] + 10


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((5, 63)), r"shape \(n, 64\).*\(5, 63\)"),
        (np.zeros((5, 8, 8)), r"shape \(n, 64\).*reshape"),
        (np.zeros(64), r"shape \(n, 64\)"),
        (np.zeros((1, 64)), "n >= 2"),
        (np.full((3, 64), np.nan), "NaN or infinite"),
    ],
)
def test_bad_images_raise_with_the_remedy(images, message):
    with pytest.raises(ValueError, match=message):
        D.digit_metrics(images)
    with pytest.raises(ValueError, match=message) as info:
        D.frechet_distance(np.zeros((5, 64)), images)
    assert str(info.value).startswith("y ")  # the message names the argument at fault
