"""A real Synapse homeserver for tests: generated into a temp dir, patched to stay on
127.0.0.1 (no federation, no key servers, no stats), started as a subprocess and stopped.

Synapse lives in its own virtualenv, named by RASD_SYNAPSE_PYTHON, never in Rasd's."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import yaml

ENV_VAR = "RASD_SYNAPSE_PYTHON"
SETUP_HINT = (
    "python3 -m venv /tmp/synapse-venv && /tmp/synapse-venv/bin/pip install matrix-synapse; "
    f"then {ENV_VAR}=/tmp/synapse-venv/bin/python"
)
SERVER_NAME = "localhost"
GENERATE_TIMEOUT = 60.0
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0

_RELAXED = {"per_second": 1000, "burst_count": 1000}


def synapse_python() -> tuple[str | None, str]:
    """(python that can import synapse, "") or (None, why not)."""
    python = os.environ.get(ENV_VAR, "")
    if not python:
        return None, f"{ENV_VAR} is not set; to run against a real Synapse: {SETUP_HINT}"
    try:
        probe = subprocess.run(
            [python, "-c", "import synapse; print(synapse.__version__)"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{ENV_VAR}={python} cannot run: {exc}; {SETUP_HINT}"
    if probe.returncode != 0:
        return None, f"{ENV_VAR}={python} cannot import synapse; {SETUP_HINT}"
    return python, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def patch_config(config: dict[str, Any], port: int, home: Path) -> dict[str, Any]:
    """The generated config, made local-only, SQLite-backed and unthrottled."""
    return {
        **config,
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(home / "homeserver.db")}},
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "enable_registration": False,
        "enable_metrics": False,
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        "rc_message": _RELAXED,
        "rc_registration": _RELAXED,
        "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
        "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
    }


class SynapseHome:
    """`with SynapseHome(python, tmp_dir) as hs:` a running homeserver at `hs.base_url`."""

    def __init__(self, python: str, home: Path) -> None:
        self.python = python
        self.home = home
        self.config_path = home / "homeserver.yaml"
        self.log_path = home / "stdout.log"
        self.port = 0
        self.started_in = 0.0  # seconds from spawn to /versions answering
        self._process: subprocess.Popen[bytes] | None = None
        self._secret = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SynapseHome:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def generate(self) -> None:
        subprocess.run(
            [
                self.python,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(self.config_path),
                "--data-directory",
                str(self.home),
                "--generate-config",
                "--report-stats=no",
            ],
            cwd=self.home,
            check=True,
            capture_output=True,
            timeout=GENERATE_TIMEOUT,
        )
        generated = yaml.safe_load(self.config_path.read_text())
        self.port = free_port()
        config = patch_config(generated, self.port, self.home)
        self._secret = str(config["registration_shared_secret"])
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self) -> None:
        self.generate()
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "synapse.app.homeserver",
                    "--config-path",
                    str(self.config_path),
                ],
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready(began + START_TIMEOUT)
        self.started_in = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise RuntimeError(f"synapse exited {self._process.returncode}:\n{self.tail()}")
                try:
                    if client.get(f"{self.base_url}/_matrix/client/versions").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"synapse not ready after {START_TIMEOUT:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        logs = [self.log_path, self.home / "homeserver.log"]
        text = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    # Client-server API calls a test needs to set the scene and read it back.

    def register(self, user: str, password: str, *, admin: bool = False) -> str:
        """Shared-secret registration (/_synapse/admin/v1/register); returns the user id."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        with httpx.Client(timeout=10.0) as client:
            nonce = client.get(url).raise_for_status().json()["nonce"]
            fields = [nonce, user, password, "admin" if admin else "notadmin"]
            mac = hmac.new(
                self._secret.encode(), "\x00".join(fields).encode(), hashlib.sha1
            ).hexdigest()
            answer = client.post(
                url,
                json={
                    "nonce": nonce,
                    "username": user,
                    "password": password,
                    "admin": admin,
                    "mac": mac,
                },
            )
            return str(answer.raise_for_status().json()["user_id"])

    def login(self, user: str, password: str) -> str:
        """Password login; returns a fresh access token (its own device)."""
        answer = self._call(
            "POST",
            "/_matrix/client/v3/login",
            None,
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
            },
        )
        return str(answer["access_token"])

    def create_room(self, token: str, name: str, *, version: str | None = None) -> str:
        """A private room; `version` None takes the server's default room version."""
        body = {"name": name, **({"room_version": version} if version else {})}
        answer = self._call("POST", "/_matrix/client/v3/createRoom", token, body)
        return str(answer["room_id"])

    def messages(self, token: str, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's m.room.message events, newest first."""
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages?dir=b&limit={limit}"
        chunk = self._call("GET", path, token, None)["chunk"]
        return [event for event in chunk if event["type"] == "m.room.message"]

    def _call(self, method: str, path: str, token: str | None, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(timeout=10.0) as client:
            answer = client.request(method, self.base_url + path, json=body, headers=headers)
            return answer.raise_for_status().json()
