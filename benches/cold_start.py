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
- `sqlite-jwt`: the same store with users (`AUTH_MODE=jwt`): JWT_ISSUER is the test
  OpenID Connect issuer (tests/tools/oidc_issuer.py, in this process, plain HTTP on
  127.0.0.1) and the getItem and createItem events carry a JWT minted for one user
  instead of the fixture token (getHealth, as for `sqlite`, carries none); the item
  read is that user's, created through the service. The service reads the issuer's
  discovery document and key set only when the first token needs them, so Init and
  getHealth read nothing, and the first getItem or createItem pays one discovery read
  and one JWKS read over loopback (`issuer_reads`, counted by the issuer per process),
  the second none. Each row also has the `sqlite` row of the same run and the median
  of the differences of each round's pair (`minus_sqlite`), so the JWKS read's share
  is read from one run, whatever the machine's load. `issuer_alone()` times the
  issuer's answers from a minimal client, the issuer's share of that first request.
- `bare`: the ceiling, `benches/bare-lambda` (lambda_http + axum, static health JSON).
- `python-aws-tls`: the Python original under awslambdaric (the runtime interface client
  of AWS's Python images) with boto3 against the same emulator: token read at import,
  items in DynamoDB.

The Runtime API emulator (tests/tools/runtime_api.py) and moto behind TLS
(tests/tools/aws_emulator.py) are the local stage's too.

`emulator()` times moto alone (a TLS handshake, each call on a warm connection), so
each figure can be split into the emulator's share and ours.

Only 127.0.0.1 is contacted (localhost resolves there through /etc/hosts); every
process is started here and stopped here by its own id.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import tempfile
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tools"))
# The Runtime API emulator and moto behind TLS are shared with the local stage.
from aws_emulator import REGION, Moto  # noqa: E402
from oidc_issuer import Issuer  # noqa: E402
from runtime_api import RuntimeApi  # noqa: E402

EVENTS = ROOT / "tests" / "events"
PY = ROOT / "target" / "py"
PY_REF = ROOT / "benches" / "python-reference"
TOKEN = "fixture-token"  # the token the event fixtures carry
JWT_USER = "bench-user"  # the one user of `sqlite-jwt`
JWT_AUDIENCE = "items-api-bench"
TABLE = "items-bench"
PY_TABLE = "items-python-bench"
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


def issuer_alone(issuer: Issuer, runs: int) -> dict:
    """The test issuer's own time for what a first token costs the service: the
    discovery document and the key set, each on a new connection (its HTTP/1.0 server
    closes every one), seen from a minimal client. Its read counters are put back, so
    they still count the service's reads only."""
    counted = dict(issuer.stats)
    port = int(issuer.url.rsplit(":", 1)[1])
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        for path in ("/.well-known/openid-configuration", "/jwks.json"):
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
        samples.append(time.perf_counter() - started)
    issuer.stats.update(counted)
    return {"discovery_and_jwks": ms(samples)}


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


def with_bearer(event: bytes, token: str) -> bytes:
    """`event` with `Authorization: Bearer <token>`, in both header maps as API Gateway
    sends them (the fixture token, if there, replaced)."""
    decoded = json.loads(event)
    decoded["headers"]["Authorization"] = f"Bearer {token}"
    decoded["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    return json.dumps(decoded).encode()


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


def jwt_env(issuer: Issuer) -> dict[str, str]:
    """The service's settings for users whose JWTs `issuer` signs (`sqlite-jwt`)."""
    return {"AUTH_MODE": "jwt", "JWT_ISSUER": issuer.url, "JWT_AUDIENCE": JWT_AUDIENCE}


def seed(moto: Moto, rust: Path, sqlite_path: Path, issuer: Issuer, jwt: str) -> dict:
    """The table, the secret and one item per store (and one of the JWT user's, created
    through the service in jwt mode); returns what the runs need."""
    env = {**os.environ, **moto.client_env(), "ITEMS_TABLE": TABLE, "AWS_ENDPOINT_URL": moto.endpoint}
    subprocess.run([str(rust), "create-table"], env=env, check=True, stdout=subprocess.DEVNULL)
    secret_arn = moto.client("secretsmanager").create_secret(
        Name=f"items-api/bench-{uuid.uuid4().hex[:8]}", SecretString=TOKEN)["ARN"]

    def create(env: dict[str, str], event: Path = EVENTS / "rest-v1-create-item.json") -> str:
        done = subprocess.run([str(rust), "invoke", str(event)],
                              env={**env, "API_TOKEN": TOKEN}, check=True, capture_output=True, text=True)
        return json.loads(json.loads(done.stdout)["body"])["id"]

    dynamo_item = create(env)
    sqlite_item = create({**os.environ, "DATABASE_PATH": str(sqlite_path)})
    jwt_event = sqlite_path.parent / "create-item-jwt.json"
    jwt_event.write_bytes(with_bearer(rest_event("rest-v1-create-item.json"), jwt))
    jwt_item = create({**os.environ, "DATABASE_PATH": str(sqlite_path), **jwt_env(issuer)}, jwt_event)
    dynamodb = moto.client("dynamodb")
    dynamodb.create_table(TableName=PY_TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    python_item = str(uuid.uuid4())
    stamp = "2026-11-26T00:00:00.000000Z"
    dynamodb.put_item(TableName=PY_TABLE, Item={"id": {"S": python_item}, "name": {"S": "seed"},
                                                "created_at": {"S": stamp}, "updated_at": {"S": stamp}})
    return {"secret_arn": secret_arn, "dynamo_item": dynamo_item, "sqlite_item": sqlite_item,
            "jwt_item": jwt_item, "python_item": python_item}


def cold_starts(rust: Path, bare: Path, runs: int, variants: dict[str, Path] | None = None) -> dict:
    """Every configuration × operation, `runs` fresh processes each, interleaved so
    that the machine's drift touches all alike; medians in ms. `variants` adds the
    AWS and SQLite configurations of other builds (label → binary), to compare changes
    in one run."""
    with tempfile.TemporaryDirectory(prefix="items-api-cold-") as tmp:
        tmp = Path(tmp)
        moto = Moto(tmp)
        api = RuntimeApi(f"arn:aws:lambda:{REGION}:123456789012:function:items-api-bench")
        issuer = Issuer().__enter__()
        try:
            # Valid for the whole run, however long `--runs` makes it.
            jwt = issuer.mint({"iss": issuer.url, "sub": JWT_USER, "aud": JWT_AUDIENCE,
                               "exp": int(time.time()) + 24 * 3600})
            bearers = {"sqlite-jwt": jwt}
            seeded = seed(moto, rust, tmp / "items.db", issuer, jwt)
            aws = {**moto.client_env(), "ITEMS_TABLE": TABLE, "API_TOKEN_SECRET_ARN": seeded["secret_arn"]}
            configurations = {
                "aws-tls": ([str(rust)], function_env(aws), seeded["dynamo_item"], ROOT),
                "sqlite": ([str(rust)], function_env({"DATABASE_PATH": str(tmp / "items.db"), "API_TOKEN": TOKEN}),
                           seeded["sqlite_item"], ROOT),
                # Next to `sqlite`, so each round's pair is measured back to back.
                "sqlite-jwt": ([str(rust)], function_env({"DATABASE_PATH": str(tmp / "items.db"),
                                                          **jwt_env(issuer)}),
                               seeded["jwt_item"], ROOT),
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
                        bearer = bearers.get(config)
                        if bearer and operation != "getHealth":
                            event = with_bearer(event, bearer)
                        if "aws" in config:
                            moto.touch()
                        for attempt in range(2):
                            reads_before = dict(issuer.stats)
                            try:
                                timed = api.run(command, env, [event, event], cwd)
                                break
                            except SystemExit as failure:
                                # Seen on a busy machine: a `next` sooner after the spawn
                                # than a fresh process asks (0.5-2 ms), most likely the
                                # stopped process's, accepted late by tests/tools/
                                # runtime_api.py, took this one's first event. The sample
                                # is dropped and taken again, once.
                                if attempt or "no answer" not in str(failure):
                                    raise
                                log(f"{config} {operation}: an event went unanswered, taking this "
                                    f"sample again ({str(failure).splitlines()[0]})")
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
                        if bearer:
                            entry.setdefault("issuer_reads", []).append(
                                {name: issuer.stats[name] - reads_before[name] for name in reads_before})
            alone = emulator(moto, seeded["secret_arn"], seeded["dynamo_item"], max(runs, 5))
            issuer_ms = issuer_alone(issuer, max(runs, 5))
        finally:
            issuer.__exit__(None, None, None)
            api.close()
            moto.close()
    results: dict = {"emulator_ms": alone, "issuer_ms": issuer_ms}
    for config, operations in samples.items():
        results[config] = {}
        for operation in (o for o in OPERATIONS if o in operations):
            entry = dict(operations[operation])
            reads = entry.pop("issuer_reads", None)
            row = {phase: ms(values) for phase, values in entry.items()}
            row["total"] = round(row["ready"] + row["first"], 2)
            if reads is not None:
                # The same in every process, or each process's, to show that it is not.
                row["issuer_reads"] = reads[0] if all(r == reads[0] for r in reads) else reads
            if config == "sqlite-jwt" and operation in samples.get("sqlite", {}):
                token = samples["sqlite"][operation]
                row["same_run_sqlite"] = {phase: ms(token[phase]) for phase in ("ready", "first", "second")}
                row["same_run_sqlite"]["total"] = round(
                    row["same_run_sqlite"]["ready"] + row["same_run_sqlite"]["first"], 2)
                row["minus_sqlite"] = {
                    phase: ms([jwt_s - token_s for jwt_s, token_s in zip(entry[phase], token[phase])])
                    for phase in ("ready", "first", "second")}
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
    log(f"issuer alone (ms): {issuer_ms}")
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
