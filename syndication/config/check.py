"""``config check``: every problem of a config folder at once, each with file, line and path.

:func:`load_config` stops at the first file that fails; this reads every file, validates each
section (and each channel) on its own so one mistake does not hide the next, and finds the
line of each problem in the YAML's node tree (PyYAML's ``compose`` keeps the marks that
``safe_load`` drops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from syndication.config import Config
from syndication.config.channels import (
    ChannelConfig,
    RoutingConfig,
    primary_language,
)

__all__ = ["ConfigReport", "Problem", "check_config", "line_of"]

# Every section of Config but ``channels`` (checked channel by channel): a section added to
# Config is checked here too.
_SECTIONS: dict[str, type[BaseModel]] = {
    name: annotation
    for name, info in Config.model_fields.items()
    if name != "channels"
    and isinstance(annotation := info.annotation, type)
    and issubclass(annotation, BaseModel)
}
# Pydantic's names for union branches and validators: not fields, left out of paths.
_INTERNAL = ("function-", "lax-", "strict-", "is-instance[")
_SCALARS = frozenset({"str", "int", "float", "none", "bool"})


@dataclass(frozen=True, order=True)
class Problem:
    """One problem: ``config/channels.yaml:14: channels[2].schedule.timezone: unknown ...``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class ConfigReport:
    """The config when valid, every problem found (by file and line), and every channel that
    is valid on its own (its template can be tried even when other parts are wrong)."""

    config: Config | None
    problems: tuple[Problem, ...]
    channels: tuple[ChannelConfig, ...]
    # Channel name -> (file, line of its template or of the channel, index in the list).
    templates: dict[str, tuple[str, int | None, int]] = field(default_factory=dict)

    def template_problem(self, channel: str, message: str) -> Problem:
        """A problem found when trying ``channel``'s template, at the template's line."""
        file, line, index = self.templates.get(channel, ("", None, 0))
        return Problem(file, line, f"channels[{index}].template", message)


