"""Customers from CSV: what a spreadsheet writes, and every problem with its line and column."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from core.customer_import import CustomerRow, ImportProblem, check_against_existing, parse_customer_csv

HEADER = "customer_number,name,phones,sla,notes\n"


def parse(text: str, encoding: str = "utf-8"):
    return parse_customer_csv(text.encode(encoding))


def problems_of(text: str) -> list[str]:
    return [str(problem) for problem in parse(text).problems]


# --- what is read ---------------------------------------------------------------------------

def test_a_plain_file_gives_rows_with_phones_in_e164_and_empty_sla_as_standard():
    parsed = parse(HEADER + "1001,ACME B.V.,0612345678|+31 20 123 4567,gold,big one\n1002,Beta,0031 6 8765 4321,,\n")
    assert parsed.problems == ()
    assert parsed.rows == (
        CustomerRow(2, "1001", "ACME B.V.", ("+31612345678", "+31201234567"), "gold", "big one", True),
        CustomerRow(3, "1002", "Beta", ("+31687654321",), None, None, True),
    )


def test_a_byte_order_mark_is_not_part_of_the_first_column_name():
    parsed = parse_customer_csv(b"\xef\xbb\xbf" + HEADER.encode() + b"1001,ACME,0612345678,,\n")
    assert parsed.problems == ()
    assert [row.customer_number for row in parsed.rows] == ["1001"]


def test_excel_in_the_netherlands_writes_semicolons_crlf_and_quotes_a_field_with_one():
    text = "customer_number;name;phones;sla\r\n1001;ACME;\"0612345678;0201234567\";standard\r\n1002;Caf\u00e9 Noord;0497842611;\r\n"
    parsed = parse_customer_csv(b"\xef\xbb\xbf" + text.encode())
    assert parsed.problems == ()
    assert [(row.customer_number, row.name, row.phones, row.sla) for row in parsed.rows] == [
        ("1001", "ACME", ("+31612345678", "+31201234567"), "standard"),
        ("1002", "Caf\u00e9 Noord", ("+31497842611",), None),
    ]


def test_columns_may_come_in_any_order_and_any_case_and_notes_may_be_left_out():
    [row] = parse("Name,SLA,Phones,Customer_Number\nACME,,0612345678,1001\n").rows
    assert (row.customer_number, row.name, row.phones, row.notes, row.notes_given) == ("1001", "ACME", ("+31612345678",), None, False)


def test_blank_lines_are_skipped_and_line_numbers_stay_the_files():
    parsed = parse("\n" + HEADER + "\n1001,ACME,0612345678,,\n   \n\n1002,Beta,0687654321,,\n")
    assert parsed.problems == ()
    assert [(row.line, row.customer_number) for row in parsed.rows] == [(4, "1001"), (7, "1002")]


def test_a_quoted_value_over_two_lines_keeps_the_next_line_number_right():
    parsed = parse(HEADER + '1001,ACME,0612345678,,"first line\nsecond line"\n1002,Beta,06-x,,\n')
    assert parsed.rows[0].notes == "first line\nsecond line"
    assert problems_of(HEADER + '1001,ACME,0612345678,,"first line\nsecond line"\n1002,Beta,06-x,,\n') == [
        "line 4, column phones: '06-x': not a phone number (only digits, spaces, dashes and a leading + are allowed)"
    ]


def test_excels_trailing_empty_columns_are_ignored_but_a_value_in_one_is_not():
    assert parse("customer_number;name;phones;sla;;\n1001;ACME;0612345678;;;\n").problems == ()
    assert problems_of("customer_number;name;phones;sla;\n1001;ACME;0612345678;;oops\n") == [
        "line 2: a value in column 5, which the header does not name"
    ]


def test_a_customer_without_phone_numbers_is_allowed_they_key_in_their_number():
    [row] = parse(HEADER + "1001,ACME,,,\n").rows
    assert row.phones == ()


def test_a_short_line_means_the_last_columns_are_empty():
    [row] = parse(HEADER + "1001,ACME,0612345678\n").rows
    assert (row.sla, row.notes) == (None, None)


# --- problems -------------------------------------------------------------------------------

def test_every_problem_is_listed_with_its_line_and_column():
    text = (HEADER
            + "1001,ACME,0612345678,,\n"
            + "1001,ACME again,0687654321,,\n"
            + "1003,,06-x|0612345,,\n"
            + ",Nobody,0201234567,,\n"
            + "1005,Five,0201234567,,\n")
    assert problems_of(text) == [
        "line 3, column customer_number: '1001' is on line 2 already",
        "line 4, column name: empty",
        "line 4, column phones: '06-x': not a phone number (only digits, spaces, dashes and a leading + are allowed)",
        "line 4, column phones: '0612345': not a valid phone number",
        "line 5, column customer_number: empty",
        "line 6, column phones: +31201234567 is on line 5 already",
    ]


def test_one_phone_number_in_two_forms_on_one_line_is_named():
    assert problems_of(HEADER + "1001,ACME,0612345678|0031612345678,,\n") == [
        "line 2, column phones: '0031612345678' is +31612345678, which this line names already"
    ]


def test_one_phone_number_for_two_customers_in_the_file_is_refused():
    assert problems_of(HEADER + "1001,ACME,0612345678,,\n1002,Beta,+31612345678,,\n") == [
        "line 3, column phones: +31612345678 is on line 2 (customer 1001) already"
    ]


def test_an_unknown_column_is_named_and_the_rest_still_checked():
    assert problems_of("customer_number,name,phones,sla,email\n1001,ACME,06-x,,a@example.com\n") == [
        "line 1, column email: unknown column (known: customer_number, name, phones, sla, notes)",
        "line 2, column phones: '06-x': not a phone number (only digits, spaces, dashes and a leading + are allowed)",
    ]


def test_a_file_without_a_header_is_refused_with_what_the_header_must_be():
    parsed = parse("1001,ACME,0612345678,standard\n")
    assert parsed.rows == ()
    assert [str(problem) for problem in parsed.problems] == [
        "line 1: no header: the first line must name the columns customer_number,name,phones,sla[,notes]"
    ]


def test_a_missing_required_column_is_named():
    assert problems_of("customer_number,name,phones\n1001,ACME,0612345678\n") == ["line 1: missing column(s): sla"]


def test_a_column_named_twice_is_refused():
    assert problems_of("customer_number,name,phones,sla,name\n1001,A,0612345678,,B\n") == ["line 1, column name: column named twice"]


def test_a_line_with_more_fields_than_the_header_is_refused():
    assert problems_of("customer_number,name,phones,sla\n1001,ACME, Inc.,0612345678,\n") == [
        "line 2: 5 fields, the header names 4 (a value with the delimiter in it needs quotes)"
    ]


def test_values_longer_than_the_database_keeps_are_refused():
    assert problems_of(HEADER + f"{'9' * 51},{'A' * 201},0612345678,{'s' * 101},\n") == [
        "line 2, column customer_number: longer than 50 characters",
        "line 2, column name: longer than 200 characters",
        "line 2, column sla: longer than 100 characters",
    ]


def test_an_empty_file_and_a_header_without_customers_are_refused():
    assert problems_of("") == ["line 1: the file is empty; it needs a header and a line per customer"]
    assert problems_of("\n \n") == ["line 1: the file is empty; it needs a header and a line per customer"]
    assert problems_of(HEADER) == ["line 1: no customers below the header"]


def test_a_file_that_is_not_utf8_names_the_line_and_how_to_save_it():
    parsed = parse(HEADER + "1001,ACME,0612345678,,\n1002,Caf\u00e9,0687654321,,\n", encoding="cp1252")
    assert parsed.rows == ()
    assert [str(problem) for problem in parsed.problems] == ["line 3: not UTF-8 (byte 0xe9); save the file as 'CSV UTF-8'"]


# --- against what the database holds ------------------------------------------------------

ROWS = parse(HEADER + "1001,ACME,0612345678|0201234567,gold,\n1002,Beta,0687654321,,\n").rows


def check(rows=ROWS, *, existing=None, owners=None, slas=("standard", "gold"), update=False) -> list[str]:
    return [str(problem) for problem in check_against_existing(
        rows, existing_numbers=existing or {}, phone_owners=owners or {}, sla_names=slas, update=update)]


def test_new_customers_with_known_slas_and_free_numbers_pass():
    assert check() == []


def test_an_existing_customer_number_is_refused_unless_updating():
    assert check(existing={"1001": "ACME B.V."}) == [
        "line 2, column customer_number: '1001' exists already (ACME B.V.); --update replaces its name, phones, SLA and notes"
    ]
    assert check(existing={"1001": "ACME B.V."}, owners={"+31612345678": "1001"}, update=True) == []


def test_an_unknown_sla_is_named_with_the_known_ones():
    assert check(slas=("standard",)) == ["line 2, column sla: 'gold': no such SLA (known: standard)"]


def test_a_phone_number_of_another_customer_is_refused():
    assert check(existing={"2000": "Gamma"}, owners={"+31687654321": "2000"}) == [
        "line 3, column phones: +31687654321 is a number of customer 2000 already"
    ]
    # Updating does not take a number from a customer the file does not mention.
    assert check(existing={"2000": "Gamma"}, owners={"+31687654321": "2000"}, update=True) == [
        "line 3, column phones: +31687654321 is a number of customer 2000 already"
    ]


def test_a_number_may_move_between_customers_the_file_updates():
    # 1001 had 0687654321; the file gives it to 1002 and 1001 no longer lists it.
    existing = {"1001": "ACME", "1002": "Beta"}
    assert check(existing=existing, owners={"+31687654321": "1001"}, update=True) == []
    assert check(existing=existing, owners={"+31687654321": "1001"}) == [
        "line 2, column customer_number: '1001' exists already (ACME); --update replaces its name, phones, SLA and notes",
        "line 3, column customer_number: '1002' exists already (Beta); --update replaces its name, phones, SLA and notes",
        "line 3, column phones: +31687654321 is a number of customer 1001 already",
    ]


def test_problem_text_without_a_column():
    assert str(ImportProblem(7, None, "broken")) == "line 7: broken"


# --- property: whatever a spreadsheet writes, the same rows come back ----------------------

cell_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30).map(str.strip)


def written(number: str, form: int) -> str:
    """Mobile 06-`number` (8 digits) in one of the ways people write it."""
    return ("06{}", "+316{}", "00316{}", "+31 6 {}", "06 {}", "06-{}")[form].format(number)


customers = st.lists(
    st.tuples(
        st.from_regex(r"[0-9A-Z]{1,10}", fullmatch=True),
        cell_text.filter(bool),
        st.lists(st.integers(min_value=0, max_value=5), max_size=3),  # how each phone is written
        st.sampled_from(["", "standard", "gold"]),
        cell_text,
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda customer: customer[0],
)


@given(customers, st.sampled_from([",", ";"]), st.booleans(), st.sampled_from(["\n", "\r\n"]), st.sampled_from([";", "|"]))
def test_any_delimiter_bom_and_line_ending_give_the_same_rows(rows, delimiter, bom, line_end, phone_separator):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerow(["customer_number", "name", "phones", "sla", "notes"])
    expected = []
    for i, (number, name, forms, sla, notes) in enumerate(rows):
        # Distinct numbers per row and phone: 1<row><phone>45678.
        mobiles = [f"1{i}{j}45678" for j in range(len(forms))]
        writer.writerow([number, name, phone_separator.join(map(written, mobiles, forms)), sla, notes])
        expected.append((number, name, tuple(f"+316{mobile}" for mobile in mobiles), sla or None, notes or None))
    data = ("\ufeff" if bom else "") + buffer.getvalue()

    parsed = parse_customer_csv(data.encode())

    assert parsed.problems == ()
    assert [(row.customer_number, row.name, row.phones, row.sla, row.notes) for row in parsed.rows] == expected
