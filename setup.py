"""Package layout that pyproject.toml cannot express (everything else is in pyproject.toml).

The repository keeps ``datamodules/`` and ``conf/`` at the top level; the wheel installs them inside
the package as ``scanpath.datamodules`` and ``scanpath/conf`` (the Hydra configs) through
``package_dir``. A source checkout imports them through :mod:`scanpath.resources`.
"""

from setuptools import find_namespace_packages, setup

CONF_GROUPS = [f"scanpath.conf.{p}" for p in find_namespace_packages(where="conf", exclude=["*__pycache__*"])]

setup(
    packages=[
        *find_namespace_packages(include=["scanpath", "scanpath.*"], exclude=["*__pycache__*"]),
        "scanpath.datamodules",
        "scanpath.conf",
        *CONF_GROUPS,
    ],
    package_dir={"scanpath.datamodules": "datamodules", "scanpath.conf": "conf"},
    package_data={
        "scanpath": ["py.typed", "models/neva/model_configs/*.json"],
        "scanpath.conf": ["*.yaml"],
        **{group: ["*.yaml"] for group in CONF_GROUPS},
    },
)
