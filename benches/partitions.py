#!/usr/bin/env python3
"""DynamoDB past one partition: creates/s and listItems under the per-partition limits
model, for 1, 4 and 16 shards (`make bench-partitions`; `make bench` runs it too).

DynamoDB's partition limits (1,000 write and 3,000 read units per second per
partition) cannot be measured against moto, so tests/tools/partition_limits.py models
them in front of it: a token bucket per partition key value, scaled down. For each
shard count this starts a fresh moto (tests/tools/moto_keepalive.py: keep-alive, one
request applied at a time), the model in front of it, `items-api create-table --shards
N` and the release server with AWS_ENDPOINT_URL pointing at the model, then measures:

- listItems: a table seeded with SEEDED_ITEMS items of about ITEM_BYTES bytes (through
  a second server straight on moto, so the seeding spends none of the model's units),
  sequential GET /api/items?limit=20 and ?limit=50 at a pace under the model's read
  rate (one client on DynamoDB stays far under a partition's read limit; throttling is
  counted and must stay 0): p50/p95 latency and the read units one page costs (the
  model's counters for the item partitions, before and after, divided by the pages);
- createItem: a closed loop of POST /api/items from many keep-alive connections (a
  throttled request holds its connection through the SDK's backoff, a refused one for
  its Retry-After, so few connections would leave buckets idle); 201s and 503s
  (throttled past the SDK's retries) counted in a window that starts after the warm-up,
  once the buckets' burst is spent.

Before them, the same create load against 16 shards with the model's limits lifted
(fewer connections: none waits) is the ceiling of this machine's path (client, server,
model and moto sharing the cores): the scaled-down limits must stay under it, or moto,
not the model, sets the figures.
The ratio of 16 shards' creates/s to 1 shard's is the figure to read; all are measured
in one run, so the machine's noise touches them alike.

Usage (in the tools venv; the release binary built first):
    target/py/bin/python benches/partitions.py [--quick] [--out FILE]
benches/run.py --partitions-only runs it and merges the figures into
benches/results.json ("partitions") and docs/performance.md. Only 127.0.0.1 is used;
every process started here is stopped by its own id; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "tools"
sys.path.insert(0, str(TOOLS))
from partition_limits import item_size  # noqa: E402  (the model's own byte count)
from service import Service, free_port, stop, wait_healthy  # noqa: E402

PY = ROOT / "target" / "py" / "bin" / "python"
RUST = ROOT / "target" / "release" / "items-api"
TOKEN = "bench-partitions-token"
TABLE = "items-bench"
REGION = "eu-west-1"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIAFAKEPARTITIONS", "AWS_SECRET_ACCESS_KEY": "fake-partitions-secret",
           "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}
SHARD_COUNTS = (1, 4, 16)
LIST_LIMITS = (20, 50)
# Every shard of 16 holds a full page of 50 and its lookahead (16 × 51 = 816), so a
# page costs what the capacity plan assumes.
SEEDED_ITEMS = 850
# An item of about 300 bytes as DynamoDB counts them (names and values, the key
# included): what docs/dynamodb.md's capacity plan assumes.
ITEM_BODY = {"name": "Bench item 0000", "description": "x" * 130}
# Lifts the model's limits for the ceiling run.
UNLIMITED = 1_000_000


def log(message: str) -> None:
    print(f"== bench partitions: {message}", flush=True)


@dataclass(frozen=True)
class Settings:
    """The model's scaled-down limits and the loads' sizes."""
    # 16 shards × 10 = 160 creates/s: well under what moto (one request at a time),
    # the model, the server and the client manage together on two shared cores.
    write_units_per_key: float = 10
    read_units_per_key: float = 30  # 3 × the write rate, as on DynamoDB (3,000 : 1,000)
    burst_seconds: float = 0.5
    # Enough that the clients parked in the SDK's backoff (throttled retries) or in a
    # Retry-After leave the 16 shards' buckets no idle moment.
    connections: int = 128
    # The ceiling's load: no request is throttled, so none waits, and more connections
    # would only queue at moto past the service's timeout.
    ceiling_connections: int = 32
    warmup_seconds: float = 3
    create_seconds: float = 15
    list_requests: int = 25  # per limit
    list_rate_per_s: float = 5  # under the read rate at 1 shard (a page of 50 costs 4 units)

    @classmethod
    def quick(cls) -> "Settings":
        return cls(create_seconds=5, list_requests=8)


# --- A minimal HTTP/1.1 client on asyncio (many connections, little CPU) -------------

class Connection:
    """One keep-alive connection to the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Sends one request, reads its response: (status, headers in lower case, body)."""
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            try:
                self.writer.write(head + body)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("the server closed the connection")
                status = int(status_line.split()[1])
                headers = {}
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                data = await self.reader.readexactly(int(headers.get("content-length", "0")))
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 0:
                    continue  # a kept-alive connection closed while idle: once more on a new one
                raise
            if "close" in headers.get("connection", "").lower():
                self.close()
            return status, headers, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def create_body(n: int) -> bytes:
    return json.dumps({**ITEM_BODY, "name": f"Bench item {n % 10_000:04d}"}).encode()


async def create_load(base_url: str, connections: int, warmup: float, seconds: float) -> dict:
    """POST /api/items in a closed loop from `connections` connections for `warmup` +
    `seconds` (a 503's Retry-After honoured); what completed in the last `seconds`, by
    status, with 201s' latency."""
    host, port = base_url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup
    end = window_start + seconds
    statuses: dict[int, int] = {}
    created_ms: list[float] = []
    retry_after_missing = 0

    async def worker(offset: int) -> None:
        """One client: its next request as soon as the last one is answered, or after
        the Retry-After of a 503."""
        nonlocal retry_after_missing
        connection = Connection(host, int(port))
        n = offset
        try:
            while loop.time() < end:
                sent = loop.time()
                status, headers, _ = await asyncio.wait_for(
                    connection.exchange("POST", "/api/items", create_body(n)), 15)
                n += connections
                done = loop.time()
                if window_start <= done < end:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 201:
                        created_ms.append((done - sent) * 1000)
                    elif status == 503 and "retry-after" not in headers:
                        retry_after_missing += 1
                if status == 503:  # as the contract asks a client to
                    await asyncio.sleep(min(float(headers.get("retry-after", "1")), max(0.0, end - loop.time())))
        finally:
            connection.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    created = statuses.get(201, 0)
    throttled = statuses.get(503, 0)
    return {
        "creates_per_s": round(created / seconds, 1),
        "unavailable_per_s": round(throttled / seconds, 1),
        "other_statuses": {str(s): c for s, c in sorted(statuses.items()) if s not in (201, 503)},
        "create_p50_ms": round(statistics.median(created_ms), 1) if created_ms else None,
        "unavailable_without_retry_after": retry_after_missing,
    }


async def seed(base_url: str, count: int, connections: int = 8) -> None:
    """`count` items, created through `base_url` (every answer must be 201)."""
    host, port = base_url.removeprefix("http://").split(":")
    numbers = iter(range(count))

    async def worker() -> None:
        connection = Connection(host, int(port))
        try:
            for n in numbers:
                status, _, data = await connection.exchange("POST", "/api/items", create_body(n))
                if status != 201:
                    raise RuntimeError(f"seeding: POST /api/items answered {status}: {data[:200]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# --- The processes ------------------------------------------------------------------

class Stack:
    """moto, the limits model in front of it, and the release server behind the model;
    stopped (by their own ids) when the `with` block ends."""

    def __init__(self, shards: int, write_units: float, read_units: float, burst: float) -> None:
        self.shards = shards
        self.limits = (write_units, read_units, burst)
        self.processes: list[subprocess.Popen] = []
        self.services: list[Service] = []

    def _start(self, command: list[str], health: str) -> None:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        wait_healthy(health, process, timeout=30)

    def service(self, endpoint: str, **env: str) -> Service:
        env = {**AWS_ENV, "ITEMS_TABLE": TABLE, "AWS_ENDPOINT_URL": endpoint, "API_TOKEN": TOKEN,
               "LOG_LEVEL": "warn", **env}
        service = Service(binary=RUST, env=env).__enter__()
        self.services.append(service)
        return service

    def __enter__(self) -> "Stack":
        try:
            moto_port, proxy_port = free_port(), free_port()
            self.moto = f"http://127.0.0.1:{moto_port}"
            self._start([str(PY), str(TOOLS / "moto_keepalive.py"), str(moto_port)], self.moto + "/moto-api/")
            write_units, read_units, burst = self.limits
            self.proxy = f"http://127.0.0.1:{proxy_port}"
            self._start([str(PY), str(TOOLS / "partition_limits.py"), "--upstream", self.moto,
                         "--port", str(proxy_port), "--write-units-per-key", str(write_units),
                         "--read-units-per-key", str(read_units), "--burst-seconds", str(burst)],
                        self.proxy + "/_limits/health")
            subprocess.run([str(RUST), "create-table", "--shards", str(self.shards)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL,
                           env={**os.environ, **AWS_ENV, "ITEMS_TABLE": TABLE, "AWS_ENDPOINT_URL": self.moto})
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for service in self.services:
            service.stop()
        for process in reversed(self.processes):
            stop(process)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.proxy + "/_limits/stats", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        request = urllib.request.Request(self.proxy + "/_limits/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def item_partitions(self) -> dict:
        """The model's counters summed over the item partitions (not the layout item)."""
        keys = self.stats()["tables"].get(TABLE, {})
        total: dict[str, float] = {}
        for key, counters in keys.items():
            if key.startswith("ITEMS#"):
                for name, value in counters.items():
                    total[name] = total.get(name, 0) + value
        return total

    def item_bytes(self) -> float:
        """The seeded items' mean size as DynamoDB counts it (a scan of moto itself)."""
        import boto3  # the tools venv's; only here, so the module imports without it
        client = boto3.client("dynamodb", endpoint_url=self.moto, region_name=REGION,
                              aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        items = [i for i in client.scan(TableName=TABLE, Limit=200)["Items"] if i["pk"]["S"].startswith("ITEMS#")]
        return round(statistics.mean(item_size(i) for i in items), 1)

    def moto_query_ms(self, limit: int = 21, runs: int = 15) -> float:
        """moto's own time for one shard's query of a list page (the median of `runs`,
        straight to moto): a page queries every shard, and moto answers one at a time."""
        import boto3
        client = boto3.client("dynamodb", endpoint_url=self.moto, region_name=REGION,
                              aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        pk = next(i["pk"] for i in client.scan(TableName=TABLE, Limit=20)["Items"]
                  if i["pk"]["S"].startswith("ITEMS#"))
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            client.query(TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": pk},
                         Limit=limit, ConsistentRead=True)
            samples.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(samples), 2)


# --- The measurements ---------------------------------------------------------------

def measure_lists(stack: Stack, base_url: str, settings: Settings) -> dict:
    """Sequential list pages, the limits interleaved and paced; latency and read units."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    samples: dict[int, list[float]] = {limit: [] for limit in LIST_LIMITS}
    units: dict[int, float] = {limit: 0.0 for limit in LIST_LIMITS}
    throttled = 0
    interval = 1 / settings.list_rate_per_s
    for limit in LIST_LIMITS:  # a warm-up page of each (connections, the layout item)
        connection.request("GET", f"/api/items?limit={limit}", headers=headers)
        connection.getresponse().read()
    stack.reset()
    for _ in range(settings.list_requests):
        for limit in LIST_LIMITS:
            before = stack.item_partitions()
            started = time.perf_counter()
            connection.request("GET", f"/api/items?limit={limit}", headers=headers)
            response = connection.getresponse()
            page = json.loads(response.read())
            elapsed = time.perf_counter() - started
            if response.status != 200 or len(page["items"]) != limit:
                raise RuntimeError(f"GET /api/items?limit={limit} answered {response.status} "
                                   f"with {len(page.get('items', []))} items")
            after = stack.item_partitions()
            samples[limit].append(elapsed * 1000)
            units[limit] += after.get("read_units", 0) - before.get("read_units", 0)
            throttled += after.get("read_throttled", 0) - before.get("read_throttled", 0)
            time.sleep(max(0.0, interval - elapsed))
    connection.close()
    return {
        "list": {str(limit): {
            "p50_ms": round(statistics.median(samples[limit]), 2),
            "p95_ms": round(percentile(samples[limit], 0.95), 2),
            "read_units_per_page": round(units[limit] / settings.list_requests, 2),
        } for limit in LIST_LIMITS},
        "list_read_throttled": throttled,
    }


def measure_creates(stack: Stack, base_url: str, settings: Settings, connections: int) -> dict:
    stack.reset()  # full buckets, zeroed counters: the warm-up spends the burst
    result = asyncio.run(create_load(base_url, connections, settings.warmup_seconds, settings.create_seconds))
    counters = stack.item_partitions()
    result["model_writes_admitted"] = int(counters.get("write_admitted", 0))
    result["model_writes_throttled"] = int(counters.get("write_throttled", 0))
    return result


def measure(settings: Settings) -> dict:
    started = time.monotonic()
    log(f"ceiling: 16 shards, the model's limits lifted, {settings.create_seconds:g} s of creates")
    with Stack(16, UNLIMITED, UNLIMITED, 1) as stack:
        service = stack.service(stack.proxy)
        ceiling = measure_creates(stack, service.base_url, settings, settings.ceiling_connections)
    log(f"ceiling: {ceiling}")
    shards: dict[str, dict] = {}
    item_bytes = None
    for count in SHARD_COUNTS:
        with Stack(count, settings.write_units_per_key, settings.read_units_per_key,
                   settings.burst_seconds) as stack:
            seeder = stack.service(stack.moto)
            asyncio.run(seed(seeder.base_url, SEEDED_ITEMS))
            seeder.stop()
            item_bytes = stack.item_bytes()
            # moto answers a page's queries one after another (tens of ms each here), so
            # a page of 16 shards can take seconds: with the default STORE_TIMEOUT_MS
            # (3 s, half per attempt) the SDK would time queries out and send them again,
            # which DynamoDB's partitions, answering in parallel, do not cause.
            lister = stack.service(stack.proxy, STORE_TIMEOUT_MS="20000")
            row = measure_lists(stack, lister.base_url, settings)
            lister.stop()
            row["moto_query_ms"] = stack.moto_query_ms()
            service = stack.service(stack.proxy)  # as deployed: the default timeout
            row.update(measure_creates(stack, service.base_url, settings, settings.connections))
        shards[str(count)] = row
        log(f"{count} shard(s): {row}")
    one, sixteen = shards["1"]["creates_per_s"], shards["16"]["creates_per_s"]
    model_16 = 16 * settings.write_units_per_key
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "settings": {
            "write_units_per_key": settings.write_units_per_key,
            "read_units_per_key": settings.read_units_per_key,
            "burst_seconds": settings.burst_seconds,
            "connections": settings.connections,
            "ceiling_connections": settings.ceiling_connections,
            "warmup_seconds": settings.warmup_seconds,
            "create_seconds": settings.create_seconds,
            "seeded_items": SEEDED_ITEMS,
            "list_requests": settings.list_requests,
            "list_rate_per_s": settings.list_rate_per_s,
        },
        "item_bytes": item_bytes,
        "ceiling_creates_per_s": ceiling["creates_per_s"],
        "ceiling_other_statuses": ceiling["other_statuses"],
        "shards": shards,
        "creates_ratio_16_to_1": round(sixteen / one, 1) if one else None,
        # How far the 16-shard model's write rate stays under the machine's own ceiling.
        "ceiling_headroom": round(ceiling["creates_per_s"] / model_16, 2),
        "seconds": round(time.monotonic() - started),
    }
    if results["ceiling_headroom"] < 1.25:
        log(f"WARNING: 16 shards × {settings.write_units_per_key:g} writes/s is within 25% of this machine's "
            f"ceiling ({ceiling['creates_per_s']} creates/s): moto, not the model, may set the 16-shard figure; "
            "lower --write-units-per-key")
    if any(row["list_read_throttled"] for row in shards.values()):
        log("WARNING: the model throttled list reads: the list latencies include the SDK's retries; "
            "lower list_rate_per_s")
    others = {k: v["other_statuses"] for k, v in shards.items() if v["other_statuses"]}
    if others or results["ceiling_other_statuses"]:
        log(f"WARNING: answers other than 201 and 503 under load: {others or results['ceiling_other_statuses']}")
    return results


def table(p: dict) -> str:
    """The `<!-- partitions -->` block of docs/performance.md, from results.json's
    "partitions" (benches/figures.py checks the doc still holds it)."""
    s = p["settings"]
    lines = [
        f"Measured {p['date']} with `make bench-partitions` ({p['seconds']} s); raw figures in "
        "`benches/results.json` (`partitions`). The model: "
        f"{s['write_units_per_key']:g} write and {s['read_units_per_key']:g} read units per second per "
        f"partition key value, {s['burst_seconds']:g} s of burst (DynamoDB: 1,000 and 3,000). Creates: "
        f"{s['connections']} connections in a closed loop (a 503's `Retry-After` honoured), counted over "
        f"{s['create_seconds']:g} s after {s['warmup_seconds']:g} s of warm-up. Lists: {s['seeded_items']} "
        f"items of {p['item_bytes']:g} bytes, {s['list_requests']} sequential pages of each size, "
        f"{s['list_rate_per_s']:g} pages/s at most.",
        "",
        "| Shards | the model's write units/s | creates/s (201) | 503/s | create p50 ms | "
        "list p50 / p95 ms, limit 20 | list p50 / p95 ms, limit 50 | moto's query of one shard, ms | "
        "read units per page, limit 20 | read units per page, limit 50 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for shards, row in p["shards"].items():
        l20, l50 = row["list"]["20"], row["list"]["50"]
        lines.append(f"| {shards} | {int(shards) * s['write_units_per_key']:g} | **{row['creates_per_s']:g}** | "
                     f"{row['unavailable_per_s']:g} | {row['create_p50_ms']:.1f} | "
                     f"{l20['p50_ms']:.1f} / {l20['p95_ms']:.1f} | {l50['p50_ms']:.1f} / {l50['p95_ms']:.1f} | "
                     f"{row['moto_query_ms']:.1f} | {l20['read_units_per_page']:g} | "
                     f"{l50['read_units_per_page']:g} |")
    lines += [
        "",
        f"Creates/s, 16 shards ÷ 1 shard: **{p['creates_ratio_16_to_1']:g}×**. The same load against "
        f"16 shards with the model's limits lifted ({s['ceiling_connections']} connections), this machine's "
        f"own ceiling (client, server, model and moto on the same cores): {p['ceiling_creates_per_s']:g} "
        f"creates/s, {p['ceiling_headroom']:g}× the 16-shard model's rate.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter loads (a smoke test)")
    parser.add_argument("--write-units-per-key", type=float, default=Settings.write_units_per_key)
    parser.add_argument("--read-units-per-key", type=float, default=Settings.read_units_per_key)
    parser.add_argument("--out", type=Path, help="write the figures here (JSON) instead of printing them")
    args = parser.parse_args()
    base = Settings.quick() if args.quick else Settings()
    settings = Settings(**{**base.__dict__, "write_units_per_key": args.write_units_per_key,
                           "read_units_per_key": args.read_units_per_key})
    results = measure(settings)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
        log(f"done in {results['seconds']} s; figures in {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
