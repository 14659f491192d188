"""Settings come from NACHTDIENST_* and nachtdienst.toml; mistakes fail at start, by name."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings, masked


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("NACHTDIENST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_local_line(tmp_path):
    settings = load_settings()
    assert settings.support_number == "0497842611"
    assert (settings.pbx.sip_bind, settings.pbx.sip_port) == ("127.0.0.1", 5060)
    assert (settings.pbx.ari_bind, settings.pbx.ari_port) == ("127.0.0.1", 8088)
    assert settings.pbx.trunk_addresses == ["127.0.0.1"]
    assert settings.resolved_data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'nachtdienst.db'}"


def test_environment_sets_nested_values(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_PBX__SIP_PORT", "15060")
    monkeypatch.setenv("NACHTDIENST_PBX__TRUNK_ADDRESSES", '["192.0.2.10", "198.51.100.0/24"]')
    settings = load_settings()
    assert settings.pbx.sip_port == 15060
    assert settings.pbx.trunk_addresses == ["192.0.2.10", "198.51.100.0/24"]


def test_toml_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    (tmp_path / "nachtdienst.toml").write_text('support_number = "0201234567"\n[pbx]\nsip_port = 5070\nari_port = 8090\n')
    monkeypatch.setenv("NACHTDIENST_PBX__ARI_PORT", "8099")
    settings = load_settings()
    assert settings.support_number == "0201234567"
    assert settings.pbx.sip_port == 5070
    assert settings.pbx.ari_port == 8099


def test_unknown_environment_variable_is_named(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_SUPORT_NUMBER", "0497842611")
    with pytest.raises(SettingsError, match="unknown setting 'NACHTDIENST_SUPORT_NUMBER'"):
        load_settings()


def test_unknown_nested_variable_is_named(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_PBX__SIP_PROT", "5060")
    with pytest.raises(SettingsError, match="NACHTDIENST_PBX__SIP_PROT"):
        load_settings()


def test_unknown_key_in_toml_is_named_with_the_file(tmp_path):
    (tmp_path / "nachtdienst.toml").write_text("[pbx]\nari_prot = 1\n")
    with pytest.raises(SettingsError, match=r"nachtdienst.toml: unknown setting 'pbx.ari_prot'"):
        load_settings()


def test_invalid_value_names_the_key_and_what_is_expected(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_PBX__SIP_PORT", "fivethousand")
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "NACHTDIENST_PBX__SIP_PORT" in message and "pbx.sip_port" in message
    assert "'fivethousand'" in message and "PJSIP UDP port" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NACHTDIENST_PBX__TRUNK_ADDRESSES", '["not-an-address"]'),
        ("NACHTDIENST_PBX__SIP_BIND", "localhost:5060"),
        ("NACHTDIENST_TIMEZONE", "Europe/Amsterdan"),
        ("NACHTDIENST_SUPPORT_NUMBER", "0497-84x"),
        ("NACHTDIENST_PBX__ASTERISK", "docker"),
        ("NACHTDIENST_OFFICE__SCHEDULE", "mon-fri 17:00-08:30"),
        ("NACHTDIENST_ROSTER__STEP_TIMEOUT", "2"),
        ("NACHTDIENST_ABUSE__WARN_AT", "0"),
    ],
)
def test_bad_values_are_refused(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_office_schedule_typo_names_the_day(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_OFFICE__SCHEDULE", "mon-fry 08:30-17:00")
    with pytest.raises(SettingsError, match="office.schedule.*'fry' is not a weekday"):
        load_settings()


def test_office_schedule_is_kept_in_its_normal_form(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_OFFICE__SCHEDULE", "MON-FRI 8:30-17:00;sat 10:00-12:00")
    assert load_settings().office.schedule == "mon-fri 08:30-17:00; sat 10:00-12:00"


def test_abuse_block_threshold_below_warning_is_refused(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_ABUSE__WARN_AT", "3")
    monkeypatch.setenv("NACHTDIENST_ABUSE__BLOCK_AT", "2")
    with pytest.raises(SettingsError, match="abuse.block_at"):
        load_settings()


def test_broken_toml_is_reported_with_its_path(tmp_path):
    (tmp_path / "nachtdienst.toml").write_text("[pbx\n")
    with pytest.raises(SettingsError, match="nachtdienst.toml: not valid TOML"):
        load_settings()


def test_explicit_config_file_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("NACHTDIENST_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="configuration file not found"):
        load_settings()


def test_secrets_are_masked(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_PBX__ARI_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("NACHTDIENST_DATABASE_URL", "postgresql+psycopg://nd:s3cret@db.example/nachtdienst")
    shown = repr(masked(load_settings()))
    assert "hunter2" not in shown and "s3cret" not in shown
    assert "db.example" in shown


def test_smtp_password_is_masked(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_NOTIFY__SMTP_PASSWORD", "hunter2")
    shown = masked(load_settings())
    assert shown["notify"]["smtp_password"] == "********" and "hunter2" not in str(shown)


def test_a_webhook_that_is_no_url_is_named(monkeypatch):
    monkeypatch.setenv("NACHTDIENST_NOTIFY__WEBHOOK_URLS", '["hooks.example.org/x"]')
    with pytest.raises(SettingsError, match="notify.webhook_urls"):
        load_settings()
