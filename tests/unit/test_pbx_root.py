"""Files the Debian root gets at each start, so Asterisk inside behaves as on a host."""

from __future__ import annotations

import socket

from pbx.installation import write_hosts


def test_the_root_gets_hosts_with_this_machines_name(tmp_path):
    (tmp_path / "etc").mkdir()
    write_hosts(tmp_path)
    hosts = (tmp_path / "etc" / "hosts").read_text()
    names = {name for line in hosts.splitlines() if line.strip() and not line.startswith("#") for name in line.split()[1:]}
    assert {"localhost", socket.gethostname()} <= names


def test_writing_hosts_again_changes_nothing(tmp_path):
    (tmp_path / "etc").mkdir()
    write_hosts(tmp_path)
    first = (tmp_path / "etc" / "hosts").stat().st_mtime_ns
    write_hosts(tmp_path)
    assert (tmp_path / "etc" / "hosts").stat().st_mtime_ns == first
