"""The population cache: a run whose inputs match a population generated before loads it,
identical to generating it; anything that could change the population (a profile or policy
value, the seed, start or horizon, the generator's code) is a miss, never a stale hit."""

from __future__ import annotations

import json
import platform
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engine.cli import main
from engine.model.jit import dependency_files
from engine.model.state import build_state
from synthetic_population import cache, entry_files
from synthetic_population.generator import Population, frame_digest, generate
from synthetic_population.profile import load_profile
from tests.helpers import TOY_PROFILE


@pytest.fixture
def folder(tmp_path, monkeypatch):
    where = tmp_path / "population-cache"
    monkeypatch.setenv(cache.ENV, str(where))
    return where


def _toy(**overrides):
    return load_profile(TOY_PROFILE, overrides or None)


def _same(a: Population, b: Population) -> None:
    """Equal content, checked from the values (not the cache's own records)."""
    assert frame_digest(a.clients) == frame_digest(b.clients)
    assert frame_digest(a.arrangements) == frame_digest(b.arrangements)
    assert a.pool_rate.tobytes() == b.pool_rate.tobytes()
    assert (a.group_codes, a.start, a.months) == (b.group_codes, b.start, b.months)


def test_the_second_request_is_a_hit_identical_to_generating_afresh(folder):
    profile, policy = _toy()
    first = cache.generate_cached(profile, policy, 5, 12, profile.start)
    second = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert first.meta["population_cache"] == "miss"
    assert second.meta["population_cache"] == "hit"
    fresh = generate(profile, policy, 5, 12, profile.start)
    _same(second, fresh)
    # the fingerprint the cache kept is the one the loaded frames give when hashed again
    rehashed = Population(
        second.clients,
        second.arrangements,
        second.pool_rate,
        second.group_codes,
        second.start,
        second.months,
    )
    assert second.fingerprint() == rehashed.fingerprint() == fresh.fingerprint()
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"overrides": {"groups.oud.stock": 301}},  # a profile value
        {"overrides": {"policy.products.beg.indication_months": 7}},  # a policy value
        {"seed": 6},
        {"months": 13},
        {"start": 1},  # one month later
    ],
    ids=["profile", "policy", "seed", "months", "start"],
)
def test_any_changed_input_misses_and_gives_the_changed_population(folder, change):
    profile, policy = _toy()
    base = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert base.meta["population_cache"] == "miss"
    p2, pol2 = _toy(**change.get("overrides", {}))
    seed, months = change.get("seed", 5), change.get("months", 12)
    start = p2.start + change.get("start", 0)
    other = cache.generate_cached(p2, pol2, seed, months, start)
    assert other.meta["population_cache"] == "miss"
    _same(other, generate(p2, pol2, seed, months, start))
    # and the first population is still there, unchanged
    again = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert again.meta["population_cache"] == "hit"
    _same(again, base)


def test_a_changed_generator_is_a_miss(folder, monkeypatch):
    """The key holds the generator's code stamp: other code, other key, a miss."""
    profile, policy = _toy()
    cache.generate_cached(profile, policy, 5, 12, profile.start)
    stamp = cache.generator_stamp()
    monkeypatch.setattr(cache, "generator_stamp", lambda: "edited-" + stamp)
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert pop.meta["population_cache"] == "miss"


def test_the_generator_stamp_covers_every_module_that_draws_the_population():
    root = cache.ROOT
    deps = {
        str(p.relative_to(root))
        for p in dependency_files(root / "synthetic_population" / "generator.py")
    }
    for needed in (
        "synthetic_population/generator.py",
        "synthetic_population/draws.py",
        "synthetic_population/followup.py",
        "synthetic_population/household_help.py",
        "synthetic_population/profile.py",
        "engine/model/portable_math.py",
        "engine/model/rng.py",
        "rules/policy.py",
    ):
        assert needed in deps, needed


