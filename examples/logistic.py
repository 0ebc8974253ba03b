"""Bayesian logistic regression written in NumPyro.

Run it (from this folder):

    bayesmin fit logistic.py:model --data logistic.csv --out fit
    bayesmin sbc logistic.py:model --data logistic.csv --sampler mh --sims 100 --out sbc

The CSV's columns ``x1, x2, x3`` and ``y`` are the function's arguments; ``y=None``
lets NumPyro simulate the outcome, which is what ``bayesmin sbc`` does to calibrate a
sampler on this model.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist


def model(x1, x2, x3, y=None):
    X = jnp.stack([x1, x2, x3], axis=-1)
    intercept = numpyro.sample("intercept", dist.Normal(0.0, 2.5))
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=intercept + X @ beta), obs=y)
