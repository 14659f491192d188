"""Customers from a CSV file: parsing and every check, without a database.

The file has a header naming the columns customer_number, name, phones, sla and optionally
notes, in any order. Phones are separated by ";" or "|"; an empty sla means the standard
SLA. UTF-8 with or without a byte-order mark; "," or ";" between fields (Excel in the
Netherlands writes ";"), found from the header. Blank lines are skipped.

An import is all or nothing, so nothing stops at the first problem: `parse_customer_csv` and
`check_against_existing` return every problem, each with its line and column, and a caller
writes only when there are none.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.phone import InvalidPhoneNumber, normalise

REQUIRED_COLUMNS = ("customer_number", "name", "phones", "sla")
OPTIONAL_COLUMNS = ("notes",)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DELIMITERS = (",", ";", "\t")
PHONE_SEPARATORS = re.compile(r"[;|]")
# The database's column sizes (core.models), checked here so a long value is a line-numbered
# problem rather than a database error after half the file.
MAX_LENGTHS = {"customer_number": 50, "name": 200, "sla": 100}


@dataclass(frozen=True)
class ImportProblem:
    """What is wrong, where: `line` is the file's line (the header's is usually 1), `column` a column
    name or None when the problem is the line (or the file) as a whole."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}" if self.column else f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class CustomerRow:
    """One customer as the file says. `sla` None means the standard SLA; `notes` None means
    empty, and `notes_given` whether the file has a notes column at all (if not, an update
    keeps the customer's notes)."""

    line: int
    customer_number: str
    name: str
    phones: tuple[str, ...]
    sla: str | None
    notes: str | None
    notes_given: bool


@dataclass(frozen=True)
class ParsedFile:
    """The rows of the file, and its problems; the rows may be written only without any."""

    rows: tuple[CustomerRow, ...]
    problems: tuple[ImportProblem, ...]


