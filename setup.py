"""Package discovery only (metadata lives in pyproject.toml).

The user-facing folders models/ and lmms_tasks/ install as vdc_bench.models and
vdc_bench.lmms_tasks, so no generic top-level module (`models`, `lmms_tasks`) lands in
site-packages. Subpackages are discovered, so new folders need no edit here.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {"vdc_bench": "vdc_bench", "vdc_bench.models": "models", "vdc_bench.lmms_tasks": "lmms_tasks"}

packages, package_dir = [], {}
for name, folder in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    # namespace discovery: data-only folders (task YAMLs, prompt files, demo annotations) ship too
    packages += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(packages=packages, package_dir=package_dir)
