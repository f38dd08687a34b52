"""The extract's columns: the registry (`EXTRACT_COLUMNS`: name, type, level, whether it is
required, what it means, what is expected), the vocabularies a text value is parsed with
(units, periods, frequencies, true/false in English and Dutch) and the uint64 keys of id
texts. Everything that says what a file may hold, and nothing that reads one."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from engine.core.domain import FLAGS, HO_TASKS, SETTINGS


# ------------------------------------------------------------------------------ schema
@dataclass(frozen=True)
class ExtractColumn:
    name: str
    kind: str  # id | month | integer | number | boolean | code
    level: str  # client | arrangement
    required: bool
    meaning: str
    expected: str


_MONTH_EXPECTED = "a month YYYY-MM (a date YYYY-MM-DD or DD-MM-YYYY is read as its month)"
_BOOL_EXPECTED = "true/false (also 1/0, yes/no, ja/nee); empty = false"

EXTRACT_COLUMNS: list[ExtractColumn] = [
    ExtractColumn(
        "client_id",
        "id",
        "client",
        True,
        "the case system's client number or code",
        "a non-empty id",
    ),
    ExtractColumn("birth_month", "month", "client", True, "month of birth", _MONTH_EXPECTED),
    ExtractColumn(
        "household", "integer", "client", True, "household size (persons)", "a whole number 1..20"
    ),
    ExtractColumn(
        "client_group",
        "code",
        "client",
        True,
        "client group at the extract month (youth: any youth group; the engine counts youth by age "
        "band)",
        "a group code of the profile",
    ),
    ExtractColumn(
        "wmo_group_at_18",
        "code",
        "client",
        False,
        "youth clients: the Wmo group after a hand-over at 18 (empty: drawn from the profile's "
        "youth.handover_groups)",
        "a Wmo group code of the profile",
    ),
    ExtractColumn(
        "district",
        "integer",
        "client",
        False,
        "district number (empty = 0, unknown)",
        "a whole number 0..255",
    ),
    *[
        ExtractColumn(f, "boolean", "client", False, f"flag read by rules: {f}", _BOOL_EXPECTED)
        for f in FLAGS
    ],
    ExtractColumn(
        "extract_month",
        "month",
        "client",
        False,
        "the month the extract describes (peildatum); the run starts here. One value for the whole "
        "file",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "arrangement_id",
        "id",
        "arrangement",
        False,
        "the case system's indication or allocation number (empty column: hash of client and "
        "product)",
        "a non-empty id, unique in the file",
    ),
    ExtractColumn(
        "product",
        "code",
        "arrangement",
        True,
        "product code of the policy library",
        "a product code of the policy",
    ),
    ExtractColumn(
        "step",
        "code",
        "arrangement",
        True,
        "step (intensity) code of the product",
        "a step code of the product",
    ),
    ExtractColumn(
        "indication_start",
        "month",
        "arrangement",
        True,
        "first month of the current indication",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "indication_end",
        "month",
        "arrangement",
        True,
        "last month the current indication covers (its end date's month); the engine reindicates "
        "the month after",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "support_since",
        "month",
        "arrangement",
        False,
        "first month of continuous support with this product (empty = indication_start)",
        _MONTH_EXPECTED,
    ),
    ExtractColumn(
        "indication_no",
        "integer",
        "arrangement",
        False,
        "number of the current indication, 1 = first (empty: derived from support_since and the "
        "product's indication length)",
        "a whole number >= 1",
    ),
    ExtractColumn(
        "weekly_amount_eur",
        "number",
        "arrangement",
        False,
        "weekly amount in euros of the extract year (either this, or units with unit, period and "
        "unit price)",
        "a number >= 0",
    ),
    ExtractColumn(
        "units",
        "number",
        "arrangement",
        False,
        "volume of the indication per period (iWmo/iJw 'volume')",
        "a number >= 0",
    ),
    ExtractColumn(
        "unit",
        "code",
        "arrangement",
        False,
        "unit of the volume (iWmo/iJw 'eenheid')",
        "minute, hour, day_part, day, etmaal, piece or euro",
    ),
    ExtractColumn(
        "period",
        "code",
        "arrangement",
        False,
        "period the volume is per (iWmo/iJw 'frequentie')",
        "day, week, four_weeks, month, year or indication (total within the indication)",
    ),
    ExtractColumn(
        "unit_price_eur",
        "number",
        "arrangement",
        False,
        "price per unit in euros of the extract year (empty for unit euro)",
        "a number >= 0",
    ),
    ExtractColumn(
        "setting",
        "code",
        "arrangement",
        False,
        "extramural, semimural or intramural (checked against the product)",
        "one of: " + ", ".join(SETTINGS),
    ),
    ExtractColumn(
        "funding", "code", "arrangement", True, "zorg in natura or personal budget", "zin or pgb"
    ),
    ExtractColumn(
        "subcontracted",
        "boolean",
        "arrangement",
        False,
        "the provider subcontracts",
        _BOOL_EXPECTED,
    ),
    *[
        ExtractColumn(
            f"{t}_w",
            "integer",
            "arrangement",
            False,
            "household help: minutes per week (per two weeks when biweekly) for "
            f"{t.replace('_', ' ')}, where known",
            "a whole number >= 0",
        )
        for t in HO_TASKS
    ],
    ExtractColumn(
        "frequency",
        "code",
        "arrangement",
        False,
        "household help: weekly or biweekly (empty = weekly)",
        "weekly or biweekly",
    ),
]
COLUMNS_BY_NAME = {c.name: c for c in EXTRACT_COLUMNS}
CLIENT_COLUMNS = [c.name for c in EXTRACT_COLUMNS if c.level == "client"]

UNITS = {
    "minute": "minute",
    "minuut": "minute",
    "minuten": "minute",
    "hour": "hour",
    "uur": "hour",
    "day_part": "day_part",
    "dagdeel": "day_part",
    "day": "day",
    "dag": "day",
    "etmaal": "etmaal",
    "piece": "piece",
    "stuk": "piece",
    "stuks": "piece",
    "euro": "euro",
}
PERIODS = {
    "day": "day",
    "dag": "day",
    "week": "week",
    "four_weeks": "four_weeks",
    "4_weeks": "four_weeks",
    "vier_weken": "four_weeks",
    "month": "month",
    "maand": "month",
    "year": "year",
    "jaar": "year",
    "indication": "indication",
    "total": "indication",
    "totaal": "indication",
}
PER_WEEK = {
    "day": 7.0,
    "week": 1.0,
    "four_weeks": 0.25,
    "month": 7.0 * 12 / 365.25,
    "year": 7.0 / 365.25,
}
FREQUENCY_CODES = {
    "weekly": "weekly",
    "wekelijks": "weekly",
    "biweekly": "biweekly",
    "tweewekelijks": "biweekly",
}
TRUE_TEXTS = {"true", "1", "yes", "y", "ja", "j", "t", "waar"}
FALSE_TEXTS = {"false", "0", "no", "n", "nee", "f", "onwaar"}

_NUMERIC_ID = re.compile(r"^[1-9][0-9]{0,18}$")


# ------------------------------------------------------------------------------ ids
def hash_id(text: str, namespace: str) -> int:
    """A string id as a uint64 with the top bit set (numeric ids stay below 2^63)."""
    digest = hashlib.blake2b(f"caseload:{namespace}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") | (1 << 63)


def id_keys(
    texts: list[str], namespace: str, hasher=None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """uint64 keys for distinct id texts: numeric ids kept, others hashed. Returns the keys
    and the pairs of different texts that collide."""
    hasher = hasher or hash_id
    keys, seen, collisions = {}, {}, []
    for t in texts:
        if t in keys:
            continue
        k = int(t) if _NUMERIC_ID.match(t) and int(t) < (1 << 63) else hasher(t, namespace)
        if k in seen and seen[k] != t:
            collisions.append((seen[k], t))
        seen.setdefault(k, t)
        keys[t] = k
    return keys, collisions