def _decode(data: bytes) -> tuple[str | None, list[ImportProblem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start: exc.start + 1].hex()
        return None, [ImportProblem(line, None, f"not UTF-8 (byte 0x{byte}); save the file as 'CSV UTF-8'")]


def _delimiter(header_line: str) -> str:
    # The delimiter that makes the header name the most known columns: csv.Sniffer guesses
    # from character counts, and a header of names we know is firmer ground.
    def known(delimiter: str) -> int:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(cell.strip().lower() in COLUMNS for cell in cells)

    return max(DELIMITERS, key=known)


def _header(line: int, cells: list[str]) -> tuple[dict[str, int], list[int], list[ImportProblem]]:
    """Column name -> index, indexes of unnamed columns, problems."""
    columns: dict[str, int] = {}
    unnamed: list[int] = []
    problems: list[ImportProblem] = []
    for index, cell in enumerate(cells):
        name = cell.strip().lower()
        if not name:
            unnamed.append(index)  # Excel writes trailing ";" for cells once touched
        elif name not in COLUMNS:
            problems.append(ImportProblem(line, name, f"unknown column (known: {', '.join(COLUMNS)})"))
        elif name in columns:
            problems.append(ImportProblem(line, name, "column named twice"))
        else:
            columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing and not columns:
        problems = [ImportProblem(line, None, "no header: the first line must name the columns "
                                           f"{','.join(REQUIRED_COLUMNS)}[,notes]")]
    elif missing:
        problems.append(ImportProblem(line, None, f"missing column(s): {', '.join(missing)}"))
    return columns, unnamed, problems


def _phones(text: str, line: int, country: str, problems: list[ImportProblem]) -> tuple[str, ...]:
    numbers: list[str] = []
    for written in filter(None, (piece.strip() for piece in PHONE_SEPARATORS.split(text))):
        try:
            number = normalise(written, country)
        except InvalidPhoneNumber as exc:
            problems.append(ImportProblem(line, "phones", f"{written!r}: {exc.reason}"))
            continue
        if number in numbers:
            problems.append(ImportProblem(line, "phones", f"{written!r} is {number}, which this line names already"))
        else:
            numbers.append(number)
    return tuple(numbers)


def parse_customer_csv(data: bytes, country: str = "NL") -> ParsedFile:
    """Every customer in the file, and every problem with it (duplicates within the file
    included); phones normalised to E.164 with `country` for national numbers."""
    text, problems = _decode(data)
    if text is None:
        return ParsedFile((), tuple(problems))
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        return ParsedFile((), (ImportProblem(1, None, "the file is empty; it needs a header and a line per customer"),))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    rows: list[CustomerRow] = []
    columns: dict[str, int] | None = None
    unnamed: list[int] = []
    width = 0
    where_number: dict[str, int] = {}
    where_phone: dict[str, tuple[int, str]] = {}
    previous_end = 0
    try:
        for cells in reader:
            line, previous_end = previous_end + 1, reader.line_num  # a quoted value may span lines
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns, unnamed, header_problems = _header(line, cells)
                problems += header_problems
                if any(name not in columns for name in REQUIRED_COLUMNS):
                    return ParsedFile((), tuple(problems))
                width = len(cells)  # an unknown column is reported, and its values ignored
                continue
            if len(cells) > width:
                problems.append(ImportProblem(line, None, f"{len(cells)} fields, the header names {width} "
                                                          "(a value with the delimiter in it needs quotes)"))
                continue
            cells = cells + [""] * (width - len(cells))
            for index in unnamed:
                if cells[index].strip():
                    problems.append(ImportProblem(line, None, f"a value in column {index + 1}, which the header does not name"))
            row = _row(line, cells, columns, country, problems)
            if row.customer_number in where_number:
                problems.append(ImportProblem(line, "customer_number",
                                              f"{row.customer_number!r} is on line {where_number[row.customer_number]} already"))
            if row.customer_number:
                where_number.setdefault(row.customer_number, line)
            for phone in row.phones:
                if phone in where_phone and where_phone[phone][1] != row.customer_number:
                    first, number = where_phone[phone]
                    whose = f" (customer {number})" if number else ""
                    problems.append(ImportProblem(line, "phones", f"{phone} is on line {first}{whose} already"))
                where_phone.setdefault(phone, (line, row.customer_number))
            rows.append(row)
    except csv.Error as exc:
        problems.append(ImportProblem(reader.line_num, None, f"not readable as CSV: {exc}"))
    if columns is not None and not rows and not problems:
        problems.append(ImportProblem(previous_end, None, "no customers below the header"))
    return ParsedFile(tuple(rows), tuple(problems))


def _row(line: int, cells: list[str], columns: dict[str, int], country: str, problems: list[ImportProblem]) -> CustomerRow:
    """The line as a row, also when it has problems (added to `problems`): the checks against
    the database then still find what else is wrong with it. Bad phones are left out."""
    values = {name: cells[index].strip() for name, index in columns.items()}
    for name in ("customer_number", "name"):
        if not values[name]:
            problems.append(ImportProblem(line, name, "empty"))
    for name, limit in MAX_LENGTHS.items():
        if len(values[name]) > limit:
            problems.append(ImportProblem(line, name, f"longer than {limit} characters"))
    phones = _phones(values["phones"], line, country, problems)
    return CustomerRow(line, values["customer_number"], values["name"], phones, values["sla"] or None,
                       values.get("notes") or None, "notes" in columns)


def check_against_existing(
    rows: Iterable[CustomerRow],
    *,
    existing_numbers: Mapping[str, str],
    phone_owners: Mapping[str, str],
    sla_names: Iterable[str],
    update: bool,
) -> list[ImportProblem]:
    """Problems of the parsed rows with what the database holds: `existing_numbers` maps each
    customer number to its name, `phone_owners` each E.164 number to its customer's number.

    A customer number that exists is refused unless `update`. A phone of another customer is
    refused, except when that customer is updated by the same file without it (a number
    moving from one customer to another in one import)."""
    rows = list(rows)
    known_slas = set(sla_names)
    new_phones = {row.customer_number: set(row.phones) for row in rows}
    problems: list[ImportProblem] = []
    for row in rows:
        if row.customer_number in existing_numbers and not update:
            problems.append(ImportProblem(row.line, "customer_number",
                                          f"{row.customer_number!r} exists already ({existing_numbers[row.customer_number]}); "
                                          "--update replaces its name, phones, SLA and notes"))
        if row.sla is not None and row.sla not in known_slas:
            problems.append(ImportProblem(row.line, "sla", f"{row.sla!r}: no such SLA (known: {', '.join(sorted(known_slas))})"))
        for phone in row.phones:
            owner = phone_owners.get(phone)
            if owner is None or owner == row.customer_number:
                continue
            moves_away = update and owner in new_phones and phone not in new_phones[owner]
            if not moves_away:
                problems.append(ImportProblem(row.line, "phones", f"{phone} is a number of customer {owner} already"))
    return problems
