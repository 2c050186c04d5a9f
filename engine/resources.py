"""Where the shipped policy rules and JSON Schemas live, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def schemas_dir() -> Path:
    """The folder of ``*.schema.json`` files shipped with clauseline."""
    return Path(str(resources.files("clauseline.schemas")))


def rules_dir() -> Path:
    """The folder holding one sub-folder per shipped policy version."""
    return Path(str(resources.files("clauseline.rules")))
