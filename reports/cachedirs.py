"""Writable folders for the libraries' caches when the home folder is not writable.

Matplotlib (font cache and config), ArviZ (a daily stamp under the user cache folder,
written on import), PyTensor (compiled C modules and Numba's cache under
``~/.pytensor``) and JAX's compilation cache all write under ``$HOME``, and an
unwritable one (a service account, a read-only container, ``HOME=/nonexistent``) makes
``import arviz`` fail. :func:`fallback_environment` says which environment variables
point them at a private temporary folder instead; the ``bayesmin`` script applies it to
its own process (its local Dask workers inherit it) before it imports any of them.
A setting the user made is never overridden, and nothing changes where the defaults
are writable. Nothing here is applied on import.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ..inference._compile_cache import cache_home as _cache_home
from ..inference._compile_cache import home_folder as _home
from ..inference._compile_cache import jax_cache_dir

__all__ = ["apply_fallback", "fallback_environment", "jax_cache_dir", "writable"]


def writable(folder: Path) -> bool:
    """``folder`` exists and takes a new file, or could be created.

    Tried rather than read from permissions (``os.access``): root passes every
    permission check, yet cannot write to ``/proc`` or a read-only mount. Nothing is
    created: a temporary file is made and removed in ``folder`` or, where it does not
    exist yet, in its nearest existing parent.
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            return True
    except OSError:
        return False


def _pytensor_folder_is_set(environ: Mapping[str, str]) -> bool:
    """PYTENSOR_FLAGS or a ``.pytensorrc`` file chooses PyTensor's compile folder."""
    if "compiledir" in environ.get("PYTENSOR_FLAGS", ""):
        return True
    home = _home(environ)
    files = environ.get("PYTENSORRC") or (str(home / ".pytensorrc") if home else "")
    for name in filter(None, files.split(os.pathsep)):
        try:
            if "compiledir" in Path(name).expanduser().read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def fallback_environment(environ: Mapping[str, str], scratch: Callable[[], Path]) -> dict[str, str]:
    """The environment variables to set so that every cache folder is writable.

    Parameters
    ----------
    environ : mapping
        The process's environment (``os.environ``).
    scratch : callable
        Returns the private temporary folder to use; called only when one is needed.

    Returns
    -------
    dict
        Variables to add to ``environ``: ``MPLCONFIGDIR``, ``XDG_CACHE_HOME``,
        ``PYTENSOR_FLAGS`` (``base_compiledir`` appended) and
        ``JAX_COMPILATION_CACHE_DIR``, each only where the user has not set it and its
        default folder is not writable. JAX's cache is always set (the script's
        :func:`jax_cache_dir`) unless the user set it.
    """
    home = _home(environ)
    unwritable = home is None or not writable(home)
    out: dict[str, str] = {}
    folder: Path | None = None

    def fallback(name: str) -> str:
        nonlocal folder
        if folder is None:
            folder = scratch()
        path = folder / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    cache = _cache_home(environ)
    if not environ.get("XDG_CACHE_HOME") and (cache is None or not writable(cache)):
        out["XDG_CACHE_HOME"] = fallback("cache")
    if not environ.get("MPLCONFIGDIR"):
        config = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else None
        if config is None and home is not None:
            config = home / ".config"
        mpl_cache = Path(out.get("XDG_CACHE_HOME") or str(cache)) / "matplotlib"
        if config is None or not writable(config / "matplotlib") or not writable(mpl_cache):
            out["MPLCONFIGDIR"] = fallback("matplotlib")
    if (unwritable or not writable(home / ".pytensor")) and not _pytensor_folder_is_set(environ):
        flags = environ.get("PYTENSOR_FLAGS", "")
        setting = f"base_compiledir={fallback('pytensor')}"
        out["PYTENSOR_FLAGS"] = f"{flags},{setting}" if flags else setting
    if not environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax = jax_cache_dir({**environ, **out})
        if jax is not None:
            out["JAX_COMPILATION_CACHE_DIR"] = str(jax)
    return out


def apply_fallback() -> dict[str, str]:
    """Set :func:`fallback_environment` in this process's environment; return what it set.

    For the ``bayesmin`` script, before it imports Matplotlib, ArviZ, PyTensor or JAX.
    The temporary folder (``bayesmin-*`` in the system's temporary folder, private to
    the user) is removed when the process exits. Where even that cannot be made, the
    environment is left as it is.
    """

    def scratch() -> Path:
        folder = Path(tempfile.mkdtemp(prefix="bayesmin-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder

    try:
        settings = fallback_environment(os.environ, scratch)
    except OSError:
        return {}
    os.environ.update(settings)
    return settings
