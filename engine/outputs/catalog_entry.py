"""A run folder as the catalog records it: its manifest's fields, its Parquet files and
the view each one joins (`read_folder`, `Entry`, `view_name`). Reads the folder only; the
catalog (engine.outputs.catalog) writes the entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import InputError
from engine.outputs.folder import KINDS, PARTIAL_PREFIX, REQUIRED, manifest_kind, parse_manifest

# a run folder's tables; in other folders a table of the same name is viewed as <kind>_<name>
RUN_TABLES = (
    "clients",
    "arrangements",
    "served",
    "clients_yearly",
    "arrangements_yearly",
    "summary",
    "events",
    "affected",
    "waiting",  # runs with capacity (engine.outputs.waiting)
    "waiting_yearly",
)


# ----------------------------------------------------------------------------- folders
@dataclass
class Entry:
    """What the catalog records about one complete folder."""

    run_id: str
    kind: str
    path: Path
    manifest: dict
    files: list[tuple[str, str, Path, int, int, str]]  # name, view, path, rows, bytes, columns
    measures: list[dict]

    def row(self) -> dict:
        m = self.manifest
        if self.kind == "run":
            sc = m.get("scenario", {})
            seeds = [m.get("seeds", {}).get("simulation")]
            head = dict(
                name=sc.get("name"),
                profile=sc.get("profile"),
                policy=sc.get("policy"),
                start=sc.get("start"),
                months=sc.get("months"),
                population_seed=m.get("seeds", {}).get("population"),
                population_hash=m.get("hashes", {}).get("population"),
                description=sc.get("description"),
            )
        elif self.kind == "comparison":
            b, me = m.get("baseline", {}), m.get("measure", {})
            sb, sm = b.get("scenario", {}), me.get("scenario", {})
            seeds = [m.get("seeds", {}).get("simulation")]
            head = dict(
                name=f"{sm.get('name')} vs {sb.get('name')}",
                profile=sb.get("profile"),
                policy=sb.get("policy"),
                start=sb.get("start"),
                months=sb.get("months"),
                population_seed=m.get("seeds", {}).get("population"),
                population_hash=m.get("population"),
                description=f"baseline {b.get('run_id')} versus {me.get('run_id')}",
            )
        elif self.kind == "decomposition":  # `caseload explain`: the two periods it splits
            a, b = m.get("from", {}), m.get("to", {})
            seeds = [m.get("seeds", {}).get("simulation")]
            span = (
                f"{a.get('year')} -> {b.get('year')}"
                if m.get("mode") == "years"
                else ", ".join(str(y) for y in a.get("years", []))
            )
            head = dict(
                name=f"explain {a.get('run_id')}"
                + ("" if m.get("mode") == "years" else f" vs {b.get('run_id')}"),
                profile=m.get("profile"),
                policy=m.get("policy"),
                start=m.get("start"),
                months=m.get("months"),
                population_seed=m.get("seeds", {}).get("population"),
                population_hash=m.get("population"),
                description=f"volume, mix and price of the net cost change, {span}",
            )
        else:
            ex = m.get("experiment", {})
            seeds = list(ex.get("seeds") or [])
            head = dict(
                name=ex.get("name"),
                profile=ex.get("profile"),
                policy=ex.get("policy"),
                start=ex.get("start"),
                months=ex.get("months"),
                population_seed=ex.get("population_seed"),
                population_hash=m.get("hashes", {}).get("population"),
                description=ex.get("description"),
            )
        return dict(
            run_id=self.run_id,
            kind=self.kind,
            path=str(self.path),
            created=m.get("created"),
            caseload_version=m.get("caseload_version"),
            seeds=json.dumps(seeds),
            measures=",".join(x.get("name", "") for x in self.measures),
            n_measures=len(self.measures),
            manifest=json.dumps(m, sort_keys=True, default=str),
            **head,
        )


def view_name(kind: str, stem: str) -> str:
    return f"{kind}_{stem}" if kind != "run" and stem in RUN_TABLES else stem


def column_digest(schema) -> str:
    """A file's columns, names and types in order, as a short digest: a view over files that
    share one digest takes the first file's columns for all, and binding it reads one footer
    (engine.outputs.catalog._refresh_views)."""
    text = json.dumps([[name, str(dtype)] for name, dtype in schema.items()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_folder(folder: Path) -> Entry:
    """Check that `folder` is a complete output folder and read what the catalog keeps. Row
    counts come from each file's footer through Polars, which a run has loaded already
    (importing PyArrow's Parquet module for them cost a registering run 0.03-0.06 s and
    34 MiB of peak memory)."""
    import polars as pl

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            str(folder), "no such folder", "a run, comparison, experiment or sensitivity folder"
        )
    if folder.name.startswith(PARTIAL_PREFIX) or folder.name.startswith("."):
        raise InputError(
            str(folder),
            "an unfinished folder (a run that did not complete)",
            "a complete folder; unfinished ones are never registered",
        )
    path = folder / "manifest.json"
    if not path.exists():
        raise InputError(str(folder), "not a complete output folder: manifest.json is missing")
    manifest = parse_manifest(path)
    kind = manifest_kind(manifest)
    if kind not in KINDS:
        raise InputError(str(path), f"unknown kind {kind!r}", "one of: " + ", ".join(KINDS))
    for name in REQUIRED[kind]:
        if not (folder / f"{name}.parquet").exists():
            raise InputError(
                str(folder),
                f"the {kind} folder is missing {name}.parquet",
                "a complete folder as `caseload` writes it",
            )
    files = []
    resolved = folder.resolve()
    for p in sorted(resolved.glob("*.parquet")):
        try:
            frame = pl.scan_parquet(p, glob=False)
            rows = int(frame.select(pl.len()).collect().item())
            columns = column_digest(frame.collect_schema())
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's problem to see
            raise InputError(str(p), f"not a readable Parquet file: {exc}") from None
        files.append((p.stem, view_name(kind, p.stem), p, rows, p.stat().st_size, columns))
    if kind == "run":
        measures = manifest.get("scenario", {}).get("measures", [])
    elif kind == "comparison":
        measures = manifest.get("measure", {}).get("scenario", {}).get("measures", [])
    else:
        measures = manifest.get("measures", [])
    measures = [m if isinstance(m, dict) else {"name": str(m)} for m in measures]
    return Entry(folder.name, kind, resolved, manifest, files, measures)
