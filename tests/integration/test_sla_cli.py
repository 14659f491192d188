"""`nachtdienst sla …` against SQLite and PostgreSQL: the standard SLA from the first start,
Decimal money refused with one clear line, edits that keep what is not named."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import open_database
from core.models import Sla
from tests.integration.conftest import json_of

STANDARD = {
    "name": "standard",
    "hourly_rate": "95.00",
    "currency": "EUR",
    "after_hours_surcharge_pct": "100.00",
    "after_hours_included": True,
    "response_target_minutes": None,
    "resolution_target_minutes": 240,
    "billing_increment_minutes": 15,
    "billing_minimum_minutes": 0,
    "customers": 0,
}


def slas(nachtdienst) -> dict[str, dict]:
    return {sla["name"]: sla for sla in json_of(nachtdienst("sla", "list", "--json"))}


def test_the_standard_sla_exists_from_the_first_start(nachtdienst):
    [standard] = json_of(nachtdienst("sla", "list", "--json"))
    assert standard == {"id": standard["id"], **STANDARD}


def test_an_sla_added_with_only_a_rate_gets_the_standard_terms(nachtdienst):
    added = nachtdienst("sla", "add", "gold", "--rate", "120.5")
    assert added.exit_code == 0, added.output
    assert added.stdout == ("SLA 'gold' added: EUR 120.50/h + 100.00% after hours, after hours included, "
                            "resolution 240 min, per 15 min, minimum 0 min\n")
    gold = slas(nachtdienst)["gold"]
    assert gold == {**STANDARD, "id": gold["id"], "name": "gold", "hourly_rate": "120.50"}


def test_every_option_of_sla_add(nachtdienst):
    added = nachtdienst("sla", "add", "basic", "--rate", "80", "--surcharge", "50.5", "--no-after-hours",
                        "--response-minutes", "30", "--resolution-minutes", "480", "--increment", "30", "--minimum", "60")
    assert added.exit_code == 0, added.output
    basic = slas(nachtdienst)["basic"]
    assert basic == {
        "id": basic["id"],
        "name": "basic",
        "hourly_rate": "80.00",
        "currency": "EUR",
        "after_hours_surcharge_pct": "50.50",
        "after_hours_included": False,
        "response_target_minutes": 30,
        "resolution_target_minutes": 480,
        "billing_increment_minutes": 30,
        "billing_minimum_minutes": 60,
        "customers": 0,
    }


def test_money_is_kept_exactly_as_decimal(nachtdienst, settings):
    nachtdienst("sla", "add", "odd", "--rate", "0.10", "--surcharge", "0")
    with open_database(settings)() as session:
        odd = session.scalars(select(Sla).where(Sla.name == "odd")).one()
        assert (str(odd.hourly_rate), str(odd.after_hours_surcharge_pct)) == ("0.10", "0.00")


@pytest.mark.parametrize(("rate", "why"), [
    ("abc", "not an amount in euros like 95 or 95.50 (digits, a point for cents)"),
    ("-5", "must not be negative"),
    ("95.555", "more than 2 decimals"),
    ("95,50", "not an amount in euros like 95 or 95.50 (digits, a point for cents)"),
    ("NaN", "not an amount in euros like 95 or 95.50 (digits, a point for cents)"),
    ("1e3", "not an amount in euros like 95 or 95.50 (digits, a point for cents)"),
    ("", "not an amount in euros like 95 or 95.50 (digits, a point for cents)"),
    ("100000000", "more than 99999999.99"),
])
def test_a_bad_rate_is_one_line_naming_it_and_nothing_is_added(nachtdienst, rate, why):
    refused = nachtdienst("sla", "add", "gold", "--rate", rate)
    assert refused.exit_code == 1
    assert refused.stderr == f"error: --rate {rate!r}: {why}\n"
    assert list(slas(nachtdienst)) == ["standard"]


def test_trailing_zeros_are_not_more_decimals(nachtdienst):
    assert nachtdienst("sla", "add", "gold", "--rate", "95.500").exit_code == 0
    assert slas(nachtdienst)["gold"]["hourly_rate"] == "95.50"


@pytest.mark.parametrize(("surcharge", "why"), [("-1", "must not be negative"), ("1000", "more than 999.99"),
                                                ("12.345", "more than 2 decimals"), ("half", "not a percentage like 95 or 95.50 (digits, a point for cents)")])
def test_a_bad_surcharge_is_refused(nachtdienst, surcharge, why):
    refused = nachtdienst("sla", "add", "gold", "--rate", "95", "--surcharge", surcharge)
    assert refused.exit_code == 1
    assert refused.stderr == f"error: --surcharge {surcharge!r}: {why}\n"
    assert list(slas(nachtdienst)) == ["standard"]


@pytest.mark.parametrize("option", [("--increment", "0"), ("--resolution-minutes", "0"), ("--minimum", "-1"), ("--response-minutes", "0")])
def test_minutes_out_of_range_are_refused(nachtdienst, option):
    refused = nachtdienst("sla", "add", "gold", "--rate", "95", *option)
    assert refused.exit_code != 0
    assert option[0] in refused.output
    assert list(slas(nachtdienst)) == ["standard"]


def test_an_sla_name_is_taken_once_and_must_not_be_empty(nachtdienst):
    again = nachtdienst("sla", "add", "standard", "--rate", "10")
    assert again.exit_code == 1
    assert again.stderr == "error: an SLA named 'standard' exists already (change it with `sla edit`)\n"
    empty = nachtdienst("sla", "add", " ", "--rate", "10")
    assert empty.exit_code == 1
    assert empty.stderr == "error: the SLA's name is empty\n"
    assert slas(nachtdienst)["standard"]["hourly_rate"] == "95.00"


def test_edit_changes_what_is_named_and_keeps_the_rest(nachtdienst):
    nachtdienst("sla", "add", "gold", "--rate", "120", "--response-minutes", "30")
    edited = nachtdienst("sla", "edit", "gold", "--rate", "125.25", "--no-after-hours", "--minimum", "30")
    assert edited.exit_code == 0, edited.output
    assert edited.stdout.startswith("SLA 'gold' changed: EUR 125.25/h + 100.00% after hours, after hours not included, response 30 min")
    gold = slas(nachtdienst)["gold"]
    assert (gold["hourly_rate"], gold["after_hours_included"], gold["billing_minimum_minutes"]) == ("125.25", False, 30)
    assert (gold["response_target_minutes"], gold["resolution_target_minutes"], gold["billing_increment_minutes"]) == (30, 240, 15)

    nachtdienst("sla", "edit", "gold", "--after-hours", "--surcharge", "75", "--resolution-minutes", "120", "--increment", "5")
    nachtdienst("sla", "edit", "gold", "--no-response-target")
    gold = slas(nachtdienst)["gold"]
    assert (gold["after_hours_included"], gold["after_hours_surcharge_pct"], gold["resolution_target_minutes"],
            gold["billing_increment_minutes"], gold["response_target_minutes"]) == (True, "75.00", 120, 5, None)


def test_the_standard_sla_can_be_edited(nachtdienst):
    assert nachtdienst("sla", "edit", "standard", "--rate", "99").exit_code == 0
    assert slas(nachtdienst)["standard"]["hourly_rate"] == "99.00"


@pytest.mark.parametrize(("args", "message"), [
    (("sla", "edit", "gold", "--rate", "1"), "error: no SLA named 'gold' (known: standard)\n"),
    (("sla", "edit", "standard"), "error: nothing to change: give at least one option (see `nachtdienst sla edit --help`)\n"),
    (("sla", "edit", "standard", "--rate", "abc"), "error: --rate 'abc': not an amount in euros like 95 or 95.50 (digits, a point for cents)\n"),
    (("sla", "edit", "standard", "--response-minutes", "5", "--no-response-target"),
     "error: --response-minutes and --no-response-target contradict each other\n"),
])
def test_a_bad_edit_is_one_line_and_changes_nothing(nachtdienst, args, message):
    refused = nachtdienst(*args)
    assert refused.exit_code == 1
    assert refused.stderr == message
    assert slas(nachtdienst) == {"standard": {"id": slas(nachtdienst)["standard"]["id"], **STANDARD}}


def test_list_counts_the_customers_of_each_sla(nachtdienst):
    nachtdienst("sla", "add", "gold", "--rate", "120")
    nachtdienst("customers", "add", "ACME", "--number", "1001", "--phone", "0612345678", "--sla", "gold")
    nachtdienst("customers", "add", "Beta", "--number", "1002", "--phone", "0687654321", "--sla", "gold")
    nachtdienst("customers", "add", "Gamma", "--number", "1003", "--phone", "0201234567")
    listed = slas(nachtdienst)
    assert (listed["gold"]["customers"], listed["standard"]["customers"]) == (2, 1)
    assert [sla["name"] for sla in json_of(nachtdienst("sla", "list", "--json"))] == ["gold", "standard"]


def test_list_without_json_is_a_table(nachtdienst):
    nachtdienst("sla", "add", "gold", "--rate", "120", "--no-after-hours")
    table = nachtdienst("sla", "list")
    assert table.exit_code == 0
    for shown in ("gold", "120.00", "no +100%", "standard", "95.00", "yes +100%", "240 min", "15 min"):
        assert shown in table.stdout
