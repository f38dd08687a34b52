"""The output-folder contract, in one place: a folder (run, comparison, experiment,
sensitivity) is written to a temporary name and renamed when complete, so nothing
half-written is ever left under its final name; its kind, the files a complete folder of
each kind holds, its manifest, and opening one by path or id with one clear error for a
missing folder or file. Folders are the source of truth; the catalog only indexes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from engine.core.errors import InputError
from engine.core.limits import check_name
from engine.outputs.catalog_file import catalog_path, reading

PARTIAL_PREFIX = ".partial-"

KINDS = ("run", "comparison", "experiment", "sensitivity", "decomposition")

# The files a complete folder of each kind must hold (beside manifest.json). A run with
# capacity on also holds `waiting` and `waiting_yearly` (engine.outputs.waiting); the
# manifest's `capacity` says which run should (null: capacity off).
REQUIRED = {
    "run": ("clients", "arrangements", "arrangements_yearly", "summary"),
    "comparison": ("comparison", "comparison_yearly"),
    "experiment": ("savings", "savings_by_seed", "baseline_yearly"),
    "sensitivity": ("sensitivity",),
    "decomposition": ("decomposition",),
}


def manifest_kind(manifest: dict) -> str:
    """A manifest's kind; run manifests have no `kind` key."""
    return manifest.get("kind", "run")


def folder_path(out_dir: Path | str, name: str, what: str = "--run-id") -> Path:
    """The one place an output folder's path is made: `name` must be a plain folder name
    (`engine.core.limits.check_name`), `out_dir` a folder (or not there yet) this process can
    write to, and `out_dir/name` must not exist. Commands call it before any long work, and
    `atomic_folder` again when it writes."""
    check_name(name, what, "a folder name")
    out = check_out_dir(out_dir)
    final = out / name
    if final.exists() or final.is_symlink():
        raise InputError(
            str(final),
            "a run folder with this id exists already",
            "another --run-id, or remove the folder",
        )
    return final


def check_out_dir(out_dir: Path | str) -> Path:
    """`--out`: a folder, or one that can be made, that this process can write to."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}", "is a file", "a folder for output folders")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"--out {out}", f"{existing} is a file", "a folder for output folders")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}", f"{existing} is not writable", "a writable folder")
    return out


def check_out_file(path: Path | str, option: str, suffixes: tuple[str, ...]) -> Path:
    """An output file (`--out FILE.html`, `--xlsx`, a population or extract file): the right
    suffix, a plain file name, not an existing folder, in a folder that can be written."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(option, f"{str(p)!r}", "a file name ending in " + " or ".join(suffixes))
    check_name(p.name, option, "a file name")
    if p.is_dir():
        raise InputError(option, f"{p} is a folder", "a file name")
    check_out_dir(p.parent if str(p.parent) else Path("."))
    return p


@contextlib.contextmanager
def atomic_folder(out_dir: Path | str, name: str, what: str = "--run-id"):
    """Yield a temporary folder beside `out_dir/name`; rename it to that on success."""
    final = folder_path(out_dir, name, what)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{PARTIAL_PREFIX}{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)


