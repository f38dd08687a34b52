"""User-facing errors: one line that says what to fix; the CLI maps them to exit code 2."""


class CaseloadError(Exception):
    """A problem with the user's input (file, key, value, option) rather than a bug."""

    exit_code = 2


class InputError(CaseloadError):
    """Bad input: names the file, the key or row, and what was expected."""

    def __init__(self, where: str, what: str, expected: str | None = None):
        self.where = where
        self.what = what
        self.expected = expected
        msg = f"{where}: {what}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)

    def __reduce__(self):  # survives the trip back from a worker process
        return (type(self), (self.where, self.what, self.expected))
