"""The digit classifier, its disk cache, and the Fréchet distance in its features."""

from __future__ import annotations

import itertools
import json
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


# --------------------------------------------------------------------------- the VAE


class _FixedVAE:
    """A stand-in trainer whose prior samples are given Bernoulli means: the metric, not
    a network, is under test (``sample_prior`` is all the metric asks of a trainer)."""

    def __init__(self, p):
        self.p = np.asarray(p, dtype=np.float64)

    def sample_prior(self, state, n, seed=0):
        return self.p[np.random.default_rng(seed).choice(len(self.p), n, replace=False)]


def test_vae_metrics_of_binary_means_equal_the_binarised_row(model, split):
    # Means already in {0, 1}: every coin is certain, draws equal means, and 360
    # binarised training images chosen as the table's row chooses them score its number.
    binary = (split["x_train"] >= 0).astype(np.float64)
    m = D.vae_digit_metrics(_FixedVAE(binary), None, n=360, seed=0)
    assert m["frechet_distance"] == pytest.approx(m["frechet_distance_means"], rel=1e-12)
    table = D.reference_table(n=360, seed=0).set_index("reference")
    row = table.loc["training images, binarised", "frechet_distance"]
    assert m["frechet_distance_floor_binarised"] == pytest.approx(row, rel=1e-12)
    assert m["digit_n"] == 360 and m["digit_class_histogram"].sum() == 360
    assert m["digit_confidence"] > 0.9


def test_vae_draws_are_coins_with_the_decoders_probabilities(split):
    p = np.tile(np.linspace(0.05, 0.95, 64), (400, 1))
    s = D.vae_samples(_FixedVAE(p), None, n=400, seed=3)
    assert set(np.unique(s["draws"])) == {-1.0, 1.0}
    np.testing.assert_allclose(s["means"], 2 * p - 1)
    # Each pixel's share of ink within Monte Carlo error of p (binomial standard error).
    share = (s["draws"] == 1.0).mean(axis=0)
    z = (share - p[0]) / np.sqrt(p[0] * (1 - p[0]) / 400)
    assert np.abs(z).max() < 4.0
    # Negative control: coins of another probability fail the same check.
    z_wrong = (share - np.clip(p[0] + 0.1, 0, 1)) / np.sqrt(p[0] * (1 - p[0]) / 400)
    assert np.abs(z_wrong).max() > 4.0


def test_vae_metrics_see_noise_as_no_digit(model, split):
    # Negative control: a decoder that says 1/2 everywhere makes pure coin-flip noise.
    noise = D.vae_digit_metrics(_FixedVAE(np.full((400, 64), 0.5)), None, n=360, seed=0)
    assert noise["frechet_distance"] > 3 * noise["frechet_distance_floor_binarised"]
    assert noise["frechet_distance_means"] > noise["frechet_distance_floor_binarised"]
    with pytest.raises(ValueError, match="n must be an integer"):
        D.vae_digit_metrics(_FixedVAE(np.full((4, 64), 0.5)), None, n=1)


def test_binarising_costs_the_training_images_most_of_their_floor(model):
    # The binarised row against the grey floor over five seeds, 3 standard errors of the
    # difference apart (measured over ten seeds: 6.9 ± 0.4 against 1.9 ± 0.4).
    tables = [D.reference_table(seed=s) for s in range(5)]
    assert [t["reference"].iloc[-1] for t in tables] == ["training images, binarised"] * 5
    assert list(tables[0]["reference"].iloc[:4]) == [
        "training images (floor)",
        "Gaussian, full covariance",
        "Gaussian, independent pixels",
        "Bernoulli, independent pixels",
    ]
    fd = np.array([t["frechet_distance"].to_numpy() for t in tables])
    gap = fd[:, 4] - fd[:, 0]
    assert gap.mean() > 3 * gap.std(ddof=1) / math.sqrt(len(gap))
    # ... and binary pixels with their correlations kept beat independent coins.
    assert (fd[:, 4] < fd[:, 3]).all()


