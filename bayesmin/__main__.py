"""``python -m bayesmin``: the command line, as the ``bayesmin`` script runs it."""

from .reports.cli import run

if __name__ == "__main__":  # pragma: no cover - the module run as a program
    run()