def test_the_key_is_the_same_in_every_process_and_for_14_and_14_0(folder):
    profile, policy = _toy()
    p2, pol2 = _toy(**{"population.scale": 1})
    p3, pol3 = _toy(**{"population.scale": 1.0})
    keys = {
        cache.population_key(p, pol, 5, 12, p.start)
        for p, pol in ((profile, policy), (p2, pol2), (p3, pol3))
    }
    assert len(keys) == 1
    # sets and dict order never enter the key as they happen to be laid out in memory
    assert cache.canonical({"b": {3, 1, 2}, "a": (1.5, None)}) == [
        ["a", [repr(1.5), None]],
        ["b", [repr(1.0), repr(2.0), repr(3.0)]],
    ]
    with pytest.raises(TypeError):
        cache.canonical(object())


def test_a_broken_entry_is_dropped_and_the_population_generated_again(folder):
    profile, policy = _toy()
    cache.generate_cached(profile, policy, 5, 12, profile.start)
    key = cache.population_key(profile, policy, 5, 12, profile.start)
    (folder / key / "arrangements.arrow").write_bytes(b"not arrow")
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert pop.meta["population_cache"] == "miss"
    _same(pop, generate(profile, policy, 5, 12, profile.start))
    assert (
        cache.generate_cached(profile, policy, 5, 12, profile.start).meta["population_cache"]
        == "hit"
    )


def test_the_state_read_back_equals_the_state_built(folder):
    profile, policy = _toy()
    cache.generate_cached(profile, policy, 5, 12, profile.start)
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    built = cache.state_of(pop, policy, profile.group_codes)  # built, and kept
    read = cache.state_of(pop, policy, profile.group_codes)  # read back
    direct = build_state(
        generate(profile, policy, 5, 12, profile.start), policy, profile.group_codes
    )
    for a, b, c in zip(built[:2], read[:2], direct[:2], strict=True):
        assert a.dtype == b.dtype == c.dtype
        assert a.tobytes() == b.tobytes() == c.tobytes()
    assert read.clients.flags.writeable
    assert read.slots.flags.writeable
    assert read.clients.ctypes.data != built.clients.ctypes.data
    states = [p for p in (folder / pop.cache_key).iterdir() if p.name.startswith("state-")]
    assert len(states) == 1


def test_off_generates_without_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, "off")
    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert pop.meta["population_cache"] == "off"
    assert cache.cache_dir() is None
    assert pop.cache_key is None


def test_only_the_most_recently_used_entries_are_kept(folder):
    profile, policy = _toy()
    for seed in range(cache.KEEP + 2):
        cache.generate_cached(profile, policy, seed, 2, profile.start)
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert len(entries) == cache.KEEP
    assert not list(folder.glob("*.partial"))


