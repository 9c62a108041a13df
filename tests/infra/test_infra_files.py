"""Fast checks of the shipped cluster infrastructure (nothing is started or built here).

Every YAML/compose file parses; the structure that matters is there (RayJob kind and GPU
limits, GPU worker nodes, loopback-only published ports, no literal secrets); the pins agree
with constraints.txt; and every ``synprune <verb>`` these files and README.md tell users
to run names a real CLI verb (and, once that verb's module exists, only flags it accepts);
``mlflow server`` and ``ray`` commands use only options the installed CLIs accept.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synprune.cli import main as cli

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
DOCS = REPO / "README.md"
YAML_FILES = sorted([*INFRA.glob("*.yaml"), *INFRA.glob("*.yml")])
# Files whose text tells users (or machines) to run synprune commands.
COMMAND_FILES = [*YAML_FILES, INFRA / "Dockerfile", DOCS]

# Names whose values are secrets (access key *ids* and user names are not).
SECRET_KEY = re.compile(r"(PASSWORD|SECRET|TOKEN)", re.IGNORECASE)


def _load(name: str) -> Any:
    return yaml.safe_load((INFRA / name).read_text())


def _pin(package: str) -> str:
    """Version of ``package`` pinned in constraints.txt."""
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package.lower():
            return version.strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, scalar) leaf of a parsed YAML document."""
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _walk(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _walk(v, f"{path}[{i}]")]
    return [(path, node)]


# ---------------------------------------------------------------------------- parsing


def test_expected_files_are_shipped() -> None:
    for name in [
        "ray-cluster.yaml",
        "kuberay-rayjob.yaml",
        "kuberay-networkpolicy.yaml",
        "compose.yaml",
        "Dockerfile",
        ".env.example",
        "local-cluster.sh",
        "ray_loopback.py",
    ]:
        assert (INFRA / name).is_file(), f"infra/{name} missing"
    assert DOCS.is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_every_yaml_file_parses_to_a_mapping(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(d, dict) for d in docs), f"{path.name}: not a YAML mapping"


def test_local_cluster_script_is_valid_bash() -> None:
    script = INFRA / "local-cluster.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert script.stat().st_mode & 0o111, "local-cluster.sh must be executable"
    # Never the machine-wide hammer: it would kill other users' Ray instances.
    assert not re.search(r"^\s*[^#\n]*\bray stop\b", text, re.MULTILINE)
    for verb in ["up", "down", "status", "stop-worker", "start-worker", "restart-mlflow"]:
        assert re.search(rf"^\s+{re.escape(verb)}\)", text, re.MULTILINE), verb


# ---------------------------------------------------------------------------- Ray launcher


def test_ray_cluster_config_validates_against_rays_schema() -> None:
    import jsonschema
    import ray.autoscaler

    config = _load("ray-cluster.yaml")
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    assert config["head_node_type"] in config["available_node_types"]


def test_ray_cluster_has_gpu_workers_and_cpu_head() -> None:
    config = _load("ray-cluster.yaml")
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_workers = [
        t
        for name, t in types.items()
        if name != config["head_node_type"] and t.get("resources", {}).get("GPU", 0) >= 1
    ]
    assert gpu_workers, "no worker node type with a GPU"
    for worker in gpu_workers:
        assert worker["max_workers"] >= 1
        assert worker["resources"]["CPU"] >= 1


def test_ray_cluster_installs_pinned_torch_before_synprune() -> None:
    config = _load("ray-cluster.yaml")
    commands = [
        *config.get("setup_commands", []),
        *config.get("head_setup_commands", []),
        *config.get("worker_setup_commands", []),
    ]
    torch_at = next(i for i, c in enumerate(commands) if f"torch=={_pin('torch')}" in c)
    synprune_at = next(
        i
        for i, c in enumerate(commands)
        if "synprune" in c and "pip install" in c and i != torch_at
    )
    assert torch_at < synprune_at
    assert all(
        "-c " in c and "constraints.txt" in c for c in (commands[torch_at], commands[synprune_at])
    )
    assert config["docker"]["image"].startswith(f"rayproject/ray:{_pin('ray')}")