# The reference's numbers, as a training run would return them (none is run here).
_NUMBERS = {
    "frechet_distance": 5.5,
    "frechet_distance_means": 9.6,
    "digit_confidence": 0.89,
    "digit_class_entropy": 2.27,
    "digit_class_histogram": [36] * 10,
    "digit_confidence_means": 0.9,
    "digit_class_entropy_means": 2.2,
    "frechet_distance_floor_binarised": 6.8,
    "digit_n": 360,
    "train_seconds": 1.0,
}


@pytest.fixture
def reference_cache(monkeypatch, tmp_path):
    """An empty cache folder and a stub for the reference VAE's training; yields calls."""
    monkeypatch.setenv("BAYESMIN_CACHE", str(tmp_path))
    calls = []

    def train(config, seed):
        calls.append((config.architecture, seed))
        return dict(_NUMBERS)

    monkeypatch.setattr(D, "_train_vae_reference", train)
    D.vae_reference.cache_clear()
    yield calls
    D.vae_reference.cache_clear()


def test_vae_reference_is_computed_once_then_read_from_disk(reference_cache, tmp_path):
    first = D.vae_reference(seed=2)
    assert reference_cache == [(D.VAE_REFERENCE_ARCHITECTURE, 2)]
    path = D.vae_reference_path(2)
    assert path.parent == tmp_path and "seed2" in path.name and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    assert first["frechet_distance"] == 5.5 and first["seed"] == 2
    assert first["architecture"] == D.VAE_REFERENCE_ARCHITECTURE
    D.vae_reference.cache_clear()
    assert D.vae_reference(seed=2) == first
    assert len(reference_cache) == 1  # read, not trained
    D.vae_reference(seed=3)  # another seed, another file
    assert len(reference_cache) == 2 and D.vae_reference_path(3).is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing-number", "other-settings"])
def test_vae_reference_recomputes_a_damaged_or_foreign_file(reference_cache, damage):
    D.vae_reference(seed=0)
    path = D.vae_reference_path(0)
    text = path.read_text()
    stored = json.loads(text)
    if damage == "garbage":
        path.write_bytes(b"\x00\xffnot json")
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "missing-number":
        del stored["metrics"]["frechet_distance"]
        path.write_text(json.dumps(stored))
    else:  # written by a run of other settings (e.g. more steps)
        stored["header"]["steps"] += 1
        path.write_text(json.dumps(stored))
    D.vae_reference.cache_clear()
    again = D.vae_reference(seed=0)
    assert len(reference_cache) == 2 and again["frechet_distance"] == 5.5
    assert json.loads(path.read_text())["header"] == json.loads(text)["header"]  # rewritten


@pytest.mark.slow
def test_vae_reference_trains_the_quick_profile_when_none_is_cached(monkeypatch, tmp_path):
    # The one real training: a tiny stand-in for the quick profile (seconds).
    import dataclasses

    from bayesmin.inference import svi

    tiny = dataclasses.replace(
        svi.VAE_PROFILES["quick"], hidden=16, steps=100, iwae_k=10, elbo_k=2, grad_samples=2
    )
    monkeypatch.setitem(svi.VAE_PROFILES, "quick", tiny)
    monkeypatch.setattr(D, "VAE_REFERENCE_ARCHITECTURE", "mlp")  # the cheap one
    monkeypatch.setenv("BAYESMIN_CACHE", str(tmp_path))
    D.vae_reference.cache_clear()
    try:
        m = D.vae_reference(seed=0)
    finally:
        D.vae_reference.cache_clear()
    assert m["steps"] == 100 and m["architecture"] == "mlp"
    assert np.isfinite([m[k] for k in ("frechet_distance", "frechet_distance_means")]).all()
    assert sum(m["digit_class_histogram"]) == 360
    stored = json.loads(D.vae_reference_path(0).read_text())
    assert stored["header"]["hidden"] == 16 and stored["metrics"]["digit_n"] == 360
