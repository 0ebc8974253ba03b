"""The package layout, which pyproject.toml cannot express: one import package ``bayesmin``
whose subpackages are the repository's top-level folders (``bayesmin.models`` is ``models/``,
and so on). Every folder below them is a package (setuptools treats a folder of data, such
as ``reports/templates``, as a namespace package) and every file in it that is not Python
is its data: found here, never listed by hand. Everything else about the distribution is in
pyproject.toml."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

SUBPACKAGES = ("models", "inference", "diagnostics", "reports")

package_dir = {"bayesmin": "bayesmin"}
packages = ["bayesmin"]
package_data = {}
for top in SUBPACKAGES:
    package_dir[f"bayesmin.{top}"] = top
    found = find_namespace_packages(top, exclude=["__pycache__", "*.__pycache__"])
    for name in [top, *(f"{top}.{sub}" for sub in found)]:
        packages.append(f"bayesmin.{name}")
        folder = Path(*name.split("."))
        data = [p.name for p in folder.iterdir() if p.is_file() and p.suffix not in {".py", ".pyc"}]
        if data:
            package_data[f"bayesmin.{name}"] = sorted(data)

setup(packages=packages, package_dir=package_dir, package_data=package_data)
