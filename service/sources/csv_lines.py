"""Where each record of a CSV file is, and whether every record is whole.

pandas fills a short row with missing values and skips blank lines without saying so: a
file cut off in the middle of its last line (an interrupted copy or download) would be
stored with wrong values (``45`` from a cut ``456.0``), and row positions would no longer
be line numbers after a blank line. ``record_lines`` reads the file once with the csv
module and refuses records with another number of fields than the header and a last line
without line end; it returns each record's line number for error messages.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from aqcast.service.sources.errors import InputError


def record_lines(path: Path, label: str | None = None, encoding: str = "utf-8") -> np.ndarray:
    """The file line (1-based; the header is line 1) where each data record starts."""
    label = label or str(path)
    try:
        with open(path, encoding=encoding, newline="") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise InputError(label, "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(label, f"cannot read the file: {exc}") from exc
    reader = csv.reader(text.splitlines(keepends=True))
    header: list[str] | None = None
    lines: list[int] = []
    last_end = 0
    for row in reader:
        start, last_end = last_end + 1, reader.line_num
        if not row:  # a blank line: pandas skips it too
            continue
        if header is None:
            header = row
            continue
        if len(row) != len(header):
            missing = len(row) < len(header)
            field = header[len(row)] if missing else f"field {len(header) + 1}"
            raise InputError(
                label,
                f"line has {len(row)} fields, the header has {len(header)}"
                + (" (the line is cut short; nothing was stored)" if missing else ""),
                line=start,
                field=field,
                value=",".join(row)[:80],
            )
        lines.append(start)
    if text and not text.endswith(("\n", "\r")) and header is not None and lines:
        raise InputError(
            label,
            "the last line has no line end: the file looks cut off (an interrupted copy "
            "or download); nothing was stored. A complete file ends with a newline",
            line=lines[-1],
            field=header[-1],
        )
    return np.asarray(lines, dtype=int)


def line_of(df, position: int) -> int:  # noqa: ANN001 - a DataFrame
    """The file line of row ``position`` of ``df`` (``df.attrs["lines"]`` when the table
    came from a CSV file, else position + 2: the header is line 1)."""
    lines = df.attrs.get("lines") if hasattr(df, "attrs") else None
    if lines is not None and position < len(lines):
        return int(lines[position])
    return position + 2
