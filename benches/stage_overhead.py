#!/usr/bin/env python3
"""What the local stage adds to a request, for an x86_64 build and for the arm64 package
under qemu: `make bench-stage`.

For each build behind the stage (tests/tools/stage.py, in this process), and for
getHealth and getItem, it times, interleaved so the machine's drift touches both alike:

- through the stage: an HTTP request on a keep-alive connection to 127.0.0.1, as the
  tests send them (the front, the REST v1 event, the Runtime API, the function, its
  DynamoDB calls to moto over TLS, the answer back);
- the function alone: the same REST v1 event handed straight to the Runtime API
  emulator (tests/tools/runtime_api.py), as the stage hands it.

Their difference is the stage's front; the arm64 row against the x86_64 row is what
qemu-user costs. Medians and 90th percentiles in ms of `--requests` each, after a
warm-up. Writes benches/stage-overhead.json and the `<!-- stage-overhead -->` block of
docs/performance.md. Only 127.0.0.1 is used; every process is stopped by the stage.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import re
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tools"))
import stage as local_stage  # noqa: E402

TOKEN = "bench-stage-token"
RESULTS = ROOT / "benches" / "stage-overhead.json"
DOC = ROOT / "docs" / "performance.md"
# The stage's throttling would answer 429 to a tight loop: lifted for the bench.
UNTHROTTLED = {"ThrottlingRateLimit": "1000000", "ThrottlingBurstLimit": "1000000"}


def log(message: str) -> None:
    print(f"== bench-stage: {message}", flush=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(samples) * 1000, 2),
            "p90_ms": round(percentile(samples, 0.9) * 1000, 2)}


def event_for(running: local_stage.LocalStage, path: str) -> bytes:
    """The REST v1 event the stage makes for `GET path`, built by the stage's own code."""
    stage = running.stage
    route, parameters = stage.match(path, "GET")
    context = local_stage.request_context(stage, f"/{running.config.stage}{path}", "GET",
                                          f"127.0.0.1:{running.port}")
    request = local_stage.Request("GET", path, "", [("Host", f"127.0.0.1:{running.port}"),
                                                    ("Accept", "application/json")], b"", "127.0.0.1")
    return json.dumps(stage.event(request, route, parameters, context)).encode()


def measure(label: str, binary: Path | None, requests: int) -> dict:
    log(f"{label}: starting the stage")
    with local_stage.LocalStage(binary=binary, overrides=UNTHROTTLED, token=TOKEN) as running:
        local_stage.wait_answering(f"{running.url}/api/health")
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
        connection.request("POST", f"/{running.config.stage}/api/items", body=b'{"name":"bench"}',
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        created = connection.getresponse()
        item = json.loads(created.read())["id"]
        assert created.status == 201, created.status
        paths = {"getHealth": "/api/health", "getItem": f"/api/items/{item}"}
        results = {}
        for operation, path in paths.items():
            event = event_for(running, path)
            through, alone = [], []
            for round_ in range(requests + 20):  # the first 20 warm up and are dropped
                started = time.perf_counter()
                connection.request("GET", f"/{running.config.stage}{path}", headers={"Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                elapsed_through = time.perf_counter() - started
                if response.status != 200:
                    raise SystemExit(f"{label} {operation} through the stage answered {response.status}")
                started = time.perf_counter()
                outcome = running.environment.invoke(event)
                elapsed_alone = time.perf_counter() - started
                if outcome.kind != "response" or json.loads(outcome.payload)["statusCode"] != 200:
                    raise SystemExit(f"{label} {operation} alone: {outcome}")
                if round_ >= 20:
                    through.append(elapsed_through)
                    alone.append(elapsed_alone)
            row = {"through_stage": summary(through), "function_alone": summary(alone)}
            row["front_p50_ms"] = round(row["through_stage"]["p50_ms"] - row["function_alone"]["p50_ms"], 2)
            results[operation] = row
            log(f"{label} {operation}: {row}")
        connection.close()
    return results


def table(results: dict) -> str:
    lines = ["| Build behind the stage | Operation | Through the stage, p50 / p90 ms | "
             "Function alone (Runtime API), p50 / p90 ms | The stage's front, p50 ms |",
             "| --- | --- | ---: | ---: | ---: |"]
    for label, operations in results["builds"].items():
        for operation, row in operations.items():
            t, a = row["through_stage"], row["function_alone"]
            lines.append(f"| {label} | {operation} | {t['p50_ms']} / {t['p90_ms']} | "
                         f"{a['p50_ms']} / {a['p90_ms']} | {row['front_p50_ms']} |")
    builds = results["builds"]
    if "arm64 package (qemu)" in builds and "x86_64 release" in builds:
        for operation in ("getHealth", "getItem"):
            arm = builds["arm64 package (qemu)"][operation]["function_alone"]["p50_ms"]
            x86 = builds["x86_64 release"][operation]["function_alone"]["p50_ms"]
            lines.append(f"\nqemu-user: the arm64 function answers {operation} in {arm} ms where the x86_64 "
                         f"build takes {x86} ms ({arm / x86:.1f}×).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "items-api",
                        help="the x86_64 build (default: the release build)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    args = parser.parse_args()
    if not args.binary.exists():
        raise SystemExit(f"no build at {args.binary}: cargo build --release --bin items-api")
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "requests": args.requests,
        "builds": {
            "x86_64 release": measure("x86_64 release", args.binary, args.requests),
            "arm64 package (qemu)": measure("arm64 package (qemu)", None, args.requests),
        },
    }
    text = table(results)
    print(text)
    if args.no_write:
        return
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    block = (f"<!-- stage-overhead -->\nMeasured {results['date']} with `make bench-stage` "
             f"({args.requests} requests each, interleaved; raw figures in `benches/stage-overhead.json`). "
             "The function's own time includes its DynamoDB calls to moto over TLS.\n\n"
             f"{text}\n<!-- /stage-overhead -->")
    doc = DOC.read_text()
    if "<!-- stage-overhead -->" not in doc:
        raise SystemExit("docs/performance.md has no <!-- stage-overhead --> block")
    DOC.write_text(re.sub(r"<!-- stage-overhead -->.*?<!-- /stage-overhead -->", lambda _: block, doc, flags=re.S))
    log("docs/performance.md updated")


if __name__ == "__main__":
    main()
