"""Cold starts of the configuration `template.yaml` deploys, next to the others, in one run.

A fresh process per sample is started the way Lambda starts a function: with
AWS_LAMBDA_RUNTIME_API pointing at a Runtime API emulator (`RuntimeApi`, below) that
hands it two events, one after the other. It records:

- ready: process spawn until the function first asks for an event (`GET .../next`),
  i.e. Lambda's Init phase;
- first, second: from handing out an event until its response arrives.

Configurations (each a fresh process per sample):

- `aws-tls`: what `template.yaml` deploys: items in DynamoDB and the bearer token in
  Secrets Manager, both moto_server on 127.0.0.1 behind a local TLS endpoint (stunnel,
  with a certificate from a test CA generated here; the SDK trusts it through
  SSL_CERT_FILE, boto3 through AWS_CA_BUNDLE). DynamoDB is reached as 127.0.0.1 and
  Secrets Manager as localhost, so, as on AWS, they are two hosts with two TLS
  connections (one name would let the SDK reuse one connection for both).
- `sqlite`: the service with its SQLite store (a seeded file) and the token from the
  environment.
- `bare`: the ceiling, `benches/bare-lambda` (lambda_http + axum, static health JSON).
- `python-aws-tls`: the Python original under awslambdaric (the runtime interface client
  of AWS's Python images) with boto3 against the same emulator: token read at import,
  items in DynamoDB.

`emulator()` times moto alone (a TLS handshake, each call on a warm connection), so
each figure can be split into the emulator's share and ours.

Only 127.0.0.1 is contacted (localhost resolves there through /etc/hosts); every
process is started here and stopped here by its own id.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import queue
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tools"))
from service import free_port, stop  # noqa: E402

EVENTS = ROOT / "tests" / "events"
PY = ROOT / "target" / "py"
PY_REF = ROOT / "benches" / "python-reference"
TOKEN = "fixture-token"  # the token the event fixtures carry
TABLE = "items-bench"
PY_TABLE = "items-python-bench"
REGION = "eu-west-1"
OPERATIONS = ("getHealth", "getItem", "createItem")
# The moto calls each request makes, to split a figure into the emulator's share and
# ours. `new` opens a TLS connection first. Keep in step with the service: the health
# check reads and conditionally writes a probe item; the first write reads the token.
CALLS = {
    "aws-tls": {
        "ready": [("new", "GetItem")],  # the DynamoDB connection warmed during Init
        "getHealth": [("warm", "GetItem"), ("warm", "PutItem")],
        "getItem": [("warm", "GetItem")],
        "createItem.first": [("new", "GetSecretValue"), ("warm", "PutItem")],
        "createItem.second": [("warm", "PutItem")],
    },
    "python-aws-tls": {
        "ready": [("new", "GetSecretValue")],  # the original reads its token at import
        "getHealth": [],
        "getItem.first": [("new", "GetItem")],
        "getItem.second": [("warm", "GetItem")],
        "createItem.first": [("new", "PutItem")],
        "createItem.second": [("warm", "PutItem")],
    },
}


def log(message: str) -> None:
    print(f"== bench: {message}", flush=True)


# --- a test CA and a certificate for 127.0.0.1 and localhost ---------------------------

def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA made here and a server certificate it signs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "items-api bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([
                  x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


# --- the Lambda Runtime API, for one function process at a time -----------------------

class RuntimeApi:
    """The parts of the Lambda Runtime API a function uses: next, response, error."""

    PREFIX = "/2018-06-01/runtime"

    def __init__(self) -> None:
        # One process at a time. Each run is a generation: a connection accepted in an
        # earlier one (a stopped process's keep-alive connection whose last request is
        # read late) gets no event of the current run. (A server per run avoids that
        # too, but its start-up added ~10 ms to every "ready" here.)
        self.generation = 0
        self.events: queue.Queue = queue.Queue()
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.marks: list[tuple[str, float, object]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def setup(self) -> None:
                self.generation = api.generation
                super().setup()

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a process already stopped
                    self.close_connection = True

            def do_GET(self) -> None:
                if self.path != f"{RuntimeApi.PREFIX}/invocation/next":
                    return self._send(404)
                if self.generation != api.generation:
                    self.close_connection = True
                    return self._send(410)
                events, finished = api.events, api.finished
                api.mark("next")
                while True:
                    try:
                        request_id, event = events.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if finished.is_set():
                            self.close_connection = True
                            return self._send(410)
                api.mark("event", request_id)
                deadline = int(time.time() * 1000) + 30_000
                self._send(200, event, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:{REGION}:123456789012:function:items-api-bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
                })

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.generation != api.generation:
                    self.close_connection = True
                    return self._send(410)
                if self.path.endswith("/response"):
                    api.mark("response", json.loads(body))
                elif self.path.endswith("/error"):
                    api.mark("error", body.decode(errors="replace"))
                else:
                    return self._send(404)
                self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def mark(self, kind: str, payload: object = None) -> None:
        with self.lock:
            self.marks.append((kind, time.perf_counter(), payload))

    def close(self) -> None:
        self.finished.set()
        self.server.shutdown()
        self.server.server_close()

    def run(self, command: list[str], env: dict[str, str], events: list[bytes], cwd: Path,
            timeout: float = 30.0) -> dict:
        """Starts `command` as a function, hands it `events` in turn, and times it."""
        self.finished.set()  # the previous run's waiting handlers give up
        with self.lock:
            self.generation += 1
            self.marks = []
            self.events, self.finished = queue.Queue(), threading.Event()
        for event in events:
            self.events.put((str(uuid.uuid4()), event))
        env = {**env, "AWS_LAMBDA_RUNTIME_API": self.address}
        with tempfile.TemporaryFile() as output:
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    with self.lock:
                        done = sum(1 for kind, _, _ in self.marks if kind in ("response", "error"))
                    if done == len(events) or process.poll() is not None:
                        break
                    time.sleep(0.002)
            finally:
                self.finished.set()
                stop(process, timeout=5)
            output.seek(0)
            text = output.read().decode(errors="replace")
        with self.lock:
            marks = list(self.marks)
        nexts = [t for kind, t, _ in marks if kind == "next"]
        handed = [t for kind, t, _ in marks if kind == "event"]
        answers = [(t, p) for kind, t, p in marks if kind in ("response", "error")]
        errors = [p for kind, _, p in marks if kind == "error"]
        if errors or len(answers) != len(events) or not nexts:
            raise SystemExit(f"cold start of {command[0]} failed: {errors or 'no answer'} "
                             f"(marks: {[(k, round(t - started, 4)) for k, t, _ in marks]})\n{text[-3000:]}")
        statuses = [p.get("statusCode") for _, p in answers]
        return {
            "ready": nexts[0] - started,
            "requests": [answer - handed[i] for i, (answer, _) in enumerate(answers)],
            "statuses": statuses,
        }


# --- the emulator ---------------------------------------------------------------------

class Moto:
    """moto on 127.0.0.1 behind a local TLS endpoint: stunnel (Debian's `stunnel4`)
    terminates TLS with the test CA's certificate and forwards plain HTTP to moto's
    application, served with keep-alive (benches/moto_keepalive.py). moto_server's own
    TLS mode answered each call ~11 ms slower than plain HTTP on this machine and, like
    its plain mode, closes every connection after one response."""

    def __init__(self, certs: tuple[Path, Path, Path], directory: Path) -> None:
        self.ca, cert, key = certs
        moto_port, self.port = free_port(), free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.secrets_endpoint = f"https://localhost:{self.port}"
        self.processes = [subprocess.Popen(
            [str(PY / "bin" / "python"), str(ROOT / "benches" / "moto_keepalive.py"), str(moto_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
        config = directory / "stunnel.conf"
        config.write_text("\n".join([
            "foreground = yes", "pid =", "debug = 3",
            "socket = l:TCP_NODELAY=1", "socket = r:TCP_NODELAY=1",
            "[moto]", f"accept = 127.0.0.1:{self.port}", f"connect = 127.0.0.1:{moto_port}",
            f"cert = {cert}", f"key = {key}", ""]))
        self.processes.append(subprocess.Popen([shutil.which("stunnel4") or "stunnel", str(config)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while True:
            try:
                self.touch()
                break
            except OSError:
                if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                    self.close()
                    raise SystemExit("moto_server or stunnel did not start")
                time.sleep(0.1)

    def touch(self) -> None:
        """One request through the TLS endpoint. Before each sample, so that no sample
        pays for waking an idle emulator (the first function after a pause measured
        ~5 ms slower to ready); DynamoDB is never idle."""
        context = ssl.create_default_context(cafile=str(self.ca))
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=2)
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
        connection.close()

    def client_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "AKIAFAKEBENCH", "AWS_SECRET_ACCESS_KEY": "fake-bench-secret",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.secrets_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SSL_CERT_FILE": str(self.ca), "AWS_CA_BUNDLE": str(self.ca),
        }

    def close(self) -> None:
        for process in self.processes:
            stop(process)


def boto3_client(moto: Moto, service: str):
    import boto3
    env = moto.client_env()
    return boto3.client(service, region_name=REGION, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], verify=str(moto.ca),
                        endpoint_url=moto.endpoint if service == "dynamodb" else moto.secrets_endpoint)


def emulator(moto: Moto, secret_arn: str, item_id: str, runs: int) -> dict:
    """moto's own time, seen from a minimal client: a TLS handshake, and each call the
    service makes on a warm connection (signed once, so no client work is timed)."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    env = moto.client_env()
    credentials = botocore.credentials.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    probe = {"pk": {"S": "HEALTH"}, "id": {"S": "write-probe"}}
    bodies = {
        "GetItem": ("dynamodb", "DynamoDB_20120810.GetItem",
                    {"TableName": TABLE, "Key": {"pk": {"S": "ITEM"}, "id": {"S": item_id}}, "ConsistentRead": True}),
        "PutItem": ("dynamodb", "DynamoDB_20120810.PutItem",
                    {"TableName": TABLE, "Item": {**probe, "bench": {"S": "x"}},
                     "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(pk)"}),
        "GetSecretValue": ("secretsmanager", "secretsmanager.GetSecretValue", {"SecretId": secret_arn}),
    }
    context = ssl.create_default_context(cafile=str(moto.ca))
    results: dict[str, list[float]] = {"handshake": []}
    for name in bodies:
        results[name] = []
    for _ in range(runs):
        started = time.perf_counter()
        sock = socket.create_connection(("127.0.0.1", moto.port))
        tls = context.wrap_socket(sock, server_hostname="localhost")
        results["handshake"].append(time.perf_counter() - started)
        tls.close()
        for name, (service, target, body) in bodies.items():
            request = botocore.awsrequest.AWSRequest(
                method="POST", url=moto.endpoint + "/", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/x-amz-json-1.0" if service == "dynamodb"
                         else "application/x-amz-json-1.1", "X-Amz-Target": target})
            botocore.auth.SigV4Auth(credentials, service, REGION).add_auth(request)
            prepared = request.prepare()
            connection = http.client.HTTPSConnection("127.0.0.1", moto.port, context=context)
            connection.connect()
            for attempt in range(2):  # the second is on a warm connection: the one timed
                started = time.perf_counter()
                connection.request("POST", "/", body=prepared.body, headers=dict(prepared.headers))
                response = connection.getresponse()
                response.read()
                if attempt == 1:
                    results[name].append(time.perf_counter() - started)
            connection.close()
    return {name: ms(samples) for name, samples in results.items()}