def _clean(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    return tuple(
        p for p in loc if isinstance(p, int) or not (p.startswith(_INTERNAL) or p in _SCALARS)
    )


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the deepest node ``loc`` reaches in a composed YAML tree."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line = key.start_mark.line + 1
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required"
    message = str(err["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "expected")


@dataclass
class _Section:
    value: Any
    file: Path
    node: yaml.Node | None


def _read(files: Sequence[Path], problems: list[Problem]) -> dict[str, _Section]:
    sections: dict[str, _Section] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(file), None, "", f"cannot read: {exc}"))
            continue
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(p for p in (exc.context, exc.problem) if p)
            problems.append(
                Problem(str(file), mark.line + 1 if mark else None, "", f"not valid YAML: {what}")
            )
            continue
        except yaml.YAMLError as exc:
            problems.append(Problem(str(file), None, "", f"not valid YAML: {exc}"))
            continue
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
            problems.append(Problem(str(file), 1, "", "expected a mapping of sections at the top"))
            continue
        for key, value in root.value:
            name = key.value
            if name in sections:
                other = sections[name].file
                problems.append(
                    Problem(
                        str(file),
                        key.start_mark.line + 1,
                        str(name),
                        f"already defined in {other}",
                    )
                )
                continue
            sections[name] = _Section(data.get(name), file, value)
    return sections


def _validate(
    model: type[BaseModel], section: _Section, loc: tuple[int | str, ...], problems: list[Problem]
) -> BaseModel | None:
    try:
        return model.model_validate(section.value)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            inner = _clean(tuple(err["loc"]))
            where = (*loc, *inner)
            line = line_of(section.node, inner)
            problem = Problem(str(section.file), line, _dotted(where), _message(err))
            if problem not in problems:
                problems.append(problem)
        return None


def _references(
    channels: dict[int, ChannelConfig],
    raw_names: dict[str, int],
    routing: RoutingConfig | None,
    sections: dict[str, _Section],
    problems: list[Problem],
) -> None:
    section = sections.get("channels")
    seen: dict[str, int] = {}
    if section is not None and isinstance(section.value, list):
        for i, item in enumerate(section.value):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in seen:
                problems.append(
                    Problem(
                        str(section.file),
                        line_of(section.node, (i, "name")),
                        f"channels[{i}].name",
                        f"duplicate channel name {name!r} (also channels[{seen[name]}])",
                    )
                )
            elif isinstance(name, str):
                seen[name] = i
    route_section = sections.get("routing")
    if routing is None or route_section is None:
        return
    by_name = {c.name: c for c in channels.values()}
    for r, route in enumerate(routing.routes):
        for c, name in enumerate(route.channels):
            loc = ("routes", r, "channels", c)
            problem = None
            if name not in raw_names:
                problem = f"unknown channel {name!r}"
            elif name in by_name and route.match.languages:
                language = by_name[name].language
                if not any(
                    primary_language(p) == primary_language(language) for p in route.match.languages
                ):
                    problem = (
                        f"channel {name!r} posts in {language}, which this route's languages "
                        f"({', '.join(route.match.languages)}) never match"
                    )
            if problem:
                problems.append(
                    Problem(
                        str(route_section.file),
                        line_of(route_section.node, loc),
                        _dotted(("routing", *loc)),
                        problem,
                    )
                )


def check_config(path: Path) -> ConfigReport:
    """Validate the config folder (or file) at ``path``: every problem, sorted by file and
    line, and the config when there is none."""
    if not path.exists():
        return ConfigReport(None, (Problem(str(path), None, "", "no such folder"),), ())
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            problem = Problem(str(path), None, "", "no *.yaml files in this folder")
            return ConfigReport(None, (problem,), ())
    else:
        files = [path]
    problems: list[Problem] = []
    sections = _read(files, problems)
    for name, section in sections.items():
        if name not in (*_SECTIONS, "channels"):
            line = section.node.start_mark.line + 1 if section.node else None
            problems.append(
                Problem(
                    str(section.file),
                    line,
                    name,
                    f"unknown section (expected {', '.join(sorted(Config.model_fields))})",
                )
            )
    models: dict[str, BaseModel | None] = {}
    for name, model in _SECTIONS.items():
        if name in sections:
            models[name] = _validate(model, sections[name], (name,), problems)
    channels: dict[int, ChannelConfig] = {}
    raw_names: dict[str, int] = {}
    templates: dict[str, tuple[str, int | None, int]] = {}
    listed = sections.get("channels")
    if listed is not None and listed.value is not None:
        if not isinstance(listed.value, list):
            line = line_of(listed.node, ())
            problems.append(Problem(str(listed.file), line, "channels", "expected a list"))
        else:
            for i, item in enumerate(listed.value):
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    raw_names.setdefault(item["name"], i)
                piece = _Section(item, listed.file, _child(listed.node, i))
                channel = _validate(ChannelConfig, piece, ("channels", i), problems)
                if isinstance(channel, ChannelConfig):
                    channels[i] = channel
                    node = piece.node
                    line = line_of(node, ("template",)) if node is not None else None
                    templates[channel.name] = (str(listed.file), line, i)
    routing = models.get("routing")
    _references(
        channels,
        raw_names,
        routing if isinstance(routing, RoutingConfig) else None,
        sections,
        problems,
    )
    valid = tuple(channels[i] for i in sorted(channels))
    if problems:
        ordered = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))
        return ConfigReport(None, tuple(ordered), valid, templates)
    merged = {name: section.value for name, section in sections.items()}
    try:
        return ConfigReport(Config.model_validate(merged), (), valid, templates)
    except ValidationError as exc:  # a rule only the whole config can see
        found = tuple(Problem(str(path), None, "", _message(e)) for e in exc.errors())
        return ConfigReport(None, found, valid, templates)


def _child(node: yaml.Node | None, index: int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and 0 <= index < len(node.value):
        child: yaml.Node = node.value[index]
        return child
    return None
