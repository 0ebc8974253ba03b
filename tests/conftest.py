"""Shared fixtures: compiled runs are expensive, so each (model, sampler) pair is
sampled once per test session and reused by every test that needs it."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

# bayesmin draws without pyplot, so it never needs a backend; this only keeps a test run
# on a desktop from opening windows should third-party code reach for pyplot. An
# environment variable, not matplotlib.use(): the suite changes no global state itself
# (tests/reports/test_figures.py checks that in a process without it).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYTENSOR_FLAGS", "warn__ignore_bug_before=all")
warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(autouse=True)
def _pymc_progress_stream():
    """Point PyMC's progress bars back at the process's stderr after every test.

    ``pymc.progress_bar.rich_progress`` binds ``from sys import stderr`` when first
    imported; a first import inside a test that swapped stderr (an in-process CLI run under
    ``CliRunner``) left every later PyMC progress bar in that worker writing to the swapped,
    closed stream: "I/O operation on closed file" in whichever test sampled next.
    """
    yield
    module = sys.modules.get("pymc.progress_bar.rich_progress")
    if module is not None and getattr(module, "stderr", None) is not sys.__stderr__:
        module.stderr = sys.__stderr__


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
