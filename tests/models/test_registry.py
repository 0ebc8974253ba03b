"""The model registry: complete from any entry point, unique names, and it survives
``importlib.reload`` (IPython's autoreload re-executes edited modules).

The reloads run in a fresh interpreter: reloading ``models.base`` here would give every
later test in this process a second ``DataError`` class.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bayesmin import models
from bayesmin.models import base

RELOADS = """
import importlib
from bayesmin import models
from bayesmin.models import base, conjugate

names = models.names()
before = models.get("beta_binomial")
importlib.reload(conjugate)
after = models.get("beta_binomial")
assert after is not before and after.simulate is conjugate._bb_simulate
assert models.names() == names

importlib.reload(base)
assert base._REGISTRY == {}                 # emptied by the reload ...
assert models.names() == names, models.names()  # ... and refilled from the loaded modules
spec = models.get("normal_normal")
# The specs are instances of the reloaded class, so get() takes them as specs.
assert isinstance(spec, base.ModelSpec) and models.get(spec) is spec
importlib.reload(models)
assert models.names() == names
print("ok", len(names))
"""


@pytest.mark.slow
def test_the_registry_survives_reloading_model_modules_and_itself():
    proc = subprocess.run([sys.executable, "-c", RELOADS], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[0] == "ok" and int(proc.stdout.split()[1]) > 15


def test_a_name_registered_by_another_module_is_refused():
    spec = models.get("normal_normal")
    with pytest.raises(ValueError, match=r"registered twice .*give one of them another name"):
        base.register(spec)  # this test module is not the one that registered it
    assert models.get("normal_normal") is spec


def test_the_index_names_what_each_module_registers():
    # get() imports only the module its name is listed under: the index must be exact.
    models.names()  # every module imported
    registered: dict[str, set[str]] = {}
    for name, module in base._ORIGIN.items():
        if module.startswith("bayesmin.models."):
            registered.setdefault(module.rsplit(".", 1)[1], set()).add(name)
    assert registered == {module: set(names) for module, names in base._MODULES.items()}


def test_a_network_model_is_found_without_importing_pymc():
    # Training the DDPM or the VAE needs JAX alone; the registry must not drag PyMC in.
    code = (
        "import sys\n"
        "from bayesmin import models\n"
        "assert models.get('ddpm').name == 'ddpm'\n"
        "assert 'pymc' not in sys.modules, 'pymc imported'\n"
        "models.get('normal_normal')\n"
        "assert 'pymc' in sys.modules  # negative control: a PyMC model's module does\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_an_unknown_name_lists_the_known_ones_without_importing_them():
    with pytest.raises(
        KeyError, match=r"unknown model 'nope'; known models: .*ddpm.*normal_normal"
    ):
        models.get("nope")
