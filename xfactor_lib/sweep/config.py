"""Sweep configs: read a YAML file, check every name in it, expand the grids into cells.

A config lists stages; each stage names a template notebook, shared ``params`` and a
``grid``; ``overrides: [{match: {model: resnet18}, params: {...}}]`` change params for
matching grid points, ``exclude: [{model: resnet18, size: 100}]`` drops grid points;
``scales: {smoke|quick|paper: {params, grid, overrides, exclude}}`` override all of these
by key. ``include: [other.yaml]`` adds the stages and summaries of other configs.

Every key is checked before anything runs: the config's own keys against the ones above,
and every param, grid, override and exclude key (at every scale) against the parameters
the template declares (its papermill ``parameters`` cell). A misspelled name is an error
naming the file, the stage and the closest valid name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .._validation import closest

SCALES = ("smoke", "quick", "paper")
REPO_ROOT = Path(__file__).resolve().parents[2]
TOP_KEYS = ("name", "include", "stages", "needs", "order", "summaries")
STAGE_KEYS = ("name", "template", "params", "grid", "overrides", "exclude", "scales")
SCALE_KEYS = ("params", "grid", "overrides", "exclude")
OVERRIDE_KEYS = ("match", "params")
CELL_PARAMS = ("scale", "run_dir", "out_dir", "quiet")  # set by the sweep in every cell
SUMMARY_PARAMS = ("run_dir", "out_dir", "quiet")  # set by the sweep in every summary


class SweepConfigError(ValueError):
    """A sweep config is malformed (the message says where)."""


@dataclass
class Cell:
    """One run of a template: its stage, the parameters it gets and its folder name."""

    stage: str
    template: Path
    params: dict[str, Any]
    id: str


@dataclass
class Stage:
    """One template notebook and the grid of parameters it runs over."""

    name: str
    template: Path
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    exclude: list[dict[str, Any]] = field(default_factory=list)

    def cells(self, scale: str) -> list[Cell]:
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            point = dict(zip(keys, combo))
            if any(_matches(point, ex) for ex in self.exclude):
                continue
            p = dict(self.params)
            for ov in self.overrides:
                if _matches(point, ov.get("match") or {}):
                    p.update(ov.get("params") or {})
            p.update(point)
            p["scale"] = scale
            out.append(Cell(self.name, self.template, p, cell_id(self.name, p, keys)))
        return out


@dataclass
class SweepConfig:
    """A config read at one scale: its stages (in order), summary notebooks and stage needs.

    ``needs`` maps a stage to the earlier stages it reads from. A stage not in it needs
    every earlier stage (the stages run in order); one in it may start as soon as the
    stages it names have finished, beside others (``sweep`` with local workers).
    ``order`` lists stages in the order a free worker takes their ready cells (the stages
    it leaves out follow, in config order); it changes no dependency.
    """

    name: str
    scale: str
    stages: list[Stage]
    summaries: list[Path]
    path: Path
    needs: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def priority(self) -> list[str]:
        """Every stage name, in the order a free worker takes ready cells."""
        names = [s.name for s in self.stages]
        return [n for n in self.order if n in names] + [n for n in names if n not in self.order]

    def cells(self) -> list[Cell]:
        return [c for s in self.stages for c in s.cells(self.scale)]

    def dependencies(self, stage: str) -> list[str]:
        """The stages ``stage`` waits for: its ``needs``, else every stage before it."""
        names = [s.name for s in self.stages]
        if stage in self.needs:
            return list(self.needs[stage])
        return names[: names.index(stage)]


def _matches(point: dict[str, Any], match: dict[str, Any]) -> bool:
    """A grid point matches when every key of ``match`` has that value (or one of a list)."""
    for k, v in match.items():
        allowed = v if isinstance(v, list) else [v]
        if point.get(k) not in allowed:
            return False
    return True


def cell_id(stage: str, params: dict[str, Any], readable: Iterable[str] = ()) -> str:
    """``<stage>--<readable values>-<hash8>``; the hash covers every parameter."""
    blob = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    values = ("+".join(map(str, params[k])) if isinstance(params[k], list) else str(params[k]) for k in readable)
    slug = "-".join(re.sub(r"[^A-Za-z0-9_.+]+", "_", value) for value in values)[:60]
    return f"{stage}--{slug}-{digest}" if slug else f"{stage}--{digest}"


# --------------------------------------------------------------------------- checks
def _unknown_keys(keys: Iterable[str], valid: Iterable[str], where: str, what: str) -> None:
    valid = list(valid)
    for k in keys:
        if k not in valid:
            raise SweepConfigError(f"{where}: unknown {what} {k!r}{closest(k, valid)}; valid: {', '.join(valid)}")


_PARAM_CACHE: dict[tuple[str, int], list[str]] = {}


def template_parameters(path: str | os.PathLike) -> list[str]:
    """Names of the parameters a notebook declares in its ``parameters`` cell (papermill)."""
    import papermill as pm

    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _PARAM_CACHE:
        _PARAM_CACHE[key] = list(pm.inspect_notebook(str(path)))
    return _PARAM_CACHE[key]


def _check_template(template: Path, needed: Iterable[str], where: str) -> list[str]:
    try:
        names = template_parameters(template)
    except Exception as exc:  # noqa: BLE001 - not a notebook, unreadable JSON, ...
        raise SweepConfigError(f"{where}: cannot read the parameters of {template}: {exc}") from exc
    missing = [p for p in needed if p not in names]
    if missing:
        raise SweepConfigError(f"{where}: {template} declares no parameter(s) {missing} that the sweep sets")
    return names


def _check_stage(st: dict[str, Any], where: str, template: Path) -> None:
    """Every key of a stage at every scale: known to the config format and to the template."""
    _unknown_keys(st, STAGE_KEYS, where, "stage key")
    names = _check_template(template, CELL_PARAMS, where)
    settable = [n for n in names if n not in CELL_PARAMS]
    blocks = [(where, st)]
    scales = st.get("scales") or {}
    if not isinstance(scales, dict):
        raise SweepConfigError(f"{where}: 'scales' must be a mapping of {', '.join(SCALES)}")
    _unknown_keys(scales, SCALES, where, "scale")
    for scale, block in scales.items():
        if not isinstance(block, dict):
            raise SweepConfigError(f"{where}, scale {scale}: expected a mapping of {', '.join(SCALE_KEYS)}")
        _unknown_keys(block, SCALE_KEYS, f"{where}, scale {scale}", "key")
        blocks.append((f"{where}, scale {scale}", block))
    for at, block in blocks:
        for part in ("params", "grid"):
            value = block.get(part) or {}
            if not isinstance(value, dict):
                raise SweepConfigError(f"{at}: {part!r} must be a mapping of template parameters, got {value!r}")
            _unknown_keys(value, settable, f"{at} ({template.name}), {part}", "parameter")
        for ov in block.get("overrides") or []:
            if not isinstance(ov, dict) or not isinstance(ov.get("match"), dict):
                raise SweepConfigError(f"{at}: each override needs a 'match' mapping and 'params', got {ov!r}")
            _unknown_keys(ov, OVERRIDE_KEYS, f"{at}, override", "key")
            _unknown_keys(ov["match"], settable, f"{at} ({template.name}), override match", "parameter")
            _unknown_keys(ov.get("params") or {}, settable, f"{at} ({template.name}), override params", "parameter")
        for ex in block.get("exclude") or []:
            if not isinstance(ex, dict):
                raise SweepConfigError(f"{at}: each exclude entry must be a mapping of grid values, got {ex!r}")
            _unknown_keys(ex, settable, f"{at} ({template.name}), exclude", "parameter")


# --------------------------------------------------------------------------- reading
def _resolve_path(p: str, config_dir: Path) -> Path:
    path = Path(p).expanduser()
    if path.is_absolute():
        return path
    for base in (config_dir, config_dir.parent, Path.cwd(), REPO_ROOT):
        if (base / path).exists():
            return (base / path).resolve()
    raise SweepConfigError(f"{p!r} (named in {config_dir}) was found neither beside the config nor in the project")


def _merge_scale(block: dict[str, Any], scale: str, where: str) -> tuple[dict, dict, list, list]:
    params = dict(block.get("params") or {})
    grid = dict(block.get("grid") or {})
    overrides = list(block.get("overrides") or [])
    exclude = list(block.get("exclude") or [])
    over = (block.get("scales") or {}).get(scale) or {}
    params.update(over.get("params") or {})
    grid.update(over.get("grid") or {})
    if "overrides" in over:
        overrides = list(over["overrides"] or [])
    if "exclude" in over:
        exclude = list(over["exclude"] or [])
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise SweepConfigError(f"{where}: grid entry {k!r} must be a non-empty list, got {v!r}")
    base_clash = set(block.get("params") or {}) & set(block.get("grid") or {})
    if base_clash:
        raise SweepConfigError(f"{where}: {sorted(base_clash)} given both as params and as grid")
    for key in set(params) & set(grid):  # a scale may turn a param into a grid axis, or back
        if key in (over.get("grid") or {}):
            params.pop(key)
        else:
            grid.pop(key)
    return params, grid, overrides, exclude


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SweepConfigError(f"{path}{line}: not valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise SweepConfigError(f"{path}: expected a mapping at the top level")
    _unknown_keys(raw, TOP_KEYS, str(path), "top-level key")
    return raw


def load_config(path: str | os.PathLike, *, scale: str = "quick", _seen: tuple = ()) -> SweepConfig:
    """Read and check a sweep config at one scale (``smoke``, ``quick`` or ``paper``).

    Raises
    ------
    SweepConfigError
        Invalid YAML (with file and line), an unknown key anywhere (with the closest valid
        name), a parameter the stage's template does not declare, a missing template.
    """
    if scale not in SCALES:
        raise SweepConfigError(f"unknown scale {scale!r}{closest(scale, SCALES)}; use one of {', '.join(SCALES)}")
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"sweep config {path} does not exist")
    path = path.resolve()
    if path in _seen:
        raise SweepConfigError(f"{path} includes itself (through {' -> '.join(map(str, _seen))})")
    raw = _read_yaml(path)
    stages: list[Stage] = []
    summaries: list[Path] = []
    needs: dict[str, list[str]] = {}
    for inc in raw.get("include") or []:
        sub = load_config(_resolve_path(inc, path.parent), scale=scale, _seen=_seen + (path,))
        stages += sub.stages
        needs.update(sub.needs)
        summaries += [s for s in sub.summaries if s not in summaries]
    for i, st in enumerate(raw.get("stages") or []):
        where = f"{path.name}: stage {i}"
        if not isinstance(st, dict) or "name" not in st or "template" not in st:
            raise SweepConfigError(f"{where} needs 'name' and 'template'")
        name = str(st["name"])
        where = f"{path.name}: stage {name!r}"
        if "--" in name or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise SweepConfigError(f"{where}: a stage name is letters, digits and _ . + - (no '--')")
        template = _resolve_path(st["template"], path.parent)
        _check_stage(st, where, template)
        params, grid, overrides, exclude = _merge_scale(st, scale, where)
        stages.append(Stage(name, template, params, grid, overrides, exclude))
    for s in raw.get("summaries") or []:
        p = _resolve_path(s, path.parent)
        _check_template(p, SUMMARY_PARAMS, f"{path.name}: summary {p.name}")
        if p not in summaries:
            summaries.append(p)
    names = [s.name for s in stages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepConfigError(f"{path.name}: stage names must be unique; repeated: {dup}")
    needs.update(_check_needs(raw.get("needs"), names, path.name))
    order = _check_order(raw.get("order"), names, path.name)
    return SweepConfig(str(raw.get("name") or path.stem), scale, stages, summaries, path, needs, order)


def _check_order(raw: Any, names: list[str], where: str) -> list[str]:
    """``order: [stage, ...]``: stages of the config, each at most once."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SweepConfigError(f"{where}: 'order' lists stage names (the order free workers take them), got {raw!r}")
    _unknown_keys([str(n) for n in raw], names, f"{where}: order", "stage")
    dup = sorted({str(n) for n in raw if raw.count(n) > 1})
    if dup:
        raise SweepConfigError(f"{where}: order names each stage at most once; repeated: {dup}")
    return [str(n) for n in raw]


