"""When did the rate of British coal-mining disasters drop? A change-point model in PyMC.

Run it (from this folder):

    bayesmin compare changepoint.py:model --data disasters.csv --samplers mh:pymc,nuts:pymc \
        --seeds 0-3 --out run

``switchpoint`` is a discrete year, so gradient-based samplers (NUTS in NumPyro or
BlackJAX, bayesmin's JAX ``mh``) cannot take this model. ``mh:pymc`` runs bayesmin's
Metropolis–Hastings kernel inside ``pm.sample`` on the two rates while PyMC gives the
switch point its own Metropolis step; ``nuts:pymc`` does the same with NUTS.

Data: yearly counts of disasters, 1851-1961 (Jarrett 1979, as in PyMC's documentation);
the two years the series lacks are left out of the CSV.
"""

import pymc as pm


def model(year, count):
    with pm.Model() as m:
        switchpoint = pm.DiscreteUniform("switchpoint", year.min(), year.max())
        early = pm.Exponential("early_rate", 1.0)
        late = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(switchpoint >= year, early, late)
        pm.Poisson("count", rate, observed=count)
    return m
