"""environment.yml mirrors pyproject.toml's dependencies."""

from __future__ import annotations

import re

import tomllib
import yaml

from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_every_dependency_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"] + project["optional-dependencies"]["dev"]}
    wanted = {"dask" if w == "dask" else w for w in wanted}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            listed.add(_name(spec))
    assert wanted <= listed, f"missing from environment.yml: {sorted(wanted - listed)}"
    torch_pins = [d for d in project["dependencies"] if d.startswith(("torch==", "torchvision=="))]
    assert sorted(torch_pins) == ["torch==2.14.1", "torchvision==0.29.1"]