def _check_needs(raw: Any, names: list[str], where: str) -> dict[str, list[str]]:
    """``needs: {stage: [earlier stages]}``, each name a stage of the config, each need earlier."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SweepConfigError(f"{where}: 'needs' maps a stage to the earlier stages it reads from, got {raw!r}")
    out = {}
    for stage, deps in raw.items():
        _unknown_keys([stage], names, f"{where}: needs", "stage")
        deps = [deps] if isinstance(deps, str) else deps
        if not isinstance(deps, list):
            raise SweepConfigError(f"{where}: needs of {stage!r} must be a list of stage names, got {deps!r}")
        _unknown_keys(deps, names, f"{where}: needs of {stage!r}", "stage")
        late = [d for d in deps if names.index(d) >= names.index(stage)]
        if late:
            raise SweepConfigError(
                f"{where}: {stage!r} needs {late}, which come(s) at or after it; list stages in the order they run"
            )
        out[str(stage)] = [str(d) for d in deps]
    return out


def check_stages(cfg: SweepConfig, stages: Iterable[str] | None) -> set[str] | None:
    """The stage names asked for, each checked against the config's (None: all)."""
    if stages is None:
        return None
    valid = [s.name for s in cfg.stages]
    wanted = set(stages)
    _unknown_keys(sorted(wanted), valid, str(cfg.path), "stage")
    return wanted
