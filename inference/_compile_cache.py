"""JAX's persistent compilation cache: where bayesmin keeps it, and the call that turns it on.

A compiled XLA program can be written to disk and loaded by a later process instead of
being compiled again; for the small programs of a script (an EM fit, a sampler on a
small model) compiling is most of the wait. The ``bayesmin`` script turns the cache on
for itself (:mod:`bayesmin.reports.cachedirs`); a script of the user's turns it on with
one call, :func:`enable_compile_cache`. Importing bayesmin never does.

This module imports nothing heavy at import time: the ``bayesmin`` script reads
:func:`jax_cache_dir` before JAX is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_home", "enable_compile_cache", "home_folder", "jax_cache_dir"]

# JAX writes a program to the cache only when compiling it took at least this long
# (JAX's own default is 1 s, which leaves out every EM loop and most small samplers:
# they compile in 0.1-1 s, and that is the wait a new process would skip).
MIN_COMPILE_SECONDS = 0.1


def home_folder(environ: Mapping[str, str]) -> Path | None:
    """``$HOME`` (or the password entry's home); None when there is none."""
    try:
        return Path(environ["HOME"]) if "HOME" in environ else Path.home()
    except RuntimeError:  # no HOME and no password entry
        return None


def cache_home(environ: Mapping[str, str]) -> Path | None:
    """``$XDG_CACHE_HOME``, by default ``~/.cache``; None when there is no home folder."""
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"])
    home = home_folder(environ)
    return None if home is None else home / ".cache"


def jax_cache_dir(environ: Mapping[str, str]) -> Path | None:
    """Where bayesmin keeps JAX's compilation cache.

    ``$BAYESMIN_CACHE/jax``, by default ``$XDG_CACHE_HOME/bayesmin/jax`` (that is,
    ``~/.cache/bayesmin/jax``); None when there is no home folder to put it in.
    """
    if environ.get("BAYESMIN_CACHE"):
        return Path(environ["BAYESMIN_CACHE"]) / "jax"
    cache = cache_home(environ)
    return None if cache is None else cache / "bayesmin" / "jax"


def enable_compile_cache(
    path: str | os.PathLike | None = None,
    *,
    min_compile_seconds: float = MIN_COMPILE_SECONDS,
) -> Path:
    """Turn on JAX's persistent compilation cache for this process; return its folder.

    Every program that takes at least ``min_compile_seconds`` to compile is written to
    the folder, and a later process (or this one, after its in-memory caches are
    cleared) that needs the same program — same computation, shapes, dtypes, JAX
    version and machine — loads it instead of compiling it. Tracing still happens;
    only XLA's compilation is skipped. Works whether or not JAX has compiled anything
    yet in this process; calling it again with another folder switches to that folder.

    Parameters
    ----------
    path : str or path-like, optional
        The cache folder (created if missing). By default the one the ``bayesmin``
        script uses: ``$JAX_COMPILATION_CACHE_DIR`` if set, else
        ``$BAYESMIN_CACHE/jax``, else ``~/.cache/bayesmin/jax`` (``$XDG_CACHE_HOME``
        honoured), so scripts and the command line share compiled programs.
    min_compile_seconds : float
        Programs that compile faster than this are not written (JAX's default is
        1 s; ours is 0.1 s, which keeps the EM loops and small samplers). 0 caches
        everything.

    Returns
    -------
    pathlib.Path
        The folder in use.

    Raises
    ------
    OSError
        When the folder cannot be created (name another with ``path`` or
        ``$BAYESMIN_CACHE``), or there is no home folder and no ``path``.

    Notes
    -----
    This sets JAX's global options ``jax_enable_compilation_cache``,
    ``jax_compilation_cache_dir``,
    ``jax_persistent_cache_min_compile_time_secs`` and
    ``jax_persistent_cache_min_entry_size_bytes`` (-1: no size threshold). The cache is
    trusted code: keep it in a folder only you can write to.

    Examples
    --------
    >>> import bayesmin
    >>> bayesmin.enable_compile_cache()  # doctest: +SKIP
    PosixPath('/home/me/.cache/bayesmin/jax')
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if not min_compile_seconds >= 0:
        raise ValueError(f"min_compile_seconds must be >= 0, got {min_compile_seconds}")
    if path is None:
        path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax_cache_dir(os.environ)
        if path is None:
            raise OSError(
                "no home folder for JAX's compilation cache: pass path= or set BAYESMIN_CACHE"
            )
    folder = Path(path).expanduser().absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"cannot create the compilation cache folder {folder} ({error.strerror}); "
            "pass another path= or set BAYESMIN_CACHE"
        ) from error
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # JAX opens its cache once, at the first compilation that finds a folder set; a
    # folder set (or changed) later is only read after the cache is reset.
    compilation_cache.reset_cache()
    return folder