def write_json(obj, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")


# What every manifest of a kind holds (key -> type), checked when a folder is opened, so a
# hand-edited or foreign manifest is one clear error, never a KeyError deep in a command.
MANIFEST_KEYS = {
    "run": {"scenario": dict, "seeds": dict, "hashes": dict},
    "comparison": {"baseline": dict, "measure": dict},
    "experiment": {"experiment": dict},
    "sensitivity": {"experiment": dict},
    "decomposition": {},
}
RUN_SCENARIO_KEYS = ("name", "profile", "start", "months")
MAX_MANIFEST_BYTES = 64 * 2**20


def parse_manifest(path: Path) -> dict:
    """manifest.json as a dict with the keys its kind needs; anything else one InputError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise InputError(str(path), "is too big", "a manifest.json as `caseload` writes it")
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(str(path), f"not valid JSON: {str(exc)[:120]}") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if not isinstance(manifest, dict):
        raise InputError(
            str(path), f"is a JSON {type(manifest).__name__}", "a JSON object (a manifest)"
        )
    kind = manifest.get("kind", "run")
    if kind not in MANIFEST_KEYS:
        raise InputError(str(path), f"unknown kind {kind!r}", "one of " + ", ".join(KINDS))
    for key, typ in MANIFEST_KEYS[kind].items():
        if not isinstance(manifest.get(key), typ):
            raise InputError(
                str(path), f"key {key!r} is missing or not a {typ.__name__}", f"a {kind} manifest"
            )
    if kind == "run":
        for key in RUN_SCENARIO_KEYS:
            if key not in manifest["scenario"]:
                raise InputError(str(path), f"key 'scenario.{key}' is missing", "a run manifest")
    return manifest


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        raise InputError(str(run_dir), "not a complete run folder: manifest.json is missing")
    return parse_manifest(path)


@dataclass
class Folder:
    path: Path
    kind: str
    manifest: dict
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def run_id(self) -> str:
        return self.path.name

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.parquet").exists()

    def table(self, name: str) -> pl.DataFrame:
        if name not in self._cache:
            p = self.path / f"{name}.parquet"
            if not p.exists():
                raise InputError(
                    str(self.path),
                    f"the {self.kind} folder is missing {name}.parquet",
                    f"a complete {self.kind} folder as `caseload` writes it",
                )
            try:
                self._cache[name] = pl.read_parquet(p)
            except Exception as exc:  # noqa: BLE001
                raise InputError(
                    str(p), f"not a readable Parquet file: {str(exc).splitlines()[0]}"
                ) from None
        return self._cache[name]

    def title(self) -> str:
        m = self.manifest
        if self.kind == "run":
            return m.get("scenario", {}).get("name") or self.run_id
        if self.kind == "comparison":
            return (
                f"{m['measure']['scenario'].get('name')} versus "
                f"{m['baseline']['scenario'].get('name')}"
            )
        return m.get("experiment", {}).get("name") or self.run_id


def _lookup_catalog(ref: str, out_dir: Path, catalog: Path | None) -> Path | None:
    cat = catalog_path(catalog=catalog, out_dir=out_dir)
    if cat is None or not cat.exists():
        return None
    try:
        with reading(cat) as con:
            row = con.execute("SELECT path FROM runs WHERE run_id = ?", [ref]).fetchone()
    except Exception:  # noqa: BLE001 - the catalog is a convenience here; folders decide
        return None
    return Path(row[0]) if row else None


def resolve(ref: str, out_dir: Path = Path("runs/out"), catalog: Path | None = None) -> Path:
    """A folder path, a folder name under `out_dir`, or a run id the catalog knows."""
    p = Path(ref)
    if p.is_dir():
        return p
    candidate = Path(out_dir) / ref
    if candidate.is_dir():
        return candidate
    found = _lookup_catalog(ref, out_dir, catalog)
    if found is not None and found.is_dir():
        return found
    raise InputError(
        ref,
        "unknown run id or folder",
        f"a folder, or a run id under {out_dir} (see `caseload runs list`)",
    )


def open_folder(
    ref: str,
    out_dir: Path = Path("runs/out"),
    catalog: Path | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> Folder:
    path = resolve(ref, out_dir, catalog)
    if path.name.startswith(PARTIAL_PREFIX):
        raise InputError(
            str(path), "an unfinished folder (a run that did not complete)", "a complete folder"
        )
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise InputError(str(path), "not a complete output folder: manifest.json is missing")
    manifest = parse_manifest(mpath)
    kind = manifest_kind(manifest)
    if kind not in kinds:
        raise InputError(str(path), f"a {kind} folder", "a folder of kind " + " or ".join(kinds))
    for name in REQUIRED.get(kind, ()):
        if not (path / f"{name}.parquet").exists():
            raise InputError(
                str(path),
                f"the {kind} folder is missing {name}.parquet",
                f"a complete {kind} folder as `caseload` writes it",
            )
    return Folder(path, kind, manifest)
