"""The package layout, which pyproject.toml cannot express: one import package ``bayesmin``
whose subpackages are the repository's top-level folders (``bayesmin.models`` is ``models/``,
and so on). Subpackages and their data files (the HTML templates) are found here, never
listed by hand; everything else about the distribution is in pyproject.toml."""

from collections import defaultdict
from pathlib import Path

from setuptools import find_packages, setup

SUBPACKAGES = ("models", "inference", "diagnostics", "reports")

package_dir = {"bayesmin": "bayesmin"}
packages = ["bayesmin"]
package_data = defaultdict(list)
for top in SUBPACKAGES:
    package_dir[f"bayesmin.{top}"] = top
    packages += [f"bayesmin.{top}", *(f"bayesmin.{top}.{sub}" for sub in find_packages(top))]
    # Every other file (templates, styles, data) belongs to its nearest enclosing package.
    for path in Path(top).rglob("*"):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        owner = next(p for p in path.parents if (p / "__init__.py").exists())
        package = "bayesmin." + ".".join(owner.parts)
        package_data[package].append(path.relative_to(owner).as_posix())

setup(packages=packages, package_dir=package_dir, package_data=dict(package_data))
