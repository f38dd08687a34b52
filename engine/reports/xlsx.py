"""Writing the finance workbook's sheets (engine.reports.workbook) to files: one .xlsx
workbook (xlsxwriter; a table per sheet, header row frozen, number formats per column kind)
or one CSV per sheet; and reading a sheet of a written workbook back (openpyxl, for tests)."""

from __future__ import annotations

from pathlib import Path

from engine.reports.sheet import FLOAT, INT, MONEY, TEXT, Sheet


# ----------------------------------------------------------------------------- writing
def _cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}"
    return str(v)


def write_xlsx(sheets: list[Sheet], path: Path) -> Path:
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    wb = xlsxwriter.Workbook(
        str(tmp),
        {
            "nan_inf_to_errors": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties(
        {
            "title": sheets[0].title if sheets else "caseload",
            "subject": "caseload export",
            "author": "caseload",
        }
    )
    f_title = wb.add_format({"bold": True, "font_size": 14, "font_color": "#1f3b57"})
    f_note = wb.add_format({"italic": True, "font_color": "#555555", "text_wrap": False})
    f_head = wb.add_format(
        {
            "bold": True,
            "bg_color": "#1f3b57",
            "font_color": "#ffffff",
            "border": 1,
            "text_wrap": True,
            "valign": "top",
        }
    )
    f_money = wb.add_format({"num_format": "#,##0"})
    f_int = wb.add_format({"num_format": "#,##0", "align": "right"})
    f_float = wb.add_format({"num_format": "#,##0.00"})
    f_text = wb.add_format({})
    fmt_of = {MONEY: f_money, INT: f_int, FLOAT: f_float, TEXT: f_text}
    used = set()
    for sh in sheets:
        name = sh.name[:31]
        ws = wb.add_worksheet(name)
        ws.write(0, 0, sh.title, f_title)
        ws.write(1, 0, sh.note, f_note)
        header_row = 3
        cols = sh.frame.columns
        data = sh.frame.rows()
        for j, c in enumerate(cols):
            kind = sh.formats.get(c, TEXT)
            for i, row in enumerate(data):
                v = row[j]
                if v is None:
                    continue
                if kind == INT and isinstance(v, str) and v.isdigit():
                    v = int(v)  # a count kept as text beside suppressed cells
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    ws.write_number(header_row + 1 + i, j, v, fmt_of[kind])
                else:
                    ws.write_string(header_row + 1 + i, j, str(v), f_int if kind == INT else f_text)
            width = max([len(c)] + [len(_cell_text(r[j])) for r in data[:2000]]) + 2
            ws.set_column(j, j, min(max(width, 8), 70 if j == len(cols) - 1 else 45))
        table_name = "".join(ch for ch in sh.name.title() if ch.isalnum())
        while table_name in used:
            table_name += "X"
        used.add(table_name)
        last_row = header_row + max(len(data), 1)
        ws.add_table(
            header_row,
            0,
            last_row,
            max(len(cols) - 1, 0),
            {
                "name": table_name,
                "style": "Table Style Light 9",
                "autofilter": True,
                "columns": [{"header": c, "header_format": f_head} for c in cols],
            },
        )
        ws.set_row(header_row, 30)
        ws.freeze_panes(header_row + 1, sh.freeze_cols)
    if sheets:
        wb.worksheets()[0].activate()
    wb.close()
    tmp.replace(path)
    return path


def write_csv(sheets: list[Sheet], folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for sh in sheets:
        p = folder / f"{sh.slug}.csv"
        sh.frame.write_csv(p)
        out.append(p)
    return out


def read_xlsx_sheet(path: Path, sheet: str) -> list[dict]:
    """Read a sheet this module wrote back into dicts (header on row 4): for tests and checks."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet]
        rows = list(ws.iter_rows(min_row=4, values_only=True))
    finally:
        wb.close()
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]
