"""Sourced parameter files: TOML where every figure may carry its source.

A leaf written as ``{ value = 0.35, source = "assumption", unit = "share", note = "..." }``
is a *sourced parameter*: readers see only its value, and the register keeps its name
(dotted path), value, unit and source, so the data team can list every assumption and
override any of them by name (``groups.ouderen.inflow_per_year=6000``).

`Section` wraps a plain table with the file and the key path, so every error says which
file, which key and what was expected, and unknown keys are refused.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import InputError
from engine.core.limits import MAX_MAGNITUDE, finite_number

_SOURCED_KEYS = {"value", "source", "unit", "note", "how", "line"}


@dataclass(frozen=True)
class Param:
    name: str
    value: Any
    source: str
    unit: str = ""
    note: str = ""


MAX_TOML_BYTES = 16 * 2**20


def load_toml(path: Path) -> dict:
    """A TOML file as a dict; any failure (missing, not a file, too big, not UTF-8, not TOML)
    is one InputError naming the file."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except IsADirectoryError:
        raise InputError(str(path), "is a folder", "a TOML file") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_TOML_BYTES:
        raise InputError(
            str(path), "is too big", f"a TOML file of at most {MAX_TOML_BYTES:,} bytes"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            str(path), f"is not UTF-8 text (byte {exc.start})", "a TOML file in UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), f"not valid TOML: {exc}", "a TOML file") from None


def _is_sourced(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node and set(node) <= _SOURCED_KEYS


def unwrap(tree: dict, prefix: str = "") -> tuple[dict, list[Param]]:
    """Replace every sourced leaf by its value; return the plain tree and the register."""
    register: list[Param] = []

    def walk(node: Any, path: str) -> Any:
        if _is_sourced(node):
            register.append(
                Param(
                    name=path,
                    value=node["value"],
                    source=str(node.get("source", "")),
                    unit=str(node.get("unit", "")),
                    note=str(node.get("note", node.get("how", ""))),
                )
            )
            return node["value"]
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in node.items()}
        return node

    return walk(tree, prefix), register


def apply_overrides(tree: dict, overrides: dict[str, Any], where: str) -> dict:
    """Set parameters by dotted name. A sourced leaf keeps its entry and is marked overridden."""
    tree = copy.deepcopy(tree)
    for name, value in overrides.items():
        parts = name.split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise InputError(
                    where,
                    f"unknown parameter {name!r}",
                    f"a key under {'.'.join(parts[:i]) or 'the top level'}",
                )
            node = node[part]
            if _is_sourced(node):
                raise InputError(
                    where,
                    f"unknown parameter {name!r}",
                    f"{'.'.join(parts[: i + 1])} is a single value",
                )
        last = parts[-1]
        if not isinstance(node, dict) or last not in node:
            raise InputError(
                where, f"unknown parameter {name!r}", "a dotted name from the parameter register"
            )
        if _is_sourced(node[last]):
            node[last] = {
                **node[last],
                "value": value,
                "source": f"override (was: {node[last].get('source', '')})",
            }
        else:
            node[last] = value
    return tree


class Section:
    """A table from a parameter file, read key by key with errors that name file and key."""

    def __init__(self, data: dict, file: str, path: str = ""):
        if not isinstance(data, dict):
            raise InputError(file, f"{path or 'top level'} must be a table")
        self.data = data
        self.file = file
        self.path = path
        self._seen: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else k

    def where(self, k: str | None) -> str:
        return f"{self.file}: key {self.key(k) if k else self.path or '(top level)'}"

    def error(self, k: str | None, what: str, expected: str | None = None) -> InputError:
        return InputError(self.where(k), what, expected)

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str, default: Any = ...) -> Any:
        self._seen.add(k)
        if k not in self.data:
            if default is ...:
                raise self.error(k, "missing")
            return default
        return self.data[k]

    def section(self, k: str, default: Any = ...) -> Section:
        value = self.raw(k, {} if default is not ... else default)
        if not isinstance(value, dict):
            raise self.error(k, f"is {type(value).__name__}", "a table")
        return Section(value, self.file, self.key(k))

    def number(
        self,
        k: str,
        default: Any = ...,
        lo: float | None = None,
        hi: float | None = None,
        integer: bool = False,
    ) -> float:
        value = self.raw(k, default)
        if value is None and default is None:
            return None
        return finite_number(value, self.where(k), lo, hi, integer)

    def numbers(
        self, k: str, default: Any = ..., lo: float | None = None, hi: float | None = None
    ) -> list[float]:
        """A non-empty list of finite numbers in [lo, hi]."""
        value = self.raw(k, default)
        if not isinstance(value, list) or not value:
            raise self.error(k, f"{value!r} is not a list of numbers", "a non-empty list")
        return [finite_number(v, self.where(f"{k}[{i}]"), lo, hi) for i, v in enumerate(value)]

    def share(self, k: str, default: Any = ...) -> float:
        return self.number(k, default, lo=0.0, hi=1.0)

    def text(self, k: str, default: Any = ..., choices: list[str] | None = None) -> str:
        value = self.raw(k, default)
        if not isinstance(value, str):
            raise self.error(k, f"{value!r} is not text", "a string")
        if choices is not None and value not in choices:
            raise self.error(k, f"unknown value {value!r}", "one of: " + ", ".join(choices))
        return value

    def boolean(self, k: str, default: Any = ...) -> bool:
        value = self.raw(k, default)
        if not isinstance(value, bool):
            raise self.error(k, f"{value!r} is not true/false", "a boolean")
        return value

    def weights(
        self, k: str, choices: list[str], default: Any = ..., must_sum: bool = False
    ) -> dict[str, float]:
        """A table name -> non-negative weight, names from `choices`."""
        value = self.raw(k, default)
        if not isinstance(value, dict):
            raise self.error(k, f"is {type(value).__name__}", "a table of name = weight")
        out = {}
        for name, w in value.items():
            if name not in choices:
                raise self.error(
                    f"{k}.{name}", f"unknown name {name!r}", "one of: " + ", ".join(choices)
                )
            out[name] = finite_number(w, self.where(f"{k}.{name}"), 0.0, MAX_MAGNITUDE)
        if must_sum and value and abs(sum(out.values()) - 1.0) > 1e-6:
            raise self.error(k, f"shares sum to {sum(out.values()):.6f}", "shares that sum to 1")
        return out

    def done(self) -> None:
        """Refuse keys nobody read: typos must not pass silently."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown key {unknown[0]!r}",
                "one of: " + ", ".join(sorted(self._seen)),
            )
