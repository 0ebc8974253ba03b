"""Writable cache folders for the libraries when the home folder is not writable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayesmin.reports.cachedirs import fallback_environment, writable

# A folder that cannot be created, even by root (the suite runs as root in CI).
UNWRITABLE_HOME = "/proc/bayesmin-no-home"


def _scratch(tmp_path: Path):
    calls = []

    def scratch() -> Path:
        calls.append(True)
        return tmp_path / "scratch"

    return scratch, calls


def test_writable_tries_a_file_and_creates_nothing(tmp_path):
    assert writable(tmp_path / "not" / "yet")
    assert not (tmp_path / "not").exists()
    assert not writable(Path(UNWRITABLE_HOME) / ".cache")
    (tmp_path / "file").write_text("")
    assert not writable(tmp_path / "file" / "below")


def test_an_unwritable_home_sends_every_cache_to_the_scratch_folder(tmp_path):
    scratch, calls = _scratch(tmp_path)
    env = fallback_environment(
        {"HOME": UNWRITABLE_HOME, "PYTENSOR_FLAGS": "floatX=float64"}, scratch
    )
    root = tmp_path / "scratch"
    assert env == {
        "XDG_CACHE_HOME": str(root / "cache"),  # ArviZ's daily stamp, via platformdirs
        "MPLCONFIGDIR": str(root / "matplotlib"),
        "PYTENSOR_FLAGS": f"floatX=float64,base_compiledir={root / 'pytensor'}",
        "JAX_COMPILATION_CACHE_DIR": str(root / "cache" / "bayesmin" / "jax"),
    }
    assert len(calls) == 1 and all(Path(v.split("=")[-1]).is_dir() for v in list(env.values())[:3])


def test_a_writable_home_changes_nothing_but_jax_cache(tmp_path):
    scratch, calls = _scratch(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    assert fallback_environment({"HOME": str(home)}, scratch) == {
        "JAX_COMPILATION_CACHE_DIR": str(home / ".cache" / "bayesmin" / "jax")
    }
    assert fallback_environment({"HOME": str(home), "BAYESMIN_CACHE": "/c"}, scratch) == {
        "JAX_COMPILATION_CACHE_DIR": "/c/jax"
    }
    assert not calls and not list(home.iterdir())  # nothing created in the home folder


@pytest.mark.parametrize(
    "given",
    [
        {"MPLCONFIGDIR": "/m", "XDG_CACHE_HOME": "/x", "JAX_COMPILATION_CACHE_DIR": "/j",
         "PYTENSOR_FLAGS": "base_compiledir=/p"},
        {"MPLCONFIGDIR": "/m", "XDG_CACHE_HOME": "/x", "JAX_COMPILATION_CACHE_DIR": "/j",
         "PYTENSORRC": "RC"},
    ],
)  # fmt: skip
def test_the_users_own_settings_are_kept(tmp_path, given):
    scratch, calls = _scratch(tmp_path)
    if "PYTENSORRC" in given:
        rc = tmp_path / "pytensorrc"
        rc.write_text("[global]\nbase_compiledir = /p\n")
        given = {**given, "PYTENSORRC": str(rc)}
    assert fallback_environment({"HOME": UNWRITABLE_HOME, **given}, scratch) == {}
    assert not calls


def test_the_script_and_enable_compile_cache_share_one_default_folder(tmp_path):
    from bayesmin.inference._compile_cache import jax_cache_dir

    env = {"HOME": str(tmp_path)}
    assert jax_cache_dir(env) == tmp_path / ".cache" / "bayesmin" / "jax"
    assert jax_cache_dir({**env, "BAYESMIN_CACHE": "/b"}) == Path("/b/jax")
    assert fallback_environment(env, lambda: tmp_path)["JAX_COMPILATION_CACHE_DIR"] == str(
        jax_cache_dir(env)
    )