def test_ray_cluster_start_commands_use_current_syntax() -> None:
    config = _load("ray-cluster.yaml")
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    assert "ray start --head" in head and "--autoscaling-config=~/ray_bootstrap_config.yaml" in head
    assert "--dashboard-host=127.0.0.1" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    run_options = " ".join(config["docker"]["run_options"])
    assert "MLFLOW_TRACKING_URI=http" in run_options


# ---------------------------------------------------------------------------- KubeRay


def test_rayjob_structure() -> None:
    job = _load("kuberay-rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1"
    assert job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["entrypoint"].split() == [
        "synprune",
        "sweep",
        "--config",
        "configs/paper.toml",
        "--tracking-uri",
        "http://mlflow:5000",
    ]
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == _pin("ray")
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    workers = cluster["workerGroupSpecs"]
    assert workers
    for group in workers:
        container = group["template"]["spec"]["containers"][0]
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
        assert container["image"] == head["image"]


def test_rayjob_credentials_come_from_a_secret() -> None:
    job = _load("kuberay-rayjob.yaml")
    cluster = job["spec"]["rayClusterSpec"]
    containers = [cluster["headGroupSpec"]["template"]["spec"]["containers"][0]] + [
        g["template"]["spec"]["containers"][0] for g in cluster["workerGroupSpecs"]
    ]
    for container in containers:
        env = {e["name"]: e for e in container["env"]}
        for name in ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]:
            assert "value" not in env[name], f"{name} must not be a literal"
            assert env[name]["valueFrom"]["secretKeyRef"]["name"]
        assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"


def test_rayjob_head_is_closed_to_other_namespaces() -> None:
    """The head's dashboard (which runs submitted code) binds the pod network for the
    submitter, so a NetworkPolicy admits only this namespace's pods to the head's ports, and
    the manifest says how to turn on Ray's token auth."""
    policy = _load("kuberay-networkpolicy.yaml")
    assert policy["kind"] == "NetworkPolicy"
    assert policy["spec"]["podSelector"]["matchLabels"] == {"ray.io/node-type": "head"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {}}]  # same namespace only
    assert {p["port"] for p in rule["ports"]} >= {6379, 8265, 10001}
    text = (INFRA / "kuberay-rayjob.yaml").read_text()
    assert "kuberay-networkpolicy.yaml" in text and "RAY_AUTH_MODE" in text


# ---------------------------------------------------------------------------- compose


def test_compose_services_and_loopback_ports() -> None:
    compose = _load("compose.yaml")
    services = compose["services"]
    assert {"mlflow", "postgres", "minio", "create-bucket"} <= set(services)
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):  # long syntax
                port = f"{port.get('host_ip')}:{port.get('published')}"
            text = str(port)
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port!r} beyond loopback"
    assert published >= 1
    assert "ports" not in services["postgres"], "PostgreSQL should stay on the compose network"


def test_compose_mlflow_command() -> None:
    command = _load("compose.yaml")["services"]["mlflow"]["command"]
    args = command if isinstance(command, list) else command.split()
    assert args[:2] == ["mlflow", "server"]

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert value("--backend-store-uri").startswith("postgresql+psycopg2://")
    assert value("--artifacts-destination").startswith("s3://")
    assert "--serve-artifacts" in args
    assert "mlflow:5000" in value("--allowed-hosts").split(",")
    # The store URI carries no password (libpq takes PGPASSWORD from the environment).
    userinfo = value("--backend-store-uri").split("//", 1)[1].split("@")[0]
    assert ":" not in re.sub(r"\$\{[^}]*\}", "", userinfo), "password in the store URI"


