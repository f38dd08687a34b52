"""The caseload version, written into every manifest (the same as pyproject.toml's)."""

__version__ = "0.1.0"
