"""The README documents what the code does: its settings table and its two commands."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from nachtdienst.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_settings_table_matches_the_settings():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", readme, re.S)
    assert block, "README has no settings table"
    generated = CliRunner().invoke(app, ["config", "reference"]).stdout.strip()
    assert block.group(1).strip() == generated, "run `nachtdienst config reference` and paste it into the README"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["scripts/run.sh", "scripts/test.sh"]
    for command in commands:
        assert (REPO / command).stat().st_mode & 0o111, f"{command} is not executable"
    ci = (REPO / ".ci" / "run").read_text()
    # The README's test command, as written (its comment too), is a line of its own in CI's script.
    written = [line.strip() for line in first_block.splitlines() if line.strip()][1]
    assert written.startswith(commands[1])
    assert written in [line.strip() for line in ci.splitlines()]
