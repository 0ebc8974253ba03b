"""What every report section is given: the :class:`Profile` (how much work) and the
:class:`Context` (profile, seed, progress callback, and sampling at the profile's sizes).

Its own module so that the sections import it without importing :mod:`.report`, which
imports the sections: the dependency runs one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PROFILES", "Context", "Profile"]


@dataclass(frozen=True)
class Profile:
    """How much work a report does: ``quick`` for a look, ``full`` for the record."""

    name: str
    draws: int
    tune: int
    chains: int
    samplers: tuple[str, ...] = ("nuts:numpyro", "nuts:pymc", "nuts:nutpie", "nuts:blackjax")


PROFILES = {
    "quick": Profile("quick", draws=500, tune=500, chains=2),
    "full": Profile("full", draws=2000, tune=1000, chains=4),
}


@dataclass
class Context:
    """What a section builder gets: the profile, a seed, and a progress callback."""

    profile: Profile
    progress: Callable[[str], None]
    seed: int = 0

    def sample(self, target, sampler: str, **kwargs):
        """``inference.sample`` with the profile's sizes and no backend progress bars."""
        from .. import inference

        self.progress(f"sampling {getattr(target, 'name', target)} with {sampler}")
        options = dict(
            draws=self.profile.draws,
            tune=self.profile.tune,
            chains=self.profile.chains,
            seed=self.seed,
            progress=False,
        )
        if "cores" in inference.sampler_options(sampler):
            # One process: on a 2-core machine forking workers costs more than it saves.
            options["cores"] = 1
        options.update(kwargs)
        return inference.sample(target, sampler, **options)
