#!/usr/bin/env python3
"""Start the Items API on 127.0.0.1, wait until it is healthy, run something, stop it.

The one helper every script uses for "free port, start, wait healthy, stop":
contract-tests/run.sh, tests/clients/run.sh and benches/run.py.

As a command, it runs COMMAND against a freshly started service and exits with
COMMAND's status; COMMAND gets BASE_URL (the service's base URL), API_TOKEN and
SERVICE_KIND (`local`, `lambda` or `stage`: what is in front of the service):

    tests/tools/service.py [--lambda | --stage] [--users] [--binary PATH] [--log FILE] \
        [--env NAME=VALUE ...] -- COMMAND [ARG ...]

  --lambda        serve through the local Lambda emulation (`cargo lambda watch`, from
                  the tools venv), so every request becomes a function-URL event
  --stage         serve through the local stage (tests/tools/stage.py): the deployed REST
                  API stage as template.yaml configures it, REST v1 events, DynamoDB and
                  Secrets Manager on moto over TLS; BASE_URL ends with the stage name.
                  Runs the arm64 package (make package) unless --binary names a build
  --users         run with users (AUTH_MODE=jwt) against the test OpenID Connect issuer
                  (tests/tools/oidc_issuer.py, started here): API_TOKEN is user alice's
                  token, PEER_TOKEN user bob's, and WFC_AUTH_FILE a Web Fuzzing Commons
                  auth document naming both (schemathesis' `[auth.wfc]`)
  --binary PATH   run this build instead of building target/debug/items-api
  --log FILE      the service's output (default: a temporary file, shown on failure)
  --env N=V       an extra variable for the service (repeatable; with --stage, for the
                  function, API_TOKEN the token in Secrets Manager)

As a module: `free_port()`, `wait_healthy()`, `Service` (a context manager).
Only 127.0.0.1 is used; the service gets a temporary SQLite file and a random token
unless the environment says otherwise. Only the processes started here are stopped,
by their own id (the emulator by the process group it was started in).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / "target" / "py" / "bin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0,
                 log: Path | None = None) -> None:
    """Polls `url` until it answers 2xx; fails early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode}) before {url} answered"
                               + _tail(log))
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s" + _tail(log))


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "; its last log lines:\n" + "\n".join(text)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM to one process started here, SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def build_debug_binary() -> Path:
    subprocess.run(["cargo", "build", "--quiet", "--bin", "items-api"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "items-api"


class Service:
    """The service on a free port of 127.0.0.1, stopped when the `with` block ends."""

    def __init__(self, *, lambda_mode: bool = False, stage: bool = False, binary: Path | None = None,
                 log: Path | None = None, env: dict[str, str] | None = None,
                 command: list[str] | None = None, health_path: str = "/api/health",
                 timeout: float = 120.0) -> None:
        self.lambda_mode = lambda_mode
        self.stage = stage
        self.binary = binary
        self.extra_env = env or {}
        self.command = command
        self.health_path = health_path
        self.timeout = timeout
        self._workdir = tempfile.TemporaryDirectory(prefix="items-api-")
        self.log = log or Path(self._workdir.name) / "service.log"
        self.port = free_port()
        self.token = self.extra_env.get("API_TOKEN") or secrets.token_hex(24)
        self.process: subprocess.Popen | None = None
        if lambda_mode:
            self.base_url = f"http://127.0.0.1:{self.port}/lambda-url/items-api"
        else:
            self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Service":
        env = {
            **os.environ,
            "DATABASE_PATH": str(Path(self._workdir.name) / "items.db"),
            "API_TOKEN": self.token,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "warn",
            **self.extra_env,
        }
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        if self.command is not None:
            command = [part.replace("{port}", str(self.port)) for part in self.command]
        elif self.stage:
            command = [str(VENV_BIN / "python"), str(ROOT / "tests" / "tools" / "stage.py"),
                       "--port", str(self.port), "--token", self.token]
            if self.binary is not None:
                command += ["--binary", str(self.binary)]
            command += [f"--env={name}={value}" for name, value in self.extra_env.items()
                        if name != "API_TOKEN"]
        elif self.lambda_mode:
            # The binary is built first so the emulator's own `cargo run` starts it at
            # once; --ignore-changes keeps it from restarting the function when a file
            # changes mid-run (a restart drops the request in flight with its own 500).
            build_debug_binary()
            command = ["cargo", "lambda", "watch", "--quiet", "--ignore-changes",
                       "-A", "127.0.0.1", "-P", str(self.port)]
        else:
            binary = self.binary or build_debug_binary()
            env.update({"HOST": "127.0.0.1", "PORT": str(self.port)})
            command = [str(binary)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if self.stage:
                self.base_url = self._stage_url()
            wait_healthy(self.base_url + self.health_path, self.process, self.timeout, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _stage_url(self) -> str:
        """The URL the stage prints (`stage: URL`) once it answers."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("stage: http"):
                    return line.split(" ", 1)[1].strip()
            if self.process.poll() is not None:
                raise RuntimeError(f"the stage exited ({self.process.returncode})" + _tail(self.log))
            time.sleep(0.1)
        raise RuntimeError(f"the stage did not answer within {self.timeout:.0f} s" + _tail(self.log))

    def stop(self) -> None:
        """SIGTERM to the process group started here, SIGKILL after 10 s."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        self._workdir.cleanup()


class Users:
    """Two users of the test issuer, and the service's settings to accept their tokens."""

    AUDIENCE = "items-api-contract"

    def __init__(self, workdir: Path) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from oidc_issuer import Issuer  # the tools' own module, beside this one

        self.issuer = Issuer().__enter__()
        # Two hours: longer than any contract run.
        expiry = int(time.time()) + 7200
        self.tokens = {name: self.issuer.mint({"iss": self.issuer.url, "sub": name, "aud": self.AUDIENCE,
                                                "exp": expiry})
                       for name in ("alice", "bob")}
        self.wfc_file = workdir / "users.wfc.json"
        self.wfc_file.write_text(json.dumps({"auth": [
            {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
            for name, token in self.tokens.items()]}))

    def env(self) -> dict[str, str]:
        return {"AUTH_MODE": "jwt", "JWT_ISSUER": self.issuer.url, "JWT_AUDIENCE": self.AUDIENCE}

    def close(self) -> None:
        self.issuer.__exit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lambda", dest="lambda_mode", action="store_true")
    parser.add_argument("--stage", action="store_true")
    parser.add_argument("--users", action="store_true")
    parser.add_argument("--binary", type=Path)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    env = dict(item.split("=", 1) for item in args.env)
    workdir = tempfile.TemporaryDirectory(prefix="items-api-users-")
    users = Users(Path(workdir.name)) if args.users else None
    if users is not None:
        env.update(users.env())
    try:
        with Service(lambda_mode=args.lambda_mode, stage=args.stage, binary=args.binary, log=args.log,
                     env=env) as service:
            kind = "local stage" if args.stage else "Lambda emulation" if args.lambda_mode else "local"
            print(f"== service: {service.base_url} ({kind})", flush=True)
            # SERVICE_KIND: what is in front of the service (local, lambda, stage).
            child_env = {**os.environ, "BASE_URL": service.base_url, "API_TOKEN": service.token,
                         "SERVICE_KIND": "stage" if args.stage else "lambda" if args.lambda_mode else "local"}
            if users is not None:
                child_env.update({"API_TOKEN": users.tokens["alice"], "PEER_TOKEN": users.tokens["bob"],
                                  "WFC_AUTH_FILE": str(users.wfc_file)})
            return subprocess.run(command, env=child_env).returncode
    except RuntimeError as error:
        print(f"service.py: {error}", file=sys.stderr)
        return 1
    finally:
        if users is not None:
            users.close()
        workdir.cleanup()


if __name__ == "__main__":
    sys.exit(main())
