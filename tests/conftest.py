"""Shared fixtures: compiled runs are expensive, so each (model, sampler) pair is
sampled once per test session and reused by every test that needs it."""

from __future__ import annotations

import os
import warnings

import pytest

# bayesmin draws without pyplot, so it never needs a backend; this only keeps a test run
# on a desktop from opening windows should third-party code reach for pyplot. An
# environment variable, not matplotlib.use(): the suite changes no global state itself
# (tests/reports/test_figures.py checks that in a process without it).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYTENSOR_FLAGS", "warn__ignore_bug_before=all")
warnings.filterwarnings("ignore", category=FutureWarning)

# Small but honest sizes: 2 chains x 1000 draws gives MCSEs that resolve a 10% bias
# in a posterior sd while keeping every backend's run to seconds.
DRAWS, TUNE, CHAINS = 1000, 500, 2


@pytest.fixture(scope="session")
def run_cache():
    """``run(model, sampler, seed=0, data=None) -> InferenceData``, memoised per session."""
    from bayesmin import inference, models

    cache = {}

    def run(model, sampler, seed=0, data=None, key=None, **options):
        spec = models.get(model) if isinstance(model, str) else model
        k = (key or spec.name, sampler, seed)
        if k not in cache:
            if "cores" in inference.sampler_options(sampler):
                options.setdefault("cores", 1)
            cache[k] = inference.sample(
                spec,
                sampler,
                draws=DRAWS,
                tune=TUNE,
                chains=CHAINS,
                seed=seed,
                data=data,
                progress=False,
                **options,
            )
        return cache[k]

    return run
