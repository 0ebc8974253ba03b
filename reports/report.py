"""``bayesmin report``: the course as one browsable HTML page, one section per topic.

Each section is built in a process of its own (:func:`build_report`, ``isolate=True``),
two at a time by default (``jobs``): what a topic compiles and allocates — JAX
executables, PyTensor functions, traces, figures, network parameters — goes back to the
system when its process ends, so the report holds the memory of the sections under way,
not the sum of all ten (the quick profile reached 2.6-4.7 GB in one process). The
processes are forked from a server that has imported the sections once
(``multiprocessing``'s ``forkserver``), so a section starts in milliseconds, not in the
seconds an import of PyMC, NumPyro and JAX takes; the command's own process imports
none of them. The claims ledger (:mod:`reports.ledger`) of the chosen topics ends the
page and is written as ``ledger.html``.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import multiprocessing.connection
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .context import PROFILES, Context, Profile
from .html import Section, render
from .rundir import ensure, write_atomic

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


# Seconds each section took in the quick profile on 2 CPU cores, two sections at a time
# (``benchmarks/report_memory.py``). Only their order matters: sections start longest
# first, so the long one never starts last and leaves one core idle while it runs alone
# (page order put topic 10's 111 s last: 199 s in all; longest first: see
# benchmarks/README.md). The page keeps the topics' order whatever order they finish in.
_QUICK_SECONDS: dict[int | str, float] = {
    10: 111,
    5: 33,
    8: 28,
    6: 22,
    9: 22,
    3: 21,
    1: 19,
    "ledger": 9,
    2: 8,
    4: 8,
    7: 2,
}


def schedule(items: Sequence[int | str]) -> list[int | str]:
    """``items`` in the order their sections start: longest first (ties keep their order)."""
    return sorted(items, key=lambda n: -_QUICK_SECONDS.get(n, 0.0))


# number -> the module whose ``build(section, context)`` fills that topic's section
# (imported where the section is built: the sections import the whole modelling stack).
BUILDERS: dict[int, str] = {n: f"{__package__}.sections.topic{n}" for n in range(1, 11)}


def builder(number: int, module: str | None = None) -> Callable[[Section, Context], None]:
    """The function that fills topic ``number``'s section (from ``module`` when given)."""
    return importlib.import_module(module or BUILDERS[number]).build


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
    isolate: bool = True,
    ledger: bool = True,
    jobs: int = 2,
) -> tuple[Path, list[Section]]:
    """Build ``out/index.html`` with one section per topic, and ``out/report.json`` (the
    profile, topics and seed: what marks the folder as a report's, see :mod:`reports.rundir`).

    A section that raises (or whose process dies) is shown with its error and the others
    still build; the caller decides the exit status from ``section.error``. The page is
    written after every section, so an interrupted report keeps what it finished.

    Parameters
    ----------
    out : path
        Output folder (created): new, empty or a report's; figures go to ``out/figures``.
    topics : sequence of int
        Topic numbers (see :func:`parse_topics`).
    profile : {"quick", "full"} or Profile
    progress : callable, optional
        ``progress(topic, message)`` for each step of work (``topic`` is ``"ledger"``
        for the claims ledger).
    seed : int
        Seed of every sampler run in the report.
    ledger : bool
        End with the course's claims ledger for these topics (:mod:`reports.ledger`):
        a section of the page and a page of its own, ``out/ledger.html``.
    isolate : bool
        Build each section in a process of its own (the default; see the module
        docstring). ``False`` builds them in this process (debugging, profiling).
    jobs : int
        Sections built at once (with ``isolate``). Two keep both cores of a small
        machine busy (a section samples on one core most of the time) within 2 GB for
        the quick profile; each more holds up to about 0.5 GB more.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
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
    items = [*topics, *(["ledger"] if ledger else [])]
    finished: dict[int | str, Section] = {}

    def publish(number: int | str, section: Section) -> None:
        # Write after every section, so an interrupted report keeps what it finished
        # (in the page's order, whatever order the sections finish in).
        finished[number] = section
        page = render(
            [finished[n] for n in items if n in finished],
            title="bayesmin — the theoretical minimum of Bayesian ML, executed",
            subtitle=f"profile {profile.name}: {profile.chains} chains × {profile.draws} draws "
            f"after {profile.tune} warm-up; seed {seed}",
        )
        write_atomic(out / "index.html", page)

    def step_of(number: int | str) -> Callable[[str], None]:
        return lambda message: progress(number, message) if progress is not None else None

    if isolate:
        settings = (out, profile, seed, list(topics))
        _build_isolated(_worker_context(topics), items, settings, step_of, publish, jobs)
    else:
        for number in items:
            publish(number, _build_section(number, out, profile, seed, step_of(number), topics))
    return out / "index.html", [finished[n] for n in items]


LEDGER_HEADING = "The course's claims, each checked"


def _new_section(number: int | str, out: Path) -> Section:
    if number == "ledger":
        return Section(LEDGER_HEADING, out, prefix="ledger_")
    return Section(f"{number}. {TOPICS[number][1]}", out, prefix=f"topic{number}_")


def _build_ledger(section: Section, topics: Sequence[int], step: Callable[[str], None]) -> None:
    """The ledger of the chosen topics' claims: this section, and ``ledger.html``."""
    from . import ledger

    claims = [c for c in ledger.CLAIMS if c.topic in set(topics)]
    results = ledger.evaluate(
        claims, progress=lambda k, n, claim: step(f"claim {k + 1} of {n} (topic {claim.topic})")
    )
    ledger.write_ledger_page(section.out_dir, results)
    section.text(
        "Every display formula of the course and every property it states, for the topics "
        "above, with the computation that checks it on the spot, its value and the verdict; "
        "where the course has a typo, the standard result is typeset and checked beside the "
        'course\'s own writing. The same table is a page of its own: <a href="ledger.html">'
        "ledger.html</a>.",
        raw=True,
    )
    section.html(ledger.ledger_html(results))
    failed = [r for r in results if r.outcome is not None and not r.outcome.passed]
    if failed:
        raise RuntimeError(
            f"{len(failed)} claim(s) of the course failed their check (rows "
            + ", ".join(str(results.index(r) + 1) for r in failed)
            + " of the table)"
        )


