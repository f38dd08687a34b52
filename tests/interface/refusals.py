"""What every refusal test checks: the command exits with code 2, prints nothing on stdout and
exactly one line on stderr, `caseload: error: ...`, naming the file, key or option (`where`) and
what was expected (`expected`), and leaves no file behind under the test's folder."""

from __future__ import annotations

from pathlib import Path

from engine.cli import main
from tests.helpers import DATA

TOY = DATA / "toy"


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in Path(root).rglob("*")}


def refuses(capsys, root: Path, args: list[str], where: str, expected: str) -> str:
    """Run `caseload ARGS` and check the refusal; returns the error line."""
    capsys.readouterr()
    before = snapshot(root)
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("caseload: error: "), line
    assert where in line, (where, line)
    assert "(expected " in line, line
    assert expected in line.split("(expected ", 1)[1], (expected, line)
    assert snapshot(root) == before, sorted(snapshot(root) - before)
    return line


def scenario(folder: Path, body: str = "", name: str = "s", months: int = 3, **keys) -> Path:
    """A scenario file on the toy profile (`body`: further tables, e.g. [overrides])."""
    lines = [
        "[scenario]",
        f'profile = "{TOY / "profile.toml"}"',
        f"months = {months}",
        *(f"{k} = {v}" for k, v in keys.items()),
    ]
    if name is not None:
        lines.insert(1, f'name = "{name}"')
    path = Path(folder) / "scenario.toml"
    path.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
    return path


def toy_args(out: Path, *more) -> list[str]:
    args = ["run", "--profile", TOY / "profile.toml", "--months", "3", "--out", out, *more]
    return [str(a) for a in args]
