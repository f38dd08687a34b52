"""A population cache entry's Arrow IPC files, read memory mapped: the whole frames when a
population's frames are first used (`EntryFrames`), or a column at a time for the state
builder (`columnwise`), each column in a mapping of its own that goes when the caller lets go
of it: the state's records and the builder's arrays are never beside the whole frames (a
first run's peak memory). PyArrow is imported only when a file is read: a run that finds the
population's state never reads its frames."""

from __future__ import annotations

import mmap
import os
import threading
from pathlib import Path

import polars as pl

from synthetic_population.generator import Population

FRAMES = ("clients", "arrangements")  # a population's frames, in the entry's order


IPC_MAGIC = b"ARROW1"


def open_ipc(path: Path):
    """An Arrow IPC file opened for reading, checked to begin and end as one does."""
    fh = open(path, "rb")  # noqa: SIM115 - kept open until the frame is mapped
    try:
        head = fh.read(len(IPC_MAGIC))
        fh.seek(-len(IPC_MAGIC), os.SEEK_END)
        if head != IPC_MAGIC or fh.read(len(IPC_MAGIC)) != IPC_MAGIC:
            raise ValueError(f"{path}: not a whole Arrow IPC file")
    except BaseException:
        fh.close()
        raise
    return fh


def open_ipcs(*paths: Path) -> list:
    """`open_ipc` of each path; none left open if one fails."""
    files = []
    try:
        for path in paths:
            files.append(open_ipc(path))
    except BaseException:
        for f in files:
            f.close()
        raise
    return files


class EntryFrames:
    """An entry's two open Arrow IPC files (clients, arrangements): mapped whole when the
    population's frames are first used (called, then closed), or a column at a time
    (`column`) while they are not."""

    def __init__(self, files: list):
        self.files = files
        self.lock = threading.Lock()

    def __call__(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        with self.lock:
            try:
                return tuple(read_frame(f) for f in self.files)
            finally:
                for f in self.files:
                    f.close()

    def names(self, which: int) -> list[str] | None:
        """The column names of frame `which` (0 clients, 1 arrangements); None once the
        files are closed (the frames mapped whole)."""
        with self.lock:
            fh = self.files[which]
            return None if fh.closed else ipc_reader(fh).schema.names

    def column(self, which: int, name: str) -> pl.Series | None:
        """One column of frame `which`, in a mapping of its own: only its pages are read,
        and they leave the process's memory when the caller lets go of the column (and of
        any array that is a view of it). None once the files are closed."""
        with self.lock:
            fh = self.files[which]
            if fh.closed:
                return None
            # the whole table's arrays (no copy: `included_fields` would copy the body)
            table = ipc_reader(fh).read_all().select([name])
            return pl.from_arrow(table, rechunk=False).to_series()


def ipc_reader(fh):
    """An Arrow IPC file reader over a fresh read-only mapping of `fh` (no copy: buffers
    read from it keep the mapping, which goes when the last of them does)."""
    import pyarrow as pa

    mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return pa.ipc.open_file(pa.BufferReader(pa.py_buffer(mapped)))


def read_frame(fh) -> pl.DataFrame:
    """A frame memory mapped from an open Arrow IPC file: no copy, pages read when first
    used."""
    # the mapping lives as long as the frame's buffers refer to it
    table = ipc_reader(fh).read_all()
    return pl.from_arrow(table, rechunk=False)


def columnwise(pop: Population):
    """`pop` for the state builder: a cached population whose frames are still to be mapped
    gives its columns one at a time from the entry's files (`Columns`), so the builder's
    arrays and the records it fills are never beside the whole frames; any other population
    as it is."""
    load = pop.__dict__.get("_load_frames")
    if not isinstance(load, EntryFrames):
        return pop
    return ColumnwisePopulation(pop, load)


class ColumnwisePopulation:
    """A cached population whose `clients` and `arrangements` are `Columns`; anything else
    is the population's own."""

    def __init__(self, pop: Population, load: EntryFrames):
        self._pop = pop
        self.clients = Columns(pop, load, 0, pop.n_clients)
        self.arrangements = Columns(pop, load, 1, pop.n_arrangements)

    def __getattr__(self, name: str):
        return getattr(self._pop, name)


class Columns:
    """A cached population's frame read a column at a time: `frame[name]` is that column
    alone, mapped from the entry's file when asked for and unmapped when let go of;
    `height` and `columns` as a frame's. Anything else (and every column once the
    population's frames are mapped whole) is the whole frame's."""

    def __init__(self, pop: Population, load: EntryFrames, which: int, height: int):
        self._pop, self._load, self._which, self.height = pop, load, which, height

    def _frame(self) -> pl.DataFrame:
        return getattr(self._pop, FRAMES[self._which])

    @property
    def columns(self) -> list[str]:
        names = self._load.names(self._which)
        return self._frame().columns if names is None else names

    def __getitem__(self, item):
        if isinstance(item, str):
            col = self._load.column(self._which, item)
            if col is not None:
                return col
        return self._frame()[item]

    def __len__(self) -> int:
        return self.height

    def __getattr__(self, name: str):
        return getattr(self._frame(), name)
