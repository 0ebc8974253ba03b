"""Run directories: checked before work, owned, locked while written, published atomically.

Every command that writes a folder (``fit``, ``compare``, ``sbc``, ``report`` and the
networks' ``fit``) goes through this module; what it promises:

Checked
    :func:`check_out`, before any work: an empty ``--out``, an existing file, or a place
    where nothing can be written is refused with one line. The nearest existing folder
    is tried with a probe file, so ``/proc/x`` and read-only mounts are caught even for
    root, for whom permission bits say yes.
Owned
    A run directory is recognised by the manifest its command already writes; there is
    no separate marker file. ``grid.json`` marks a comparison, ``sbc.json`` a calibration,
    ``fit.json`` a fit, ``report.json`` a report (a report made before it existed: only
    ``index.html`` and ``figures/topic*.png``), ``checkpoint.npz`` or a network's
    ``metrics.json`` a network's training. A command writes into a new or empty folder,
    or into one of its own kind (:func:`ensure`); anything else — your files, another
    command's results — is refused with one line naming what is there.
Replaced whole (``fit``)
    A fit is built in a private sibling folder and swapped in for ``--out``
    (:func:`publish`): the old folder is renamed away, the new one renamed in, the old
    one deleted. A failed or interrupted fit leaves the old complete result, never a mix.
    ``fit.json`` lists the files of its fit and records its ``identity`` (model, method,
    data, script, settings). The same fit rerun into its folder just replaces it;
    another fit only with ``--force``. ``--force`` replaces nothing else: not a folder
    holding files the fit did not write, nor another command's results (comparisons,
    calibrations, reports and trainings are hours of work). Because the folder itself is
    swapped, ``fit`` refuses ``--out .`` (or any folder that holds the current one).
Locked
    :func:`claim` holds ``DIR/.bayesmin.lock`` (``fcntl.flock``, not waiting) until the
    command ends; a second process is refused with one line naming the first (pid,
    command, start). The kernel drops the lock of a process that dies, so a lock file
    left by ``kill -9`` blocks nobody; the file is removed at release, and it never
    counts as a file of the folder. (Without ``fcntl``, on Windows, nothing is locked.)
Files
    :func:`write_atomic` and :func:`atomic_path` write to a temporary file of a unique
    name beside the target and rename it into place: a reader sees the old file or the
    complete new one. The temporary file is created with mode ``0o666``, so the result
    has the permissions the umask gives (``0o644`` under umask ``022``), as ``open``
    would give it; the umask itself is never read (reading it means setting it, for the
    whole process).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK",
    "Busy",
    "Holding",
    "OutError",
    "atomic_path",
    "check_out",
    "claim",
    "ensure",
    "inspect",
    "publish",
    "write_atomic",
]

LOCK = ".bayesmin.lock"
# Kind of run directory -> the manifest that marks it (networks: see ``inspect``).
MANIFESTS = {"compare": "grid.json", "sbc": "sbc.json", "fit": "fit.json", "report": "report.json"}
_NETWORKS = ("vae", "ddpm")
# What ``fit`` wrote before ``fit.json`` listed its files.
_OLD_FIT_FILES = {
    "fit.json", "summary.csv", "estimates.csv", "posterior.nc", "index.html",
    "assignments.csv", "latent.csv", "imputed.csv", "workers.csv", "predictions.csv",
}  # fmt: skip


class OutError(ValueError):
    """An ``--out`` that cannot be used; the message is one line with the fix."""


class Busy(OutError):
    """``--out`` is being written by another process (it holds the folder's lock)."""


# ------------------------------------------------------------------------------- files


def _fresh(parent: Path, name: str, make) -> Path:
    """``make(path)`` on a new path ``parent/name`` with a random part (``{}``)."""
    for _ in range(100):
        path = parent / name.format(secrets.token_hex(4))
        try:
            make(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {parent}")  # pragma: no cover


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A new, empty temporary file beside ``path``, renamed onto ``path`` when the block
    ends without an error (and removed when it raises).

    For writers that take a file name (``to_netcdf``, ``savefig``): its name is unique
    and keeps ``path``'s suffix, and its mode is what the umask gives a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh(path.parent, f".{path.stem}.tmp-{{}}{path.suffix}", _new_file)
    done = False
    try:
        yield tmp
        os.replace(tmp, path)
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_path`.

    A reader (or a rerun after an interruption) sees either the old file or the
    complete new one, never a partial write.
    """
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return Path(path)


# -------------------------------------------------------------------------- check --out


def _cwd_inside(path: Path) -> bool:
    here = Path.cwd().resolve()
    target = path.resolve()
    return here == target or target in here.parents


def _probe(folder: Path) -> str | None:
    """Why nothing can be written in ``folder``; None if a file can be made there."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "no permission to write there"
    try:
        _fresh(folder, ".bayesmin-probe-{}", _new_file).unlink()
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def check_out(out: str | os.PathLike, *, replace: bool = False) -> Path:
    """``--out`` as a Path, or :class:`OutError` before any work is done.

    Refused: an empty string, an existing file, a path under a file, and a place where
    nothing can be written (the nearest existing folder is tried with a probe file).
    ``replace=True`` (``fit``, which swaps its whole folder) also needs the parent of an
    existing folder writable.
    """
    text = os.fspath(out)
    if not text.strip():
        raise OutError("--out is empty; name a folder")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise OutError(f"--out {text} is a file, not a folder; name a folder")
    nearest = path.absolute()
    while not nearest.exists():
        nearest = nearest.parent
    if not nearest.is_dir():
        raise OutError(f"--out {text}: {nearest} is a file, not a folder; name a folder")
    places = [nearest]
    if replace and nearest == path.absolute():
        places.append(Path(os.path.realpath(path)).parent)
    for place in places:
        why = _probe(place)
        if why:
            raise OutError(
                f"--out {text}: cannot create files in {place} ({why}); choose another --out"
            )
    return path


def _refuse_cwd(out: str | os.PathLike) -> None:
    """``fit`` swaps its folder: not the one the user is in (or one above it)."""
    if _cwd_inside(Path(out)):
        raise OutError(
            f"--out {os.fspath(out)} is the folder you are in, and fit replaces its folder "
            "as a whole; name a folder for it (e.g. --out fit)"
        )


# ---------------------------------------------------------------------------- ownership


def _read_json(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _few(names: list[str] | tuple[str, ...], n: int = 3) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


@dataclass(frozen=True)
class Holding:
    """What a folder holds, as :func:`inspect` finds it.

    ``kind`` is the run directory's kind (``"fit"``, ``"network"``, ``"compare"``,
    ``"sbc"``, ``"report"``) or None; ``names`` its entries (not the lock file);
    ``manifest`` the fit's ``fit.json``; ``unlisted`` (fits) the files ``fit.json``
    does not list, relative paths.
    """

    path: Path
    kind: str | None = None
    names: tuple[str, ...] = ()
    manifest: Mapping[str, Any] = field(default_factory=dict)
    unlisted: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.names

    def describe(self) -> str:
        """``"holds a comparison grid (grid.json)"``, ``"is not empty: it holds ..."``."""
        if self.kind == "fit":
            m = self.manifest
            return f"holds a fit of {m.get('model', '?')} ({m.get('method', '?')})"
        if self.kind is None:
            return f"is not empty: it holds {_few(list(self.names))}, not made by bayesmin"
        what = {
            "compare": "a comparison grid (grid.json)",
            "sbc": "a simulation-based calibration (sbc.json)",
            "network": "a network's training (checkpoint.npz, metrics.json)",
            "report": "a report (index.html)",
        }[self.kind]
        return f"holds {what}"


def _listing(folder: Path) -> tuple[list[str], list[str]]:
    """Relative paths of the files and of the folders under ``folder``."""
    files, dirs = [], []
    for root, subdirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        dirs += [(rel / d).as_posix() for d in subdirs]
        files += [(rel / n).as_posix() for n in names if (rel / n).as_posix() != LOCK]
    return sorted(files), sorted(dirs)


def _unlisted(folder: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
    listed = manifest.get("files")
    files, dirs = _listing(folder)
    if isinstance(listed, list):
        own = {str(f) for f in listed} | {"fit.json"}
    else:  # a fit made before fit.json listed its files
        own = _OLD_FIT_FILES | {f for f in files if re.fullmatch(r"figures/fit_[^/]+\.png", f)}
    extra = [f for f in files if f not in own]
    extra += [d for d in dirs if not any(f.startswith(d + "/") for f in files)]  # empty ones
    return tuple(sorted(extra))


def inspect(out: str | os.PathLike) -> Holding:
    """What ``out`` holds: nothing, a run directory of some kind, or other files."""
    out = Path(out)
    if not out.is_dir():
        return Holding(out)
    names = tuple(sorted(p.name for p in out.iterdir() if p.name != LOCK))
    if not names:
        return Holding(out)
    for kind, manifest in MANIFESTS.items():
        if manifest not in names:
            continue
        if kind != "fit":
            return Holding(out, kind, names)
        record = _read_json(out / manifest)
        if "model" in record and "method" in record:
            return Holding(out, kind, names, record, _unlisted(out, record))
    metrics = _read_json(out / "metrics.json") if "metrics.json" in names else {}
    if "checkpoint.npz" in names or metrics.get("model") in _NETWORKS:
        return Holding(out, "network", names)
    if names == ("figures", "index.html") and (out / "figures").is_dir():
        figures = [p.name for p in (out / "figures").iterdir()]
        if figures and all(re.fullmatch(r"topic\d+_.+\.png", f) for f in figures):
            return Holding(out, "report", names)  # a report made before report.json
    return Holding(out, None, names)


def _differs(old: Any, new: Mapping[str, Any]) -> str | None:
    """Which part of a fit's identity differs (None: the same fit)."""
    new = json.loads(json.dumps(new, default=str))
    if not isinstance(old, dict):
        return "it records no identity"
    for key in new:
        if old.get(key) != new[key]:
            return f"its {key} differs"
    return None


def ensure(
    out: str | os.PathLike,
    command: str,
    *,
    identity: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Holding:
    """Check that ``command`` may write into ``out``; what is there, or :class:`OutError`.

    ``command`` is the kind of run directory it writes (``"fit"``, ``"network"``,
    ``"compare"``, ``"sbc"``, ``"report"``). A new or empty folder is fine, and so is one
    of the same kind (a comparison resumes, a report is rebuilt). A fit's folder must
    hold nothing but that fit's files, and with ``identity`` the same fit (its
    ``fit.json`` records one), unless ``force``. ``force`` allows nothing else.
    """
    held = inspect(out)
    if held.empty:
        return held
    fix = "choose another --out"
    if held.kind == command == "fit":
        if held.unlisted:
            raise OutError(
                f"--out {out} {held.describe()} and files it did not write "
                f"({_few(list(held.unlisted))}); {fix} (--force replaces only a fit's own files)"
            )
        why = (
            None if identity is None or force else _differs(held.manifest.get("identity"), identity)
        )
        if why:
            raise OutError(
                f"--out {out} {held.describe()}, not this one ({why}); {fix}, or pass --force "
                "to replace it"
            )
        return held
    if held.kind == command:
        return held
    only = " (--force replaces only another fit)" if force else ""
    raise OutError(f"--out {out} {held.describe()}; {fix}{only}")


# ------------------------------------------------------------------------------- locking


def _lock_info(fd: int) -> dict[str, Any]:
    try:
        record = json.loads(os.pread(fd, 65536, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _busy(folder: Path, info: Mapping[str, Any]) -> Busy:
    pid = info.get("pid")
    if pid is None:
        return Busy(
            f"{folder} is being written by another process; wait for it to finish, "
            "or choose another --out"
        )
    note = str(info.get("command", "bayesmin"))
    note = note if len(note) <= 60 else note[:59] + "…"
    started = info.get("started")
    when = ""
    if isinstance(started, int | float):
        same_day = time.localtime(started)[:3] == time.localtime()[:3]
        shape = "%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"
        when = ", started " + time.strftime(shape, time.localtime(started))
    return Busy(
        f"{folder} is being written by process {pid} ({note}{when}); wait for it to finish, "
        "or choose another --out"
    )


def _lock(folder: Path, note: str) -> int | None:
    """Create ``folder`` and hold its lock file; the open descriptor (None without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks here
        folder.mkdir(parents=True, exist_ok=True)
        return None
    path = folder / LOCK
    for _ in range(20):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder went away as its last writer let it go
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            info = _lock_info(fd)
            os.close(fd)
            raise _busy(folder, info) from None
        # The holder before us removes the file as it lets go; the lock must be on the
        # file that is there now, or a third process could take that one beside us.
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile: try again
            mine = os.fstat(fd)
            there = os.stat(path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                record = {"pid": os.getpid(), "command": note, "started": time.time()}
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(record).encode(), 0)
                return fd
        os.close(fd)
    raise OutError(f"cannot lock {folder}: its lock file keeps changing; try again")


def _unlock(folder: Path, fd: int | None) -> None:
    if fd is None:
        return
    try:
        # Only our own lock file goes; one a later holder made stays (and a folder
        # removed meanwhile has none to remove).
        with contextlib.suppress(OSError):
            mine, there = os.fstat(fd), os.stat(folder / LOCK)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                os.unlink(folder / LOCK)
    finally:
        os.close(fd)


@contextmanager
def claim(
    out: str | os.PathLike,
    command: str,
    *,
    identity: Mapping[str, Any] | None = None,
    force: bool = False,
    note: str | None = None,
) -> Iterator[Path]:
    """Own and lock ``out`` for ``command`` for the length of the block.

    :func:`check_out`, then :func:`ensure` (before anything is created, so a refused
    folder is left as it was; for ``fit`` not the current folder, which it would swap),
    then the folder is created and its lock taken, then
    :func:`ensure` again (another process may have finished there meanwhile). On
    leaving, the lock is let go, and folders this claim created that stayed empty are
    removed.

    Parameters
    ----------
    out : path
    command : {"fit", "network", "compare", "sbc", "report"}
        The kind of run directory written (see :func:`ensure`).
    identity, force
        For ``fit``: see :func:`ensure`.
    note : str, optional
        The command line, shown to a second process that finds the folder locked.

    Raises
    ------
    OutError
        A bad ``--out``, or a folder the command may not write into.
    Busy
        Another process holds the folder's lock.
    """
    path = check_out(out, replace=command == "fit")
    ensure(out, command, identity=identity, force=force)
    if command == "fit":
        _refuse_cwd(out)
    created = []
    missing = path.absolute()
    while not missing.exists():
        created.append(missing)
        missing = missing.parent
    fd = _lock(path, note or f"bayesmin {command}")
    try:
        ensure(out, command, identity=identity, force=force)
        _sweep(path)
        yield path
    finally:
        _unlock(path, fd)
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break


# The names atomic_path and check_out give their temporary files.
_TEMPORARY = re.compile(r"^\..+\.tmp-[0-9a-f]{8}(\.[^.]+)?$|^\.bayesmin-probe-[0-9a-f]{8}$")


def _sweep(path: Path) -> None:
    """Remove temporary files a writer killed before its rename left in ``path``.

    Called with the folder's lock held, so no writer of this folder is running: every
    such file is an orphan (``kill -9`` between creating it and renaming it).
    """
    if not path.is_dir():
        return
    for tmp in path.rglob(".*"):
        if tmp.is_file() and _TEMPORARY.match(tmp.name):
            tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- publishing


def _swap(new: Path, target: Path) -> None:
    """Put the folder ``new`` where ``target`` is, ``target``'s old folder deleted."""
    if not target.exists():
        os.rename(new, target)
        return
    aside = _fresh(target.parent, f".{target.name}.old-{{}}", lambda p: os.mkdir(p, 0o700))
    os.rename(target, aside)  # onto an empty folder: allowed, and atomic
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)  # the old result back where it was
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def publish(out: str | os.PathLike) -> Iterator[Path]:
    """A new private folder beside ``out``; when the block ends without an error it
    replaces ``out`` as a whole, else it is removed and ``out`` is left as it was.

    Only a new or empty folder or a fit's own folder may be replaced (:func:`ensure`
    with ``"fit"``): this is how ``fit`` publishes all its files together. The new
    folder gets the old one's permissions, or the umask's for a new one.

    Raises
    ------
    OutError
        ``out`` holds something other than a fit, or is (or holds) the current folder.
    """
    out = Path(out)
    ensure(out, "fit", force=True)
    _refuse_cwd(out)
    target = Path(os.path.realpath(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = _fresh(target.parent, f".{target.name}.new-{{}}", lambda p: os.mkdir(p, 0o777))
    try:
        if target.is_dir():
            os.chmod(stage, target.stat().st_mode & 0o7777)
        yield stage
        _swap(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
