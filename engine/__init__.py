"""caseload engine: state, kernel, keyed random streams, outputs and runs."""

__version__ = "0.1.0"
