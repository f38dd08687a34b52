"""`python -m engine.cli` is `caseload`."""

from engine.cli import entry

entry()