def test_compose_has_no_literal_secrets() -> None:
    compose = _load("compose.yaml")
    for path, value in _walk(compose):
        key = path.rsplit(".", 1)[-1]
        if SECRET_KEY.search(key):
            assert isinstance(value, str) and value.startswith("${"), (
                f"compose.yaml{path} must come from infra/.env, not a literal"
            )


def test_env_example_holds_no_secret_values() -> None:
    lines = (INFRA / ".env.example").read_text().splitlines()
    entries = dict(
        line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")
    )
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MLFLOW_S3_SECRET_KEY"} <= set(entries)
    for key, value in entries.items():
        if SECRET_KEY.search(key):
            assert value == "", f".env.example gives {key} a value; leave secrets blank"
    # Every variable compose reads is documented in .env.example (or has a default there).
    compose_text = (INFRA / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", compose_text))
    undocumented = {v for v in used if v not in entries and not v.endswith("_IMAGE")}
    assert not undocumented, f"variables missing from .env.example: {sorted(undocumented)}"
    assert ".env" in (INFRA / ".gitignore").read_text().split()


def test_no_literal_secrets_anywhere_in_infra() -> None:
    pattern = re.compile(
        r"(password|secret|token)[\"']?\s*[:=]\s*[\"']?(?!\$|\s|$|\"\s*$|change|<)[A-Za-z0-9+/_-]{8,}",
        re.IGNORECASE,
    )
    for path in [*YAML_FILES, INFRA / "Dockerfile", INFRA / ".env.example"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert not pattern.search(line), f"{path.name}:{n} looks like a literal secret: {line}"


# ---------------------------------------------------------------------------- Dockerfile


def test_dockerfile_pins_torch_first_and_runs_as_non_root() -> None:
    lines = [line.strip() for line in (INFRA / "Dockerfile").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert any(line.startswith("FROM ") for line in code)
    assert f"ARG BASE_IMAGE=rayproject/ray:{_pin('ray')}-py311" in code
    users = [line.split()[1] for line in code if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the image must end as a non-root user"
    text = "\n".join(code)
    torch_at = text.index(f'"torch=={_pin("torch")}"')
    synprune_at = text.index('-c constraints.txt ".[postgres]"')
    assert torch_at < synprune_at
    assert "-c constraints.txt" in text[:torch_at]


# ---------------------------------------------------------------------------- CLI commands
# Every command these files run or tell users to run, as argv lists: YAML ``command`` /
# ``entrypoint`` / ``args`` / healthcheck ``test`` / ``*_commands`` (exec form or shell text),
# Dockerfile RUN / CMD / ENTRYPOINT, indented example commands in comments, and Markdown code.
# Commands of CLIs installed here (synprune, mlflow server, ray) are checked against the real
# argument parsers.

_SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}
_COMMAND_KEYS = {"command", "entrypoint", "args", "test"}
_SPLIT = re.compile(r"&&|\|\||;|\||\n")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def shell_commands(text: str) -> list[list[str]]:
    """Simple commands of a shell text (continuations joined; split at && || ; | newline;
    leading VAR=value and ``exec`` dropped); a quoted argument that is itself a command line
    holding a CLI we check (``ray exec ... "cd x && synprune sweep ..."``) is read too."""
    out: list[list[str]] = []
    text = re.sub(r"\\\n\s*", " ", text)
    for part in _split_outside_quotes(text):
        try:
            argv = shlex.split(part, comments=True)
        except ValueError:
            continue
        while argv and (_ASSIGN.match(argv[0]) or argv[0] == "exec"):
            argv = argv[1:]
        if not argv:
            continue
        out.append(argv)
        for arg in argv[1:]:
            if " " in arg and re.search(r"\b(synprune|mlflow|ray)\s", arg):
                out += shell_commands(arg)
    return out


def _split_outside_quotes(text: str) -> list[str]:
    parts, buf, quote, i = [], [], "", 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
            buf.append(c)
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif m := _SPLIT.match(text, i):
            parts.append("".join(buf))
            buf = []
            i = m.end()
            continue
        else:
            buf.append(c)
        i += 1
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def _comment_commands(text: str) -> list[list[str]]:
    """Example commands in comments: ``#`` + exactly three spaces (``#   docker build ...``),
    with ``\\`` continuation lines; trailing ``# remarks`` dropped."""
    lines: list[str] = []
    going_on = False
    for line in text.splitlines():
        body = re.match(r"^\s*#(\s*)(\S.*)$", line)
        if body and (going_on or body.group(1) == "   "):
            lines.append(re.sub(r"\s{2,}#.*$", "", body.group(2)))
            going_on = lines[-1].endswith("\\")
        else:
            going_on = False
    return shell_commands("\n".join(lines))


def _yaml_commands(node: Any, key: str = "", shell_entry: bool = False) -> list[list[str]]:
    out: list[list[str]] = []
    if isinstance(node, dict):
        entry = node.get("entrypoint")
        shell = isinstance(entry, list) and bool(entry) and entry[0] in _SHELLS
        for k, v in node.items():
            out += _yaml_commands(v, str(k), shell_entry=shell and k == "command")
        return out
    if isinstance(node, list) and key.endswith("_commands"):
        return [argv for item in node if isinstance(item, str) for argv in shell_commands(item)]
    if key not in _COMMAND_KEYS or not node:
        return (
            []
            if not isinstance(node, list)
            else [argv for item in node for argv in _yaml_commands(item, key)]
        )
    if isinstance(node, str):
        return shell_commands(node)
    if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
        return []
    if shell_entry or node[0] == "CMD-SHELL":
        return [argv for item in node[1 if node[0] == "CMD-SHELL" else 0 :]
                for argv in shell_commands(item)]  # fmt: skip
    argv = node[1:] if node[0] == "CMD" else node
    if (
        argv
        and argv[0] in _SHELLS
        and len(argv) >= 3
        and argv[1].startswith("-")
        and "c" in argv[1]
    ):
        return shell_commands(argv[2])
    return [list(argv)] if argv and argv[0] not in _SHELLS else []


def _dockerfile_commands(text: str) -> list[list[str]]:
    text = re.sub(r"\\\n", " ", text)
    out: list[list[str]] = []
    for m in re.finditer(r"^\s*(RUN|CMD|ENTRYPOINT)\s+(.*)$", text, re.MULTILINE):
        body = m.group(2).strip()
        if body.startswith("["):
            out.append(json.loads(body))
        else:
            out += shell_commands(body)
    return out


def _command_texts(path: Path) -> list[str]:
    """Text that holds commands in Markdown: code blocks and `inline code`."""
    text = path.read_text()
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.DOTALL)
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def commands(path: Path) -> list[list[str]]:
    """Every command ``path`` runs or shows, as argv lists."""
    text = path.read_text()
    if path.suffix == ".md":
        return [argv for t in _command_texts(path) for argv in shell_commands(t)]
    found = _comment_commands(text)
    if path.suffix in (".yaml", ".yml"):
        for doc in yaml.safe_load_all(text):
            found += _yaml_commands(doc)
    elif path.name == "Dockerfile":
        found += _dockerfile_commands(text)
    return found


def synprune_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Every ``synprune ...`` invocation in a file: (verb or top-level flag, [flags])."""
    found = []
    for argv in commands(path):
        if argv[0] == "synprune" and len(argv) > 1 and re.fullmatch(r"[a-z][a-z-]*", argv[1]):
            flags = [a.split("=", 1)[0] for a in argv[2:] if a.startswith("--")]
            found.append((argv[1], flags))
        elif argv[0] == "synprune":
            found.append(("", [a.split("=", 1)[0] for a in argv[1:] if a.startswith("-")]))
    return found


def _subparser(verb: str) -> argparse.ArgumentParser | None:
    """The argparse parser of ``verb`` if its module exists yet (the CLI grows verb by verb)."""
    if verb not in cli._available():
        return None
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[verb]
    return None


@pytest.mark.parametrize("path", COMMAND_FILES, ids=lambda p: p.name)
def test_every_file_yields_its_commands(path: Path) -> None:
    found = commands(path)
    assert len(found) > 0, f"{path.name}: no command found"
    assert all(argv and all(isinstance(a, str) for a in argv) for argv in found)


def test_command_extraction_finds_the_known_commands() -> None:
    assert {"sweep", "ui", "stats"} <= {verb for verb, _ in synprune_commands(DOCS)}
    assert ("sweep", ["--config", "--tracking-uri"]) in synprune_commands(
        INFRA / "kuberay-rayjob.yaml"
    )
    compose = commands(INFRA / "compose.yaml")
    assert ["mc", "mb", "--ignore-existing", "local/$$MLFLOW_BUCKET"] in compose
    assert any(argv[:2] == ["mlflow", "server"] and "--serve-artifacts" in argv for argv in compose)
    assert ["pg_isready", "-U", "$${POSTGRES_USER}", "-d", "$${POSTGRES_DB}"] in compose
    assert ["docker", "compose", "-f", "infra/compose.yaml", "--env-file", "infra/.env", "up",
            "-d", "--build"] in compose  # fmt: skip
    docker = commands(INFRA / "Dockerfile")
    assert ["synprune", "--version"] in docker
    assert ["python", "-m", "pip", "install", "-c", "constraints.txt", "torch==2.13.0"] in docker
    ray = commands(INFRA / "ray-cluster.yaml")
    assert ["synprune", "sweep", "--config", "configs/paper.toml", "--address", "auto"] in ray
    assert any(argv[:3] == ["ray", "start", "--head"] for argv in ray)


@pytest.mark.parametrize("path", COMMAND_FILES, ids=lambda p: p.name)
def test_synprune_commands_name_real_verbs_and_flags(path: Path) -> None:
    top = set(cli.build_parser()._option_string_actions)
    for verb, flags in synprune_commands(path):
        if verb == "":
            unknown = [f for f in flags if f not in top]
            assert not unknown, f"{path.name}: synprune has no option(s) {unknown}"
            continue
        assert verb in cli.COMMANDS, f"{path.name}: 'synprune {verb}' is not a CLI verb"
        sub = _subparser(verb)
        if sub is None:
            continue  # verb not implemented yet: the verb name is all we can check
        known = set(sub._option_string_actions)
        unknown = [f for f in flags if f not in known]
        assert not unknown, f"{path.name}: 'synprune {verb}' has no option(s) {unknown}"


@pytest.mark.parametrize("path", COMMAND_FILES, ids=lambda p: p.name)
def test_mlflow_server_and_ray_commands_use_real_options(path: Path) -> None:
    """``mlflow server`` and ``ray <verb>`` as installed (constraints.txt pins both)."""
    from mlflow.cli import server
    from ray.scripts.scripts import cli as ray_cli

    for argv in commands(path):
        if argv[:2] == ["mlflow", "server"]:
            known = {o for p in server.params for o in (*p.opts, *p.secondary_opts)}
            flags = [a.split("=", 1)[0] for a in argv[2:] if a.startswith("-")]
            assert not set(flags) - known, f"{path.name}: mlflow server has no {set(flags) - known}"
        elif argv[0] == "ray" and len(argv) > 1:
            assert argv[1] in ray_cli.commands, f"{path.name}: 'ray {argv[1]}' is no ray command"
            params = ray_cli.commands[argv[1]].params
            known = {o for p in params for o in (*p.opts, *p.secondary_opts)}
            flags = [a.split("=", 1)[0] for a in argv[2:] if a.startswith("--")]
            assert not set(flags) - known, f"{path.name}: ray {argv[1]} has no {set(flags) - known}"
