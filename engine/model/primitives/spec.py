"""What a rule primitive declares: its moments and its parameters by name (type, unit,
range, default), and how they are read from a rule file and packed for the kernel.

A primitive module holds `SPEC = Primitive(...)`, its kernel action `act` and its
`would_act` predicate side by side; the registry (`engine.model.primitives`) lists the
modules. Rule files are validated against `SPEC.params` here (`read_params`), so every
primitive's parameters get the same checks and the same one-line errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.core.domain import FLAGS, FREQUENCIES, HO_TASKS

REQUIRED = ...
VOCABULARIES = {"ho_tasks": HO_TASKS, "flags": FLAGS, "frequencies": FREQUENCIES}


@dataclass(frozen=True)
class Param:
    """One named parameter of a primitive.

    kind: "number" (lo/hi inclusive; integer=True for whole numbers), "share" (0..1),
    "bool", "choice" (one of `choices`), "names" (a list from `choices`), "table" (checked by
    the primitive's own `check`). `choices` may name a vocabulary: "ho_tasks", "flags",
    "frequencies"."""

    name: str
    kind: str
    doc: str
    unit: str = ""
    default: Any = REQUIRED
    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    choices: tuple[str, ...] | str | None = None

    def vocabulary(self) -> list[str]:
        return (
            list(VOCABULARIES[self.choices])
            if isinstance(self.choices, str)
            else list(self.choices or ())
        )

    def describe(self) -> str:
        """One line for --help and the rules README."""
        if self.kind == "number":
            lo = self.lo if self.lo is not None else "-inf"
            hi = self.hi if self.hi is not None else "inf"
            rng = f"[{lo}, {hi}]"
            what = ("whole number " if self.integer else "number ") + rng
        elif self.kind == "share":
            what = "share [0, 1]"
        elif self.kind in ("choice", "names"):
            what = ("one of " if self.kind == "choice" else "list of ") + ", ".join(
                self.vocabulary()
            )
        else:
            what = self.kind
        unit = f" {self.unit}" if self.unit else ""
        default = "" if self.default is REQUIRED else f" (default {self.default!r})"
        return f"{self.name}: {what}{unit}{default}: {self.doc}"


@dataclass
class RuleContext:
    """What a primitive's `check` and `pack` may look at: the policy, the products in the
    rule's scope, its first month, and the profile's group codes."""

    policy: Any
    products: list[str]
    effective_from: int
    group_codes: list[str] = field(default_factory=list)

    @property
    def ho_products(self) -> list[str]:
        return [p for p in self.products if self.policy.product(p).ho_minutes]


@dataclass(frozen=True)
class Packed:
    """A rule's parameters as the kernel reads them: float and integer slots (named by the
    primitive's constants) and a target step per product in scope."""

    f: dict[int, float] = field(default_factory=dict)
    i: dict[int, int] = field(default_factory=dict)
    step_to: dict[str, int] = field(default_factory=dict)
    prod_to: dict[str, int] = field(default_factory=dict)  # product code -> target product index


@dataclass(frozen=True)
class Primitive:
    name: str
    doc: str
    moments: tuple[str, ...]
    params: tuple[Param, ...]
    pack: Callable[[dict, RuleContext], Packed]
    check: Callable[[dict, RuleContext, Any], None] | None = (
        None  # cross-field checks; raises via the section
    )
    needs_ho: bool = False  # a household-help product must be in scope
    leaves: bool = True  # may a share of clients leave to the Wlz (exceptions.leaves_share)?

    def read_params(self, sec, ctx: RuleContext) -> dict:
        """Read and check the `params` table of a rule (`sec`: an engine.core.sourced.Section)."""
        if self.needs_ho and not ctx.ho_products:
            raise sec.error(None, f"{self.name} needs a household-help product in scope")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "number":
                out[p.name] = sec.number(p.name, p.default, lo=p.lo, hi=p.hi, integer=p.integer)
            elif p.kind == "share":
                out[p.name] = sec.share(p.name, p.default)
            elif p.kind == "bool":
                out[p.name] = sec.boolean(p.name, p.default)
            elif p.kind == "choice":
                out[p.name] = sec.text(p.name, p.default, choices=p.vocabulary())
            elif p.kind == "names":
                value = sec.raw(p.name, p.default)
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
                    raise sec.error(p.name, f"{value!r}", "a list of names")
                bad = [v for v in value if v not in p.vocabulary()]
                if bad:
                    raise sec.error(
                        p.name, f"unknown name {bad[0]!r}", "one of: " + ", ".join(p.vocabulary())
                    )
                out[p.name] = value
            elif p.kind == "table":
                value = sec.raw(p.name, p.default)
                if not isinstance(value, dict):
                    raise sec.error(p.name, f"{value!r}", "a table")
                out[p.name] = dict(value)
            else:  # a registry entry with a kind nobody reads is a bug, not bad input
                raise ValueError(
                    f"primitive {self.name}: parameter {p.name} has unknown kind {p.kind!r}"
                )
        if self.check is not None:
            self.check(out, ctx, sec)
        sec.done()
        return out
