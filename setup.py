"""Packaging that pyproject.toml cannot express: the Jinja procedure templates live in the
top-level ``templates/`` folder (readable without opening the package) and install as
``cdcgen/templates`` package data. Everything else is declared in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["cdcgen", "cdcgen.*"]), "cdcgen.templates"],
    package_dir={"cdcgen.templates": "templates"},
)
