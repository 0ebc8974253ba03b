"""Wall time and memory of one ``bayesmin report`` command, its processes together.

``/usr/bin/time -v`` reports the largest *single* process's peak resident set; the
report builds each section in a process of its own, so what the machine must hold is
the sum over the command's processes at each moment. This script runs the command,
samples its process tree every ``--every`` seconds and prints:

* ``wall s`` — from start to exit;
* ``peak PSS MB`` — the largest sum of proportional set sizes (shared pages divided
  among the processes sharing them: the memory the tree really holds);
* ``peak RSS sum MB`` — the largest sum of resident sets (counts shared pages once
  per process: an upper bound);
* ``peak single RSS MB`` — the largest one process reached (what ``time -v`` shows).

Run it::

    .venv/bin/python benchmarks/report_memory.py -- bayesmin report --profile quick --out r

Timings depend on the machine and on what else runs on it; never asserted on in tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

import psutil


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def measure(command: list[str], every: float = 0.25) -> dict:
    """Run ``command``; its wall time, exit status and peak memory (see the module docstring)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    root = psutil.Process(proc.pid)
    peak = {"pss": 0.0, "rss_sum": 0.0, "rss_single": 0.0, "processes": 0}
    while proc.poll() is None:
        pss = rss = single = 0.0
        members = _tree(root)
        for member in members:
            try:
                info = member.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss += info.pss
            rss += info.rss
            single = max(single, info.rss)
        peak["pss"] = max(peak["pss"], pss)
        peak["rss_sum"] = max(peak["rss_sum"], rss)
        peak["rss_single"] = max(peak["rss_single"], single)
        peak["processes"] = max(peak["processes"], len(members))
        time.sleep(every)
    return {
        "exit": proc.returncode,
        "wall s": round(time.perf_counter() - start, 1),
        "peak PSS MB": round(peak["pss"] / 2**20),
        "peak RSS sum MB": round(peak["rss_sum"] / 2**20),
        "peak single RSS MB": round(peak["rss_single"] / 2**20),
        "processes": peak["processes"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.25, help="sampling period, seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    if shutil.which(command[0]) is None and not command[0].startswith(("/", ".")):
        # ``bayesmin`` from this interpreter's environment when not on PATH.
        command = [sys.executable, "-m", command[0], *command[1:]]
    result = measure(command, args.every)
    width = max(map(len, result))
    for key, value in result.items():
        sys.stdout.write(f"{key:<{width}}  {value}\n")


if __name__ == "__main__":
    main()
