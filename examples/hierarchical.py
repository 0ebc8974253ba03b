"""A hierarchical normal model of scores grouped by school, written in PyMC.

Run it (from this folder):

    bayesmin compare hierarchical.py:model --data hierarchical.csv \
        --samplers nuts,nuts:nutpie,mh --reference long --seeds 0-3 --out run

The function's arguments are the CSV's columns: ``school`` (integer codes 0..K-1) and
``score``. The non-centred form (``theta = mu + tau * z``) keeps NUTS free of the funnel
that a centred hierarchical model has when ``tau`` is small (Betancourt & Girolami 2015).
"""

import pymc as pm


def model(school, score):
    n_schools = int(school.max()) + 1
    with pm.Model(coords={"school": range(n_schools)}) as m:
        mu = pm.Normal("mu", 50.0, 20.0)
        tau = pm.HalfNormal("tau", 10.0)
        z = pm.Normal("z", 0.0, 1.0, dims="school")
        theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        sigma = pm.HalfNormal("sigma", 20.0)
        pm.Normal("score", theta[school], sigma, observed=score)
    return m