def _build_section(
    number: int | str,
    out: Path,
    profile: Profile,
    seed: int,
    step: Callable[[str], None],
    topics: Sequence[int] = (),
    module: str | None = None,
) -> Section:
    section = _new_section(number, out)
    start = time.perf_counter()
    try:
        if number == "ledger":
            _build_ledger(section, topics, step)
        else:
            builder(number, module)(section, Context(profile, step, seed))
    except Exception as err:  # one failed topic must not cost the others
        section.error = f"{type(err).__name__}: {err}\n\n{traceback.format_exc(limit=4)}"
    section.seconds = time.perf_counter() - start
    return section


def _worker_context(topics: Sequence[int]):
    """``forkserver`` with the chosen sections preloaded (``spawn`` where there is none)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Read when the server starts (the first section): the imports happen once, there.
    context.set_forkserver_preload([BUILDERS[n] for n in topics] + [f"{__package__}.ledger"])
    return context


def _section_worker(
    number: int | str,
    module: str | None,
    out: str,
    profile: Profile,
    seed: int,
    topics: list[int],
    conn,
) -> None:
    """In the section's process: build it, sending progress and then the section back."""
    # Ctrl-C reaches the whole process group; the command's process handles it and ends
    # this one (SIGTERM), so a traceback of this process never lands in the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The page shows each run's verdict; the libraries' own logs and warnings would only
    # interleave with the command's progress bars (as in the command's process).
    from .executor import quiet_libraries

    quiet_libraries()
    section = _build_section(
        number,
        Path(out),
        profile,
        seed,
        lambda message: conn.send(("progress", message)),
        topics,
        module,
    )
    conn.send(("section", section))
    conn.close()


def _start(context, number: int | str, settings: tuple):
    """Start the process that builds ``number``'s section; ``(its pipe, the process)``."""
    out, profile, seed, topics = settings
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_section_worker,
        args=(number, BUILDERS.get(number), str(out), profile, seed, topics, send),
        name=f"bayesmin-report-{number}",
        daemon=True,
    )
    process.start()
    send.close()  # ours closed: the pipe ends (EOFError) when the process does
    return receive, process


def _stop(process) -> None:
    if process.is_alive():  # interrupted: the section's work is not wanted any more
        process.terminate()
        process.join(10)
        if process.is_alive():
            process.kill()
    process.join()


def _build_isolated(
    context,
    items: Sequence[int | str],
    settings: tuple,
    step_of: Callable[[int | str], Callable[[str], None]],
    publish: Callable[[int | str, Section], None],
    jobs: int,
) -> None:
    """Build every section in a process of its own, ``jobs`` at a time, longest first.

    Each finished section goes to ``publish`` as it comes back; a process that ends
    without its section (killed for memory, crashed in compiled code) gives a section
    that says so.
    """
    waiting = schedule(items)
    running: dict[Any, tuple[int | str, Any]] = {}  # pipe -> (item, process)
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                number = waiting.pop(0)
                receive, process = _start(context, number, settings)
                running[receive] = (number, process)
            for receive in multiprocessing.connection.wait(list(running)):
                number, process = running[receive]
                try:
                    kind, payload = receive.recv()
                except EOFError:
                    kind, payload = "ended", None
                if kind == "progress":
                    step_of(number)(payload)
                    continue
                del running[receive]
                receive.close()
                _stop(process)
                if kind != "section":
                    payload = _new_section(number, settings[0])
                    payload.error = (
                        f"the process building this section ended without it (exit code "
                        f"{process.exitcode}; -9 is the system's out-of-memory killer); "
                        "rerun it with fewer --topics or --jobs 1"
                    )
                publish(number, payload)
    finally:
        for receive, (_, process) in running.items():
            receive.close()
            _stop(process)