def test_population_generate_fills_the_cache_and_runs_then_hit_it(folder, tmp_path, capsys):
    args = ["--profile", TOY_PROFILE, "--months", "12"]
    assert main(["population", "generate", *args, "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "population cache:" in out
    assert str(folder) in out
    runs = {}
    for rid, seed in (("hit", "5"), ("miss", "6")):
        assert (
            main(
                [
                    "run",
                    *args,
                    "--population-seed",
                    seed,
                    "--out",
                    str(tmp_path),
                    "--run-id",
                    rid,
                    "--quiet",
                    "--catalog",
                    "off",
                ]
            )
            == 0
        )
        runs[rid] = json.loads((tmp_path / rid / "manifest.json").read_text())
    assert runs["hit"]["population"]["cache"] == "hit"
    assert runs["miss"]["population"]["cache"] == "miss"
    profile, policy = _toy()
    assert runs["hit"]["hashes"]["population"] == generate(profile, policy, 5, 12).fingerprint()
    assert np.isfinite(runs["hit"]["timings"]["population_s"])


def test_the_cached_state_depends_on_what_the_state_builder_reads_besides_the_population():
    profile, policy = _toy()
    codes = profile.group_codes
    name = cache._state_name(policy, codes)
    assert cache._state_name(policy, codes[::-1]) != name
    other = type(policy)(**{**policy.__dict__, "products": policy.products[::-1]})
    assert cache._state_name(other, codes) != name


def test_a_population_written_in_the_background_is_whole_once_settled(folder):
    """A run's miss writes the population while the run goes on: its state is kept in the
    same folder, which becomes the entry only when `settle` has seen everything written."""
    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start, background=True)
    assert pop.meta["population_cache"] == "miss"
    built = cache.state_of(pop, policy, profile.group_codes)
    cache.settle(pop)
    cache.settle(pop)  # a second settle is a no-op
    assert not list(folder.glob(".*.partial"))
    kept = [p.name for p in (folder / pop.cache_key).iterdir()]
    assert sorted(n for n in kept if not n.startswith("state-")) == [
        "arrangements.arrow",
        "clients.arrow",
        "meta.json",
    ]
    assert len([n for n in kept if n.startswith("state-")]) == 1  # written before settling
    again = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert again.meta["population_cache"] == "hit"
    _same(again, generate(profile, policy, 5, 12, profile.start))
    read = cache.state_of(again, policy, profile.group_codes)
    assert read.slots.tobytes() == built.slots.tobytes()
    assert read.clients.tobytes() == built.clients.tobytes()


def test_an_entry_folder_without_its_files_is_a_miss_and_is_replaced(folder):
    profile, policy = _toy()
    key = cache.population_key(profile, policy, 5, 12, profile.start)
    (folder / key / "state-x").mkdir(parents=True)  # e.g. left by an interrupted writer
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert pop.meta["population_cache"] == "miss"
    assert (folder / key / "meta.json").exists()
    assert (
        cache.generate_cached(profile, policy, 5, 12, profile.start).meta["population_cache"]
        == "hit"
    )


def test_a_hits_frames_are_mapped_when_first_used(folder):
    """A run that finds the population's state never reads its frames (nor imports PyArrow):
    the sizes, fingerprint and cache key are known without them; first use maps them, and a
    pickled population (a process pool's) carries them."""
    import pickle

    profile, policy = _toy()
    first = cache.generate_cached(profile, policy, 5, 12, profile.start)
    hit = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert "clients" not in vars(hit)
    assert "arrangements" not in vars(hit)
    assert (hit.n_clients, hit.n_arrangements) == (first.n_clients, first.n_arrangements)
    assert hit.fingerprint() == first.fingerprint()
    assert hit.cache_key is not None
    assert "clients" not in vars(hit)  # none of that mapped them
    other = cache.generate_cached(profile, policy, 5, 12, profile.start)
    with ThreadPoolExecutor(4) as pool:  # threads sharing it map it once
        frames = list(pool.map(lambda _: other.clients, range(8)))
    assert all(f is frames[0] for f in frames)
    shipped = pickle.loads(pickle.dumps(hit))
    _same(shipped, first)
    assert shipped.cache_key == hit.cache_key  # the frames mapped are the entry's
    assert shipped.fingerprint() == first.fingerprint()
    _same(hit, first)


def test_an_entry_written_without_sizes_is_mapped_at_once(folder):
    profile, policy = _toy()
    first = cache.generate_cached(profile, policy, 5, 12, profile.start)
    (entry,) = [p for p in folder.iterdir() if not p.name.startswith(".")]
    meta = json.loads((entry / "meta.json").read_text())
    del meta["sizes"]
    (entry / "meta.json").write_text(json.dumps(meta))
    hit = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert hit.meta["population_cache"] == "hit"
    assert "clients" in vars(hit)
    _same(hit, first)


def test_a_hits_files_stay_readable_when_the_entry_is_removed_before_first_use(folder):
    import shutil

    profile, policy = _toy()
    first = cache.generate_cached(profile, policy, 5, 12, profile.start)
    hit = cache.generate_cached(profile, policy, 5, 12, profile.start)
    shutil.rmtree(folder)  # another process pruned it
    _same(hit, first)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc",
)
def test_a_miss_writes_a_frame_at_a_time_into_the_entry_and_returns_it_mapped(folder, monkeypatch):
    """A first run's peak memory: the draws' freed temporaries are given back before each
    frame is made (glibc keeps them; the frames' allocator, Polars', never reuses them), each
    frame is written into the entry and let go of before the next is made, and the run gets
    the entry as a hit gets it (frames mapped when first used), identical to generating it."""
    import weakref

    from synthetic_population import generator, memory

    assert memory.release_freed_memory()  # glibc's malloc_trim is found and runs
    calls, made = [], {}
    for module in (generator, cache):
        monkeypatch.setattr(module, "release_freed_memory", lambda: calls.append("release"))
    for name in ("clients", "arrangements"):
        real = getattr(generator, f"_{name[:-1] if name == 'clients' else 'arrangement'}_frame")

        def make(*a, name=name, real=real):
            calls.append(name)
            assert all(ref() is None for ref in made.values())  # the frame before is gone
            frame = real(*a)
            made[name] = weakref.ref(frame)
            return frame

        monkeypatch.setattr(generator, real.__name__, make)
    real_write = cache._write_frame
    monkeypatch.setattr(
        cache, "_write_frame", lambda f, p: calls.append(f"write {p.stem}") or real_write(f, p)
    )
    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    monkeypatch.undo()
    assert calls == [
        *("release", "clients", "write clients"),
        *("release", "arrangements", "write arrangements"),
        "release",
    ]
    assert pop.meta["population_cache"] == "miss"
    assert pop.cache_key == cache.population_key(profile, policy, 5, 12, profile.start)
    assert "clients" not in vars(pop)  # mapped when first used
    assert "arrangements" not in vars(pop)
    fresh = generate(profile, policy, 5, 12, profile.start)
    assert pop.fingerprint() == fresh.fingerprint()
    _same(pop, fresh)
    assert pop.meta == {**fresh.meta, "population_cache": "miss"}
    assert not list(folder.glob(".*.partial"))


