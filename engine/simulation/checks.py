"""Warnings for legal but suspicious input: the run goes ahead, the warning is printed on
stderr (`caseload: warning: ...`, one line naming the file and key) and kept in the manifest
under `warnings`."""

from __future__ import annotations

from engine.core.months import format_month, year_of


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


FAR_YEARS = 10  # a start this many years from the profile's stock month is extrapolation


def horizon_warnings(profile, policy, start: int, months: int) -> list[str]:
    """A horizon far from the profile's stock month, or past the policy's price index."""
    out = []
    if abs(start - profile.start) > FAR_YEARS * 12:
        out.append(
            f"--start {format_month(start)} is more than {FAR_YEARS} years from the profile's "
            f"stock month {format_month(profile.start)} ({profile.path}): stock, inflow growth "
            "and ages are extrapolated (expected a start near the profile's month)"
        )
    years = sorted(policy.price_index)
    first, last = year_of(start), year_of(start + months - 1)
    if first < years[0] or last > years[-1]:
        out.append(
            f"{policy.path}: key prices.index covers {years[0]}-{years[-1]}, the run "
            f"{first}-{last}: the nearest year's index is used outside it (expected an index "
            "for every budget year of the run)"
        )
    return out


def run_warnings(
    measures: list, start: int, months: int, population, profile=None, policy=None
) -> list[str]:
    out = [*rule_warnings(measures, start, months), *population.meta.get("warnings", [])]
    if profile is not None and policy is not None:
        out += horizon_warnings(profile, policy, start, months)
    return out
