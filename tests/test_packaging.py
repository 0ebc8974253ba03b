"""bayesmin as a user gets it: a built wheel, installed where the repository is not on
``sys.path``, used from a folder whose own files shadow every generic name.

The wheel is built from a copy of the source tree (a stale ``build/`` folder in the
repository cannot leak into it) and installed into a fresh virtual environment that sees
the test environment's dependencies but not its editable bayesmin. From a folder holding
decoy ``models.py``, ``inference/``, ``diagnostics.py`` and ``reports/`` that raise on
import, every module of the wheel must import, and the command line must run.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("models", "inference", "diagnostics", "reports")
DECOYS = {
    "models.py": "raise ImportError('the decoy models.py was imported')\n",
    "inference/__init__.py": "raise ImportError('the decoy inference/ was imported')\n",
    "diagnostics.py": "raise ImportError('the decoy diagnostics.py was imported')\n",
    "reports/__init__.py": "raise ImportError('the decoy reports/ was imported')\n",
}
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"
)

pytestmark = pytest.mark.slow


def _run(args, cwd, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, **kwargs
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    dist = tmp / "dist"
    # No build isolation: the test environment has setuptools (the test extra), and the
    # suite must not need the network.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            dist,
            ".",
        ],
        cwd=source,
    )
    (found,) = dist.glob("bayesmin-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh environment with the wheel installed; dependencies from the test environment.

    The test environment's site-packages is added by a ``.pth`` line, which puts the folder
    on ``sys.path`` without running the ``.pth`` files inside it, so its editable bayesmin
    (a finder that maps ``bayesmin`` to this repository) is not active here.
    """
    env = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", env], cwd=env.parent)
    (purelib,) = env.glob("lib/python*/site-packages")
    (purelib / "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            env / "bin" / "python",
            "install",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=env.parent,
    )
    return env


@pytest.fixture(scope="module")
def decoys(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("user_project")
    for name, text in DECOYS.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return work


def _modules_in_tree() -> set[str]:
    names = set()
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.add(".".join(("bayesmin", *parts)).removesuffix(".__init__"))
    return names | {"bayesmin", "bayesmin.__main__"}


def _modules_in_wheel(files: list[str]) -> set[str]:
    return {
        f.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        for f in files
        if f.endswith(".py")
    }


def test_the_wheel_holds_every_module_and_template_under_bayesmin_only(wheel):
    files = zipfile.ZipFile(wheel).namelist()
    assert _modules_in_wheel(files) == _modules_in_tree()
    for template in (ROOT / "reports" / "templates").iterdir():
        assert f"bayesmin/reports/templates/{template.name}" in files, template.name
    tops = {f.split("/")[0] for f in files}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"bayesmin"}
    (entry_points,) = [f for f in files if f.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "bayesmin = bayesmin.reports.cli:run" in text


IMPORT_ALL = """
import importlib, json, sys
from pathlib import Path
names = json.loads(sys.argv[1])
for name in names:
    importlib.import_module(name)
prefix = Path(sys.argv[2]).resolve()
outside = sorted(
    name for name, module in sys.modules.items()
    if name.split(".")[0] == "bayesmin"
    and not Path(module.__file__).resolve().is_relative_to(prefix)
)
assert not outside, f"imported from outside the installed wheel: {outside}"
for bare in ("models", "inference", "diagnostics", "reports"):
    try:
        importlib.import_module(bare)
    except ImportError as err:
        assert "decoy" in str(err), (bare, err)
    else:
        raise AssertionError(f"{bare} imported without the decoy")
print(len(names))
"""


def test_every_module_imports_beside_decoys_of_the_generic_names(wheel, venv, decoys):
    names = sorted(_modules_in_wheel(zipfile.ZipFile(wheel).namelist()))
    (purelib,) = venv.glob("lib/python*/site-packages")
    proc = _run([venv / "bin" / "python", "-c", IMPORT_ALL, json.dumps(names), purelib], decoys)
    assert int(proc.stdout.split()[-1]) == len(names)


def test_no_generic_top_level_name_is_installed(venv, tmp_path):
    code = (
        "import importlib.util as u; "
        "print([n for n in ('models', 'inference', 'diagnostics', 'reports') if u.find_spec(n)])"
    )
    proc = _run([venv / "bin" / "python", "-c", code], tmp_path)
    assert proc.stdout.strip() == "[]"


def test_the_command_line_runs_beside_the_decoys(venv, decoys):
    listing = _run([venv / "bin" / "bayesmin", "list"], decoys).stdout
    assert "normal_normal" in listing and "nuts:numpyro" in listing
    module = _run([venv / "bin" / "python", "-m", "bayesmin", "list"], decoys).stdout
    assert "normal_normal" in module
    out = decoys / "fit-out"
    _run([venv / "bin" / "bayesmin", "fit", "normal_normal", "--out", out], decoys)
    assert (out / "summary.csv").is_file()


def test_the_python_api_samples_beside_the_decoys(venv, decoys):
    code = (
        "import bayesmin; print(bayesmin.sample('normal_normal', 'mh', progress=False).posterior)"
    )
    proc = _run([venv / "bin" / "python", "-c", code], decoys)
    assert "mu" in proc.stdout and "chain" in proc.stdout
