"""The production deployment holds together. No Docker engine runs here, so this reads
docker-compose.yml, the Dockerfiles, the entrypoint and the env example, and checks them
against the tree, the settings and the `nachtdienst` command."""

from __future__ import annotations

import glob
import http.server
import importlib
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from core.settings import ENV_PREFIX, Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
# Every long-running part of the line; each needs its own container.
EXPECTED_SERVICES = {"postgres", "asterisk", "ari-app", "agi", "notify", "transcribe"}
# What the images must run; the extractor below must find at least these.
EXPECTED_COMMANDS = {("pbx", "render"), ("pbx", "status"), ("service", "ari"), ("service", "notify"), ("service", "transcribe"), ("service", "agi")}


# --- reading the files -------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def env_files(service: dict) -> list[str]:
    value = service.get("env_file", [])
    entries = [value] if isinstance(value, str) else value
    return [entry if isinstance(entry, str) else entry["path"] for entry in entries]


def read_env_example(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(set, documented but commented out) variables of an env file, as compose reads them."""
    active: dict[str, str] = {}
    optional: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        commented = re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=(.*)", stripped)
        if commented:
            optional[commented.group(1)] = commented.group(2)
            continue
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{path.name}:{number}: not NAME=value: {line!r}"
        # compose would cut these or interpolate them: the example says values are literal.
        assert " #" not in value and "$" not in value, f"{path.name}:{number}: value compose would change"
        active[name] = value
    return active, optional


def example_for(env_file: str) -> Path:
    return REPO / f"{env_file}.example"


def service_environment(service: dict, with_optional: bool = False) -> dict[str, str]:
    """The variables a container gets: its env files' examples, then its `environment:`."""
    env: dict[str, str] = {}
    for env_file in env_files(service):
        active, optional = read_env_example(example_for(env_file))
        env.update(active)
        if with_optional:
            env.update(optional)
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    env.update({name: str(value) for name, value in environment.items()})
    return env


def settings_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray nachtdienst.toml
    try:
        return load_settings()
    except SettingsError as exc:
        pytest.fail(f"the deployment's settings are refused:\n{exc}")


def built_services() -> dict[str, dict]:
    return {name: service for name, service in services().items() if "build" in service}


def build_of(service: dict) -> tuple[Path, Path]:
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (REPO / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def copy_sources_and_destinations(dockerfile: Path) -> list[tuple[list[str], str]]:
    copies = []
    for keyword, arguments in dockerfile_instructions(dockerfile):
        if keyword not in ("COPY", "ADD"):
            continue
        words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue  # from another stage, not from the context
        paths = [word for word in words if not word.startswith("--")]
        copies.append((paths[:-1], paths[-1]))
    return copies


def dockerignore(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Whether `relative` (or a folder it is in) is left out of the build context, by Docker's
    rules: patterns match from the context's root, `*` within a name, `**` across folders."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        expression = re.sub(
            r"\*\*/|\*\*|\*|\?|[^*?]+",
            lambda m: {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(m.group(), re.escape(m.group())),
            pattern.lstrip("!").strip("/"),
        )
        if any(re.fullmatch(expression, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def published_ports(service: dict) -> list[tuple[range, range, str]]:
    """(host ports, container ports, protocol) of each published port or range."""
    published = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            target = str(entry["target"])
            host = str(entry.get("published", target))
            protocol = entry.get("protocol", "tcp")
        else:
            spec, _, protocol = str(entry).partition("/")
            protocol = protocol or "tcp"
            pieces = spec.rsplit(":", 2)
            target = pieces[-1]
            host = pieces[-2] if len(pieces) >= 2 else target
        published.append((port_range(host), port_range(target), protocol))
    return published


def port_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def command_words(value) -> list[list[str]]:
    """Argument lists from a compose command/entrypoint/healthcheck or a Dockerfile CMD."""
    if value is None:
        return []
    if isinstance(value, str):
        return shell_commands(value)
    if value and value[0] == "CMD-SHELL":
        return shell_commands(" ".join(value[1:]))
    if value and value[0] == "CMD":
        value = value[1:]
    return [list(value)]


def shell_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell text (continuation lines joined), each as its words."""
    commands: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        commands.append([])
        for token in lexer:
            if token in (";", "&&", "||", "|", "&", "(", ")") or (token in ("then", "do", "else") and not commands[-1]):
                commands.append([])
            else:
                commands[-1].append(token)
    return [words for words in commands if words]


def shell_text(path: Path) -> str:
    return path.read_text().replace("\\\n", " ")


def nachtdienst_invocations() -> list[tuple[str, list[str]]]:
    """(where, arguments) of every `nachtdienst …` the deployment runs."""
    found: list[tuple[str, list[str]]] = []
    commands: list[tuple[str, list[str]]] = []
    for name, service in services().items():
        for key in ("command", "entrypoint"):
            commands += [(f"compose {name}.{key}", words) for words in command_words(service.get(key))]
        commands += [
            (f"compose {name}.healthcheck", words)
            for words in command_words(service.get("healthcheck", {}).get("test"))
        ]
    for name, service in built_services().items():
        context, dockerfile = build_of(service)
        for keyword, arguments in dockerfile_instructions(dockerfile):
            if keyword in ("CMD", "ENTRYPOINT", "RUN"):
                words = [json.loads(arguments)] if arguments.startswith("[") else shell_commands(arguments)
                commands += [(f"{dockerfile.name} {keyword}", each) for each in words]
        for sources, _ in copy_sources_and_destinations(dockerfile):
            for source in sources:
                for path in map(Path, glob.glob(str(context / source))):
                    if path.is_file() and path.suffix == ".sh":
                        commands += [(path.name, words) for words in shell_commands(shell_text(path))]
    for where, words in commands:
        if words[0] == "exec":
            words = words[1:]
        if words and (words[0] == "nachtdienst" or words[0].endswith("/bin/nachtdienst")):
            found.append((where, words[1:]))
    return found


# --- the tests ---------------------------------------------------------------------------


def test_compose_runs_every_part_of_the_line():
    assert set(services()) >= EXPECTED_SERVICES


def test_every_build_context_and_dockerfile_exists():
    assert built_services(), "no service is built from this repository"
    for name, service in built_services().items():
        context, dockerfile = build_of(service)
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} does not exist"
        assert dockerfile.is_relative_to(context), f"{name}: {dockerfile} lies outside its context"


def test_asterisk_image_is_debian_testing_with_its_asterisk_packages():
    _, dockerfile = build_of(services()["asterisk"])
    instructions = dockerfile_instructions(dockerfile)
    assert [arguments for keyword, arguments in instructions if keyword == "FROM"] == ["debian:testing-slim"]
    installed = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert re.search(r"apt-get install[^&]*\basterisk\b[^&]*\basterisk-modules\b", installed)


def test_every_copy_source_exists_and_reaches_the_build():
    for name, service in built_services().items():
        context, dockerfile = build_of(service)
        patterns = dockerignore(context)
        copies = copy_sources_and_destinations(dockerfile)
        assert copies, f"{dockerfile.name} copies nothing from the repository"
        for sources, _ in copies:
            for source in sources:
                matches = glob.glob(str(context / source))
                assert matches, f"{dockerfile.name}: COPY source {source} does not exist"
                relative = os.path.relpath(matches[0], context)
                if relative != ".":
                    assert not is_ignored(relative, patterns), f"{dockerfile.name}: {source} is in .dockerignore"


def test_the_build_context_holds_what_pip_install_needs_and_no_secrets():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = ["pyproject.toml", pyproject["project"]["readme"]]
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        needed += [path.name for path in REPO.glob(pattern.removesuffix("*")) if (path / "__init__.py").exists()]
    assert len(needed) > 2
    for name, service in built_services().items():
        context, _ = build_of(service)
        patterns = dockerignore(context)
        for path in needed:
            assert (context / path).exists(), f"{name}: {path} is not in the build context"
            assert not is_ignored(path, patterns), f"{name}: .dockerignore leaves out {path}, which pip install needs"
        for env_file in env_files(service):
            assert is_ignored(env_file, patterns), f"{name}: the secrets in {env_file} would be copied into the image"
        assert is_ignored(".venv", patterns) and is_ignored("data", patterns)


def test_entrypoint_scripts_are_executable():
    for service in built_services().values():
        context, dockerfile = build_of(service)
        for sources, _ in copy_sources_and_destinations(dockerfile):
            for source in sources:
                path = context / source
                if path.is_file() and path.suffix == ".sh":
                    assert os.access(path, os.X_OK), f"{source} is not executable"
                    assert path.read_text().startswith("#!"), f"{source} has no #! line"


def test_every_env_file_has_an_example():
    for name, service in services().items():
        assert env_files(service), f"{name} takes no env file: its secrets would have to be in the compose file"
        for env_file in env_files(service):
            assert example_for(env_file).is_file(), f"{name}: {env_file}.example documents {env_file}; it is missing"


def test_every_variable_and_example_value_is_accepted_by_the_settings(monkeypatch, tmp_path):
    named = set()
    for text in [COMPOSE_FILE.read_text()] + [
        build_of(service)[1].read_text() for service in built_services().values()
    ]:
        named |= set(re.findall(r"\bNACHTDIENST_[A-Z0-9_]+", text))
    for name, service in services().items():
        env = service_environment(service, with_optional=True)
        named -= set(env)
        settings_for(env, monkeypatch, tmp_path)
    assert not named, f"named in the deployment but given no value there: {sorted(named)}"
    # And each variable on its own maps to a setting (a typo would fail load_settings above too).
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {
        f"{ENV_PREFIX}{group.upper()}__{name.upper()}"
        for group in ("pbx", "agi")
        for name in Settings.model_fields[group].annotation.model_fields
    }
    for env_file in {f for service in services().values() for f in env_files(service)}:
        active, optional = read_env_example(example_for(env_file))
        for variable in {**active, **optional}:
            if variable.startswith(ENV_PREFIX):
                assert variable in known, f"{env_file}.example: {variable} is no setting"


def test_published_sip_and_rtp_ports_are_the_ones_asterisk_listens_on(monkeypatch, tmp_path):
    asterisk = services()["asterisk"]
    settings = settings_for(service_environment(asterisk), monkeypatch, tmp_path)
    published = published_ports(asterisk)
    sip = range(settings.pbx.sip_port, settings.pbx.sip_port + 1)
    rtp = range(settings.pbx.rtp_start, settings.pbx.rtp_end + 1)
    assert (sip, sip, "udp") in published, f"SIP {settings.pbx.sip_port}/udp is not published as itself"
    # SDP names the container's port: the host must forward exactly the same numbers.
    assert (rtp, rtp, "udp") in published, f"RTP {settings.pbx.rtp_start}-{settings.pbx.rtp_end}/udp is not published"
    # Published ports arrive on the container's own address, not on its loopback.
    assert ipaddress.ip_address(settings.pbx.sip_bind).is_unspecified


def test_ari_is_reachable_from_the_services_but_not_published(monkeypatch, tmp_path):
    compose_services = services()
    asterisk = settings_for(service_environment(compose_services["asterisk"]), monkeypatch, tmp_path)
    for name, service in compose_services.items():
        for host, target, protocol in published_ports(service):
            assert asterisk.pbx.ari_port not in target and asterisk.pbx.ari_port not in host, (
                f"{name} publishes ARI's port {asterisk.pbx.ari_port}"
            )
    assert not ipaddress.ip_address(asterisk.pbx.ari_bind).is_loopback, "the services could not reach ARI"
    app = settings_for(service_environment(compose_services["ari-app"]), monkeypatch, tmp_path)
    assert app.pbx.ari_host == "asterisk" and "asterisk" in compose_services
    assert app.ari_url == f"http://asterisk:{asterisk.pbx.ari_port}"
    # Two containers, two data directories: a generated password would differ on each side.
    assert app.pbx.ari_password is not None and asterisk.pbx.ari_password is not None, (
        "NACHTDIENST_PBX__ARI_PASSWORD must be set for every container"
    )
    assert app.pbx.ari_password.get_secret_value() == asterisk.pbx.ari_password.get_secret_value()
    assert (app.pbx.ari_user, app.pbx.ari_app) == (asterisk.pbx.ari_user, asterisk.pbx.ari_app)


def test_the_database_is_the_compose_postgres_and_the_services_wait_for_it(monkeypatch, tmp_path):
    from sqlalchemy.engine import make_url

    compose_services = services()
    postgres_env = service_environment(compose_services["postgres"])
    using_database = [name for name in compose_services if name != "postgres"]
    for name in using_database:
        service = compose_services[name]
        url = make_url(settings_for(service_environment(service), monkeypatch, tmp_path).database_url or "")
        assert url.drivername == "postgresql+psycopg", f"{name}: database_url is not PostgreSQL via psycopg"
        assert url.host == "postgres"
        assert (url.username, url.password, url.database) == (
            postgres_env["POSTGRES_USER"],
            postgres_env["POSTGRES_PASSWORD"],
            postgres_env["POSTGRES_DB"],
        ), f"{name}: database_url does not match the postgres service's user, password and database"
        assert service.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy", (
            f"{name} does not wait for postgres to be healthy"
        )


def test_every_service_has_a_healthcheck_and_restarts():
    compose_services = services()
    for name, service in compose_services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and check["test"] != ["NONE"] and not check.get("disable"), f"{name}: no healthcheck"
        assert service.get("restart") in ("unless-stopped", "always"), f"{name} is not restarted"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in compose_services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert compose_services[dependency].get("healthcheck"), f"{dependency} can never become healthy"
    app_waits_for = compose_services["ari-app"]["depends_on"]
    assert app_waits_for["asterisk"]["condition"] == "service_healthy"


def test_healthcheck_files_are_put_into_the_image():
    for name, service in built_services().items():
        _, dockerfile = build_of(service)
        destinations = set()
        for sources, destination in copy_sources_and_destinations(dockerfile):
            destinations |= {destination} | {f"{destination.rstrip('/')}/{Path(s).name}" for s in sources}
        venvs = re.findall(r"-m venv (\S+)", dockerfile.read_text())
        for words in command_words(service["healthcheck"]["test"]):
            for word in words:
                if word.startswith(("/opt/", "/usr/local/")):
                    assert word in destinations or any(word.startswith(v + "/") for v in venvs), (
                        f"{name}: its healthcheck runs {word}, which {dockerfile.name} does not provide"
                    )


def test_volumes_keep_the_data(monkeypatch, tmp_path):
    document = compose()
    declared = set(document.get("volumes") or {})
    mounts: dict[str, dict[str, str]] = {}
    for name, service in document["services"].items():
        for entry in service.get("volumes", []):
            if isinstance(entry, dict):
                source, target = entry.get("source", ""), entry["target"]
            else:
                source, _, target = entry.partition(":")
                target = target.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
            mounts.setdefault(name, {})[target] = source
    assert "/var/lib/postgresql/data" in mounts["postgres"]
    assert "/var/spool/asterisk" in mounts["asterisk"], "voicemail and recordings would be lost"
    app = settings_for(service_environment(document["services"]["ari-app"]), monkeypatch, tmp_path)
    assert str(app.data_dir) in mounts["ari-app"], f"the app's data dir {app.data_dir} is not on a volume"


def test_asterisk_entrypoint_renders_the_standard_layout_before_starting():
    from pbx.render import AsteriskDirs

    _, dockerfile = build_of(services()["asterisk"])
    entrypoints = [json.loads(a) for k, a in dockerfile_instructions(dockerfile) if k == "ENTRYPOINT"]
    copied = {dest: sources for sources, dest in copy_sources_and_destinations(dockerfile)}
    assert entrypoints and entrypoints[-1][0] in copied, "the entrypoint is not a script from the repository"
    script = REPO / copied[entrypoints[-1][0]][0]
    text = shell_text(script)
    assert re.search(r"^set -\w*e", text, re.M), "a failed render must stop the container"
    commands = shell_commands(text)
    render = next(i for i, words in enumerate(commands) if words[:3] == ["nachtdienst", "pbx", "render"])
    start = next(i for i, words in enumerate(commands) if words[:2] == ["exec", "asterisk"])
    assert render < start
    standard = AsteriskDirs.standard()
    etc_dir = commands[render][commands[render].index("--etc-dir") + 1]
    # Asterisk finds asterisk.conf at its compiled-in place, which is the standard layout's.
    assert etc_dir == str(standard.etc)
    assert commands[start][2:] == ["-f", "-U", "asterisk", "-G", "asterisk"]
    for directory in standard.all():
        if directory != standard.etc:
            assert str(directory) in text, f"the entrypoint does not make {directory} (volumes may lack it)"


def test_every_nachtdienst_command_the_deployment_runs_exists():
    invocations = nachtdienst_invocations()
    found = {tuple(words[:2]) for _, words in invocations}
    assert found >= EXPECTED_COMMANDS, f"expected invocations not found; found {sorted(found)}"
    try:
        import typer.main

        from nachtdienst.cli import app
    except Exception as exc:  # noqa: BLE001 - any import failure means the image cannot start
        pytest.fail(f"nachtdienst.cli does not import: {type(exc).__name__}: {exc}")
    root = typer.main.get_command(app)
    for where, words in invocations:
        command, path, rest = root, [], list(words)
        while getattr(command, "commands", None) is not None and rest and not rest[0].startswith("-"):
            name = rest.pop(0)
            assert name in command.commands, f"{where}: `nachtdienst {' '.join(path + [name])}` is no command"
            command, path = command.commands[name], path + [name]
        assert getattr(command, "commands", None) is None, f"{where}: `nachtdienst {' '.join(path)}` needs a subcommand"
        try:
            context = command.make_context(" ".join(["nachtdienst", *path]), list(rest))
        except Exception as exc:  # noqa: BLE001 - click's usage errors
            pytest.fail(f"{where}: `nachtdienst {' '.join(words)}`: {exc}")
        if path == ["service"]:
            from nachtdienst.services import SERVICES

            service = context.params["name"]
            assert service in SERVICES, f"{where}: `nachtdienst service {service}`: no such service"
            module = importlib.import_module(SERVICES[service])
            assert callable(getattr(module, "run", None)), f"{SERVICES[service]} has no run(settings)"


class _FakeAri(http.server.BaseHTTPRequestHandler):
    registered: set[str] = set()

    def do_GET(self):  # noqa: N802 - http.server's naming
        import base64

        expected = "Basic " + base64.b64encode(b"nachtdienst:secret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
        elif self.path.removeprefix("/ari/applications/") in self.registered:
            self.send_response(200)
        else:
            self.send_response(404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _ari_app_healthcheck(data_dir: Path, ari_port: int, *, heartbeat_age: float | None = 1.0) -> subprocess.CompletedProcess:
    """The healthcheck as the container runs it; the app's heartbeat `heartbeat_age` seconds old
    (None: the app never beat)."""
    if heartbeat_age is not None:
        heartbeat = data_dir / "run" / "ari.alive"
        heartbeat.parent.mkdir(parents=True, exist_ok=True)
        heartbeat.touch()
        os.utime(heartbeat, (time.time() - heartbeat_age,) * 2)
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env |= {"PYTHONPATH": str(REPO), "NACHTDIENST_DATA_DIR": str(data_dir), "NACHTDIENST_PBX__ARI_HOST": "127.0.0.1",
            "NACHTDIENST_PBX__ARI_PORT": str(ari_port), "NACHTDIENST_PBX__ARI_PASSWORD": "secret"}  # fmt: skip
    return subprocess.run(
        [sys.executable, str(REPO / "docker" / "ari-app-healthcheck.py")],
        env=env, cwd=data_dir, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("registered", "heartbeat_age", "healthy", "why"),
    [({"nachtdienst"}, 1.0, True, ""), ({"other"}, 1.0, False, "not connected"), (set(), 1.0, False, "not connected"),
     # Registered, but its event loop stopped turning: a hung app keeps its WebSocket.
     ({"nachtdienst"}, 45.0, False, "the app hangs"), ({"nachtdienst"}, None, False, "ari.alive")],
)  # fmt: skip
def test_ari_app_healthcheck_is_healthy_only_while_the_stasis_app_is_connected_and_turning(
    tmp_path, registered, heartbeat_age, healthy, why
):
    _FakeAri.registered = registered
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeAri)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _ari_app_healthcheck(tmp_path, server.server_address[1], heartbeat_age=heartbeat_age)
    finally:
        server.shutdown()
    assert (result.returncode == 0) == healthy, result.stderr
    assert why in result.stderr


def test_ari_app_healthcheck_fails_when_asterisk_is_unreachable(tmp_path):
    result = _ari_app_healthcheck(tmp_path, 1)
    assert result.returncode == 1 and "127.0.0.1:1" in result.stderr
