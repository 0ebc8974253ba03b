"""``bayesmin report``: the course as one browsable HTML page, one section per topic."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from .context import PROFILES, Context, Profile
from .html import Section, render
from .rundir import ensure, write_atomic
from .sections import (
    topic1,
    topic2,
    topic3,
    topic4,
    topic5,
    topic6,
    topic7,
    topic8,
    topic9,
    topic10,
)

__all__ = ["PROFILES", "TOPICS", "Context", "Profile", "build_report", "parse_topics"]

# number -> (short name, title)
TOPICS: dict[int, tuple[str, str]] = {
    1: ("regression", "Moments, likelihood, MLE vs MAP, Bayesian linear regression"),
    2: ("probability", "Conditional probability, Bayes' rule, conditional independence"),
    3: ("conjugate", "Conjugate priors and full Bayesian inference"),
    4: ("rvm", "Relevance vector machine by evidence maximisation"),
    5: ("kl", "KL divergence and variational inference"),
    6: ("em", "EM: mixtures, probabilistic PCA, GLAD"),
    7: ("monte-carlo", "Monte Carlo, rejection and importance sampling"),
    8: ("mcmc", "Metropolis-Hastings and Markov chains"),
    9: ("vae", "Variational autoencoder"),
    10: ("diffusion", "Diffusion models (DDPM)"),
}
_ALIASES = {
    "linear_regression": 1,
    "mle": 1,
    "bayes": 2,
    "bayes_net": 2,
    "independence": 2,
    "conjugate-priors": 3,
    "mh": 8,
    "ddpm": 10,
}


# number -> the function that fills that topic's section.
BUILDERS: dict[int, Callable[[Section, Context], None]] = {
    1: topic1.build,
    2: topic2.build,
    3: topic3.build,
    4: topic4.build,
    5: topic5.build,
    6: topic6.build,
    7: topic7.build,
    8: topic8.build,
    9: topic9.build,
    10: topic10.build,
}


def available_topics() -> list[int]:
    """Topic numbers that have a report section."""
    return sorted(BUILDERS)


def parse_topics(text: str | Sequence[str] | None) -> list[int]:
    """``"1,2,conjugate"`` -> ``[1, 2, 3]``; ``None`` or ``"all"`` -> every available topic.

    Raises
    ------
    ValueError
        For an unknown topic, or one without a report section yet, naming those there are;
        for an empty choice (``""``, ``","``).
    """
    available = available_topics()
    if text is None:
        return available
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [i.strip().lower() for i in items if i.strip()]
    if not items:  # "" is no choice, not "everything": only "all" means all
        raise ValueError(
            "--topics is empty; give topic numbers or names (e.g. 1,2,conjugate), or all"
        )
    if items == ["all"]:
        return available
    by_name = {name: n for n, (name, _) in TOPICS.items()} | _ALIASES
    chosen: list[int] = []
    for item in items:
        if item.isdigit() and int(item) in TOPICS:
            number = int(item)
        elif item in by_name:
            number = by_name[item]
        else:
            names = ", ".join(f"{n} ({name})" for n, (name, _) in TOPICS.items())
            raise ValueError(f"unknown topic {item!r}; topics are {names}")
        if number not in available:
            have = ", ".join(f"{n} ({TOPICS[n][0]})" for n in available)
            raise ValueError(
                f"topic {number} ({TOPICS[number][0]}) has no report section yet; available: {have}"
            )
        if number not in chosen:
            chosen.append(number)
    return sorted(chosen)


def build_report(
    out: str | Path,
    topics: Sequence[int],
    profile: str | Profile = "quick",
    *,
    progress: Callable[[int, str], None] | None = None,
    seed: int = 0,
) -> tuple[Path, list[Section]]:
    """Build ``out/index.html`` with one section per topic, and ``out/report.json`` (the
    profile, topics and seed: what marks the folder as a report's, see :mod:`reports.rundir`).

    A section that raises is shown with its error and the others still build; the
    caller decides the exit status from ``section.error``.

    Parameters
    ----------
    out : path
        Output folder (created): new, empty or a report's; figures go to ``out/figures``.
    topics : sequence of int
        Topic numbers (see :func:`parse_topics`).
    profile : {"quick", "full"} or Profile
    progress : callable, optional
        ``progress(topic, message)`` for each step of work.
    seed : int
        Seed of every sampler run in the report.
    """
    if isinstance(profile, str):
        try:
            profile = PROFILES[profile]
        except KeyError:
            raise ValueError(
                f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}"
            ) from None
    out = Path(out)
    ensure(out, "report")  # a new or empty folder, or a report: never your files
    write_atomic(
        out / "report.json",
        json.dumps(
            {"command": "report", "profile": profile.name, "topics": list(topics), "seed": seed},
            indent=2,
        ),
    )
    sections = []
    for number in topics:
        section = Section(f"{number}. {TOPICS[number][1]}", out, prefix=f"topic{number}_")

        def step(message: str, number=number) -> None:
            if progress is not None:
                progress(number, message)

        start = time.perf_counter()
        try:
            BUILDERS[number](section, Context(profile, step, seed))
        except Exception as err:  # one failed topic must not cost the others
            section.error = f"{type(err).__name__}: {err}\n\n{traceback.format_exc(limit=4)}"
        section.seconds = time.perf_counter() - start
        sections.append(section)
        # Write after every topic, so an interrupted report keeps what it finished.
        page = render(
            sections,
            title="bayesmin — the theoretical minimum of Bayesian ML, executed",
            subtitle=f"profile {profile.name}: {profile.chains} chains × {profile.draws} draws "
            f"after {profile.tune} warm-up; seed {seed}",
        )
        write_atomic(out / "index.html", page)
    return out / "index.html", sections
