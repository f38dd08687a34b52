"""Warnings for legal but suspicious input: the run goes ahead, the warning is printed on
stderr (`caseload: warning: ...`, one line naming the file and key) and kept in the manifest
under `warnings`."""

from __future__ import annotations

from engine.core.months import format_month


def rule_warnings(measures: list, start: int, months: int) -> list[str]:
    """A rule whose validity lies wholly outside the horizon can never act."""
    end = start + months - 1
    out = []
    for ms in measures:
        for r in ms.rules:
            where = f"{ms.path}: rule {r.name!r}"
            if r.effective_from > end:
                out.append(
                    f"{where}: effective_from {format_month(r.effective_from)} is after the "
                    f"horizon's last month {format_month(end)}: the rule never acts (expected a "
                    "longer --months or an earlier date)"
                )
            elif r.effective_until is not None and r.effective_until <= start:
                out.append(
                    f"{where}: effective_until {format_month(r.effective_until)} is not after the "
                    f"run's start {format_month(start)}: the rule never acts"
                )
    return out


def run_warnings(measures: list, start: int, months: int, population) -> list[str]:
    return [*rule_warnings(measures, start, months), *population.meta.get("warnings", [])]
