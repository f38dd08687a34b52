"""Client extracts: a municipality's own caseload, as its case system exports it, in place
of the synthetic start stock (DESIGN sections 2, 5 and 9).

An extract is one flat file, CSV or Parquet, with **one row per arrangement (indication)**
and the client's columns repeated on each of the client's rows. `EXTRACT_COLUMNS` is the
schema: name, type, whether it is required, what it means. The stock of the run is every
indication active in the extract month (`extract_month`, or `--start`, or the profile's
start month); rows that ended before it or start after it are left out and counted.

`validate_extract` reads and checks a file and returns an `ExtractReport`: every problem
with its row, column, value and what was expected. `read_extract` raises `ExtractError`
(exit code 2 on the command line) when there is any problem, and nothing is written.
`population_from_extract` turns a valid extract into the `Population` the kernel reads:

- client and arrangement ids: a plain positive number (`12345`, at most 2^63 - 1) is kept
  as it is; any other id (`C-00123`, `00123`) is hashed to a uint64 with the top bit set
  (blake2b), so hashed ids never meet numeric ones, and a collision of two different ids
  is refused. Without an `arrangement_id` column the id is the hash of client and product.
- the weekly amount (given, or units x unit price x the period's weeks) becomes the
  arrangement's `amount_factor` on its step price, so that the kernel's weekly amount
  (`engine.model.arrangement.weekly_base_cents` x the year's price index) reproduces it to
  the cent;
- household help without task minutes gets cleaning minutes inside its step's band;
- youth clients turning 18 within the horizon who hold a youth arrangement get the
  reserved follow-up slots (verlengde jeugdhulp, the Wmo hand-over) from the generator's
  own function, `followup.followup_slots`: every attribute (step, amount factor, funding,
  subcontracted, household-help minutes) is a keyed draw on (population seed, decision,
  client id, slot kind), and the slot id a hash of (client id, slot kind), so a synthetic
  stock written as an extract gets back exactly the generator's follow-up slots;
- a client's slots are contiguous: its extract rows in arrangement-id order, then its
  follow-up slots, verlengd before handover (the generator's order);
- inflow comes from the profile's own inflow pool (`generator.inflow_pool`, the same
  potential arrivals as a synthetic run with that population seed): its clients and
  initial slots numbered after the extract's largest numeric ids (unchanged when the
  extract is a synthetic stock), its follow-up slots re-keyed on the renumbered client ids.

A synthetic start stock written by `stock_to_extract` and run with the same profile and
seeds therefore gives the synthetic run's aggregates bit for bit, youth turning 18 included
(tests/interface/test_extract.py).

The modules, each imported by name (this package re-exports nothing):

- `columns`: the column registry, the vocabularies values are parsed with, id keys;
- `report`: problems, the report of a file and the error raised for one with problems;
- `read`: a file read as text and its columns parsed to their types;
- `validate`: the checks (`validate_extract`, `read_extract`);
- `stock`: a checked file's start stock, household-help steps;
- `convert`: extract -> population (`population_from_extract`, `load_population_file`) and
  population -> extract (`stock_to_extract`, `write_extract`).
"""