def emulator_share(calls: list[tuple[str, str]], alone: dict) -> float:
    return round(sum(alone[call] + (alone["handshake"] if kind == "new" else 0) for kind, call in calls), 2)


# --- events ---------------------------------------------------------------------------

def rest_event(name: str, method: str | None = None, path: str | None = None) -> bytes:
    event = json.loads((EVENTS / name).read_text())
    if path is not None:
        event.update(httpMethod=method, path=path, body=None, isBase64Encoded=False,
                     pathParameters={"proxy": path.lstrip("/")})
        event["requestContext"].update(httpMethod=method, path="/prod" + path, resourcePath="/{proxy+}")
    return json.dumps(event).encode()


def ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


# --- the run ----------------------------------------------------------------------------

def function_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {
        **keep,
        "AWS_LAMBDA_FUNCTION_NAME": "items-api-bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/items-api-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]bench", "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_REGION": REGION, "LOG_LEVEL": "info",
        **extra,
    }


def seed(moto: Moto, rust: Path, sqlite_path: Path) -> dict:
    """The table, the secret and one item per store; returns what the runs need."""
    env = {**os.environ, **moto.client_env(), "ITEMS_TABLE": TABLE, "AWS_ENDPOINT_URL": moto.endpoint}
    subprocess.run([str(rust), "create-table"], env=env, check=True, stdout=subprocess.DEVNULL)
    secret_arn = boto3_client(moto, "secretsmanager").create_secret(
        Name=f"items-api/bench-{uuid.uuid4().hex[:8]}", SecretString=TOKEN)["ARN"]

    def create(env: dict[str, str]) -> str:
        done = subprocess.run([str(rust), "invoke", str(EVENTS / "rest-v1-create-item.json")],
                              env={**env, "API_TOKEN": TOKEN}, check=True, capture_output=True, text=True)
        return json.loads(json.loads(done.stdout)["body"])["id"]

    dynamo_item = create(env)
    sqlite_item = create({**os.environ, "DATABASE_PATH": str(sqlite_path)})
    dynamodb = boto3_client(moto, "dynamodb")
    dynamodb.create_table(TableName=PY_TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    python_item = str(uuid.uuid4())
    stamp = "2026-11-26T00:00:00.000000Z"
    dynamodb.put_item(TableName=PY_TABLE, Item={"id": {"S": python_item}, "name": {"S": "seed"},
                                                "created_at": {"S": stamp}, "updated_at": {"S": stamp}})
    return {"secret_arn": secret_arn, "dynamo_item": dynamo_item, "sqlite_item": sqlite_item,
            "python_item": python_item}


def cold_starts(rust: Path, bare: Path, runs: int, variants: dict[str, Path] | None = None) -> dict:
    """Every configuration × operation, `runs` fresh processes each, interleaved so
    that the machine's drift touches all alike; medians in ms. `variants` adds the
    AWS and SQLite configurations of other builds (label → binary), to compare changes
    in one run."""
    with tempfile.TemporaryDirectory(prefix="items-api-cold-") as tmp:
        tmp = Path(tmp)
        certs = make_certificates(tmp)
        moto = Moto(certs, tmp)
        api = RuntimeApi()
        try:
            seeded = seed(moto, rust, tmp / "items.db")
            aws = {**moto.client_env(), "ITEMS_TABLE": TABLE, "API_TOKEN_SECRET_ARN": seeded["secret_arn"]}
            configurations = {
                "aws-tls": ([str(rust)], function_env(aws), seeded["dynamo_item"], ROOT),
                "sqlite": ([str(rust)], function_env({"DATABASE_PATH": str(tmp / "items.db"), "API_TOKEN": TOKEN}),
                           seeded["sqlite_item"], ROOT),
                # lambda_http keeps the REST stage in the path unless told not to.
                "bare": ([str(bare)], function_env({"AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true"}), None, ROOT),
                "python-aws-tls": (
                    [str(PY / "bin" / "python"), "-m", "awslambdaric", "app.lambda_handler"],
                    function_env({**aws, "ITEMS_TABLE": PY_TABLE, "LOG_LEVEL": "INFO",
                                  "PYTHONDONTWRITEBYTECODE": "1"}),
                    seeded["python_item"], PY_REF),
            }
            if not bare.exists():  # `--bare` of a build that has none
                del configurations["bare"]
            for label, binary in (variants or {}).items():
                for base in ("aws-tls", "sqlite"):
                    configurations[f"{base} {label}"] = ([str(binary)], *configurations[base][1:])
            samples: dict = {}
            for round_ in range(runs + 1):  # round 0 warms the page cache and is dropped
                for config, (command, env, item, cwd) in configurations.items():
                    # The first function of a configuration in a round measured slower
                    # to ready (~5 ms, whatever the build or store): rotating the order
                    # spreads that over every operation instead of charging getHealth.
                    turn = round_ % len(OPERATIONS)
                    for operation in OPERATIONS[turn:] + OPERATIONS[:turn]:
                        if config == "bare" and operation != "getHealth":
                            continue
                        event = {
                            "getHealth": rest_event("rest-v1-get-health.json"),
                            "getItem": rest_event("rest-v1-get-health.json", "GET", f"/api/items/{item}"),
                            "createItem": rest_event("rest-v1-create-item.json"),
                        }[operation]
                        if "aws" in config:
                            moto.touch()
                        timed = api.run(command, env, [event, event], cwd)
                        expected = 201 if operation == "createItem" else 200
                        if timed["statuses"] != [expected, expected]:
                            raise SystemExit(f"{config} {operation} answered {timed['statuses']}")
                        if round_ == 0:
                            continue
                        entry = samples.setdefault(config, {}).setdefault(operation, {"ready": [], "first": [],
                                                                                       "second": []})
                        entry["ready"].append(timed["ready"])
                        entry["first"].append(timed["requests"][0])
                        entry["second"].append(timed["requests"][1])
            alone = emulator(moto, seeded["secret_arn"], seeded["dynamo_item"], max(runs, 5))
        finally:
            api.close()
            moto.close()
    results: dict = {"emulator_ms": alone}
    for config, operations in samples.items():
        results[config] = {}
        for operation in (o for o in OPERATIONS if o in operations):
            entry = operations[operation]
            row = {phase: ms(values) for phase, values in entry.items()}
            row["total"] = round(row["ready"] + row["first"], 2)
            calls = CALLS.get(config)
            if calls:
                row["emulator"] = {
                    "ready": emulator_share(calls["ready"], alone),
                    "first": emulator_share(calls.get(f"{operation}.first", calls.get(operation, [])), alone),
                    "second": emulator_share(calls.get(f"{operation}.second", calls.get(operation, [])), alone),
                }
            results[config][operation] = row
            log(f"cold {config} {operation}: {row}")
    log(f"emulator alone (ms): {alone}")
    return results


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="cold starts only (make bench runs them too)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "items-api"))
    parser.add_argument("--bare", default=str(ROOT / "target" / "release" / "examples" / "bare-lambda"))
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=BINARY",
                        help="also time the AWS and SQLite configurations of another build (repeatable)")
    parser.add_argument("--out", type=Path, help="write the results here (JSON) instead of stdout")
    args = parser.parse_args()
    variants = {label: Path(binary) for label, binary in (v.split("=", 1) for v in args.variant)}
    results = json.dumps(cold_starts(Path(args.binary), Path(args.bare), args.runs, variants), indent=2)
    if args.out:
        args.out.write_text(results + "\n")
    else:
        print(results)