def test_a_miss_that_cannot_write_its_entry_generates_in_memory(folder, monkeypatch):
    def fail(frame, path):
        raise OSError("disk full")

    monkeypatch.setattr(cache, "_write_frame", fail)
    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert pop.meta["population_cache"] == "miss"
    assert pop.cache_key is None
    assert "clients" in vars(pop)
    _same(pop, generate(profile, policy, 5, 12, profile.start))
    assert not list(folder.iterdir())  # nothing left behind


def _entry_mappings(entry) -> list[str]:
    with open("/proc/self/maps") as maps:
        return [line for line in maps if str(entry) in line]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps")
def test_a_state_built_from_the_entry_reads_it_column_by_column_and_lets_go_of_it(folder):
    """The state of a population whose frames are not mapped yet (a miss, or a hit without
    this state) is built from the entry's columns, each mapped on its own: the whole frames
    are never mapped, and once the state is built none of the entry is (the builder's arrays
    and the records it fills are never beside the whole frames). Equal to building it from
    the generated frames."""
    import gc

    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    entry = folder / pop.cache_key
    built = cache.state_of(pop, policy, profile.group_codes)
    gc.collect()
    assert "clients" not in vars(pop)
    assert "arrangements" not in vars(pop)
    assert _entry_mappings(entry) == []
    direct = build_state(
        generate(profile, policy, 5, 12, profile.start), policy, profile.group_codes
    )
    assert built.clients.tobytes() == direct.clients.tobytes()
    assert built.slots.tobytes() == direct.slots.tobytes()
    # a frame's column keeps only its own mapping, gone with it (a number column: a
    # dictionary-encoded text column's codes are copied as Polars reads them)
    columns = entry_files.columnwise(pop).arrangements
    assert columns.height == pop.n_arrangements
    assert "product" in columns.columns
    fresh = generate(profile, policy, 5, 12).arrangements
    assert columns["product"].to_list() == fresh["product"].to_list()
    factor = columns["amount_factor"]
    assert len(_entry_mappings(entry)) == 1
    assert factor.to_list() == fresh["amount_factor"].to_list()
    del factor
    gc.collect()
    assert _entry_mappings(entry) == []


def test_a_columnwise_frame_is_the_whole_frame_for_anything_else(folder):
    profile, policy = _toy()
    pop = cache.generate_cached(profile, policy, 5, 12, profile.start)
    assert entry_files.columnwise(pop) is not pop
    columns = entry_files.columnwise(pop).clients
    fresh = generate(profile, policy, 5, 12, profile.start)
    # a frame method the columns do not have maps the whole frame
    assert columns.select("group").to_series().to_list() == fresh.clients["group"].to_list()
    assert "clients" in vars(pop)
    # and once the frames are mapped whole, every column comes from them
    assert columns["client_id"].to_list() == fresh.clients["client_id"].to_list()
    assert entry_files.columnwise(pop) is pop
    assert entry_files.columnwise(fresh) is fresh
