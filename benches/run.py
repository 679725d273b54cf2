#!/usr/bin/env python3
"""`make bench`: items-api against its Python original, on this machine, in one run.

Measures cold starts as Lambda starts a function (benches/cold_start.py: the deployed
configuration, DynamoDB + Secrets Manager through TLS, next to the SQLite one, a bare
lambda_http ceiling and the Python original), warm invocations (one process, many
events), HTTP throughput and latency under wrk, peak memory under that load, the
package sizes, and a bare axum server as the ceiling; then the DynamoDB store past one
partition (benches/partitions.py: creates/s and listItems for 1, 4 and 16 shards under
the per-partition limits model).
Writes benches/results.json and the tables in docs/performance.md (between its
`<!-- results -->` and `<!-- partitions -->` markers).

Only 127.0.0.1 is contacted; every load is bounded in time and stops by itself.
Usage: python3 benches/run.py [--quick] [--skip-package] [--partitions-only]
  --partitions-only   only benches/partitions.py (`make bench-partitions`): its figures
                      replace results.json's "partitions", the rest is kept
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tools"))
from service import Service  # noqa: E402  (the shared start/wait/stop helper)
import partitions  # noqa: E402  (benches/partitions.py: its table; it runs in the tools venv)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "target" / "bench"
PY_REF = ROOT / "benches" / "python-reference"
PY = ROOT / "target" / "py"  # the one tools venv (tests/tools/setup.sh)
EVENTS = ROOT / "tests" / "events"
TOKEN = "fixture-token"  # the token the event fixtures carry
RUST = ROOT / "target" / "release" / "items-api"
BARE = ROOT / "target" / "release" / "examples" / "bare-axum"
BARE_LAMBDA = ROOT / "target" / "release" / "examples" / "bare-lambda"


def log(message: str) -> None:
    print(f"== bench: {message}", flush=True)


def run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


def setup(skip_package: bool) -> None:
    # wrk drives the HTTP loads; stunnel is the cold-start bench's TLS endpoint.
    missing = [package for package, command in (("wrk", "wrk"), ("stunnel4", "stunnel4")) if shutil.which(command) is None]
    if missing:
        log(f"installing {' '.join(missing)} (apt)")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", *missing], stdout=subprocess.DEVNULL)
    run([str(ROOT / "tests" / "tools" / "setup.sh")])
    log("building the release binary and the bare axum and lambda_http ceilings")
    run(["cargo", "build", "--release", "--quiet", "--bin", "items-api", "--example", "bare-axum",
         "--example", "bare-lambda"], cwd=ROOT)


def partition_figures(quick: bool):
    """benches/partitions.py, in the tools venv (it reads moto with boto3)."""
    log("DynamoDB past one partition: 1, 4 and 16 shards under the per-partition limits model")
    out = BENCH / "partitions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    run([str(PY / "bin" / "python"), str(ROOT / "benches" / "partitions.py"), "--out", str(out),
         *(["--quick"] if quick else [])], cwd=ROOT)
    return json.loads(out.read_text())


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 2)


def cold_starts(runs: int):
    """benches/cold_start.py, in the tools venv (it needs cryptography and botocore)."""
    out = BENCH / "cold-start.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    run([str(PY / "bin" / "python"), str(ROOT / "benches" / "cold_start.py"), "--runs", str(runs),
         "--binary", str(RUST), "--bare", str(BARE_LAMBDA), "--out", str(out)], cwd=ROOT)
    return json.loads(out.read_text())


def warm_invokes(count: int):
    log("warm invocations: criterion (cargo bench --bench warm_invoke)")
    run(["cargo", "bench", "--quiet", "--bench", "warm_invoke", "--", "--noplot"], cwd=ROOT,
        env={**os.environ, "WARM_INVOKE_COUNT": str(count)})
    rust = json.loads((BENCH / "warm-rust.json").read_text())
    python = {}
    env = {**os.environ, "API_TOKEN": TOKEN, "LOG_LEVEL": "warning"}
    for name, event, extra in (
        ("getHealth", "rest-v1-get-health.json", []),
        ("getItem", "rest-v1-create-item.json", ["--get-created"]),
        ("createItem", "rest-v1-create-item.json", []),
    ):
        done = run([str(PY / "bin" / "python"), str(PY_REF / "invoke.py"), str(EVENTS / event), "--warm", str(count), *extra],
                   env=env, cwd=PY_REF, capture_output=True, text=True)
        python[name] = json.loads(done.stdout)
    results = {}
    for name in rust:
        results[name] = {
            "rust": {k: round(v, 1) for k, v in rust[name].items()},
            "python": {k: round(v, 1) for k, v in python[name].items()},
        }
        log(f"warm {name}: rust p50 {results[name]['rust']['p50_us']} µs, python p50 {results[name]['python']['p50_us']} µs")
    return results


def http_json(method: str, url: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    return json.loads(urllib.request.urlopen(request, timeout=5).read())


def wrk(url: str, seconds: int, script=None):
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        command += ["-s", str(script)]
    out = run(command + [url], capture_output=True, text=True, env={**os.environ, "WRK_TOKEN": TOKEN}).stdout

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 3)

    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in match.groups())
    return {
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": errors,
    }


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return round(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024, 1)


def http_benchmarks(seconds: int):
    results = {}
    with contextlib.ExitStack() as stack:
        servers = {
            "rust": Service(binary=RUST, env={"API_TOKEN": TOKEN, "LOG_LEVEL": "info"}),
            "python": Service(
                command=[str(PY / "bin" / "uvicorn"), "--app-dir", str(PY_REF), "app:app", "--host", "127.0.0.1",
                         "--port", "{port}", "--no-access-log", "--log-level", "warning"],
                env={"API_TOKEN": TOKEN, "LOG_LEVEL": "info"}),
            "bare": Service(command=[str(BARE), "{port}"]),
        }
        for server in servers.values():
            stack.enter_context(server)
        bases = {side: server.base_url for side, server in servers.items()}
        item_ids = {}
        for side in ("rust", "python"):
            created = [http_json("POST", f"{bases[side]}/api/items", {"name": f"seed {i}"}) for i in range(100)]
            item_ids[side] = created[50]["id"]
        cases = {
            "getHealth": ("/api/health", None),
            "getItem": ("/api/items/{id}", None),
            "listItems": ("/api/items?limit=20", None),
            "createItem": ("/api/items", ROOT / "benches" / "wrk" / "create_item.lua"),
        }
        for name, (path, script) in cases.items():
            results[name] = {}
            for side in ("rust", "python"):
                url = bases[side] + path.replace("{id}", item_ids[side])
                results[name][side] = wrk(url, seconds, script)
                log(f"http {name} {side}: {results[name][side]}")
        results["getHealth"]["bare_axum"] = wrk(f"{bases['bare']}/api/health", seconds)
        log(f"http getHealth bare axum: {results['getHealth']['bare_axum']}")
        memory = {side: peak_rss_mb(servers[side].process.pid) for side in ("rust", "python", "bare")}
        log(f"peak RSS under load (MB): {memory}")
    return results, memory


def package_sizes(skip: bool):
    sizes = {"binary_x86_64_bytes": RUST.stat().st_size}
    cargo_lambda = shutil.which("cargo-lambda") or str(ROOT / "target" / "py" / "bin" / "cargo-lambda")
    if skip or not Path(cargo_lambda).exists():
        log("package: skipped (no cargo-lambda; run `make setup`)" if not skip else "package: skipped")
        return sizes
    log("package: cargo lambda build --release --arm64 --output-format zip")
    run([cargo_lambda, "lambda", "build", "--release", "--arm64", "--output-format", "zip", "--bin", "items-api"],
        cwd=ROOT, stdout=subprocess.DEVNULL)
    zip_path = ROOT / "target" / "lambda" / "items-api" / "bootstrap.zip"
    sizes["lambda_zip_arm64_bytes"] = zip_path.stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        run(["python3", "-m", "zipfile", "-e", str(zip_path), tmp])
        sizes["bootstrap_arm64_bytes"] = (Path(tmp) / "bootstrap").stat().st_size
    log(f"package: {sizes}")
    return sizes


def carry_over_package(results) -> None:
    """A run that skipped the arm64 build keeps the last measured package sizes, with
    the date they were measured, so the docs never lose or misdate them."""
    path = ROOT / "benches" / "results.json"
    if "lambda_zip_arm64_bytes" in results["package"]:
        results["package"]["arm64_measured"] = results["date"]
        return
    if not path.exists():
        return
    previous = json.loads(path.read_text()).get("package", {})
    for key in ("lambda_zip_arm64_bytes", "bootstrap_arm64_bytes"):
        if key in previous:
            results["package"][key] = previous[key]
    if "lambda_zip_arm64_bytes" in previous:
        results["package"]["arm64_measured"] = previous.get("arm64_measured", json.loads(path.read_text())["date"])


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    rustc = run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    python = run([str(PY / "bin" / "python"), "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "os": platform.platform(),
            "rustc": rustc, "python": python}


def ratio(a, b) -> str:
    return f"{a / b:.1f}×" if b else "–"


COLD_CONFIGURATIONS = {
    "aws-tls": "Rust, as deployed: DynamoDB + Secrets Manager, TLS",
    "python-aws-tls": "Python original, as deployed: boto3, TLS",
    "sqlite": "Rust, SQLite store",
    "bare": "bare lambda_http + axum (ceiling)",
}


def cold_table(cold) -> str:
    """The cold starts, the deployed configuration first."""
    alone = cold["emulator_ms"]
    lines = [
        "| Cold start (median ms) | Operation | Ready (Init) | First request | Second request | "
        "Ready + first | of which the emulator |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config, label in COLD_CONFIGURATIONS.items():
        for operation, row in cold.get(config, {}).items():
            emulator = row.get("emulator")
            share = f"{round(emulator['ready'] + emulator['first'], 2)}" if emulator else "–"
            lines.append(f"| {label} | {operation} | {row['ready']} | {row['first']} | {row['second']} | "
                         f"**{row['total']}** | {share} |")
    aws, sqlite, python = cold["aws-tls"], cold["sqlite"], cold["python-aws-tls"]
    lines += [
        "",
        f"The emulator alone (moto behind stunnel, seen from a minimal client): a TLS handshake "
        f"{alone['handshake']} ms; on a warm connection GetItem {alone['GetItem']} ms, PutItem {alone['PutItem']} ms, "
        f"GetSecretValue {alone['GetSecretValue']} ms.",
        "",
        "| Ratio, ready + first | getHealth | getItem | createItem |",
        "| --- | ---: | ---: | ---: |",
        "| as deployed ÷ SQLite store | " + " | ".join(
            ratio(aws[o]["total"], sqlite[o]["total"]) for o in cold_start_operations(aws)) + " |",
        "| as deployed, without the emulator's share ÷ SQLite store | " + " | ".join(
            ratio(aws[o]["total"] - aws[o]["emulator"]["ready"] - aws[o]["emulator"]["first"], sqlite[o]["total"])
            for o in cold_start_operations(aws)) + " |",
        "| Python original ÷ Rust, both as deployed | " + " | ".join(
            ratio(python[o]["total"], aws[o]["total"]) for o in cold_start_operations(aws)) + " |",
    ]
    return "\n".join(lines)


def cold_start_operations(rows) -> list[str]:
    return [o for o in ("getHealth", "getItem", "createItem") if o in rows]


def table(results) -> str:
    warm, http, memory, package = (results[k] for k in ("warm_invoke_us", "http", "peak_rss_mb", "package"))
    lines = [
        "| Benchmark | Rust | Python | Rust vs Python | Rust vs bare axum |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, v in warm.items():
        for pct in ("p50_us", "p99_us"):
            lines.append(f"| Warm invoke, {name} ({pct[:3]} µs) | {v['rust'][pct]} | {v['python'][pct]} | "
                         f"{ratio(v['python'][pct], v['rust'][pct])} faster | – |")
    bare = http["getHealth"].get("bare_axum")
    for name, v in http.items():
        rust, python = v["rust"], v["python"]
        # The bare server's static health answer is the ceiling of every read.
        ceiling = (f"{rust['rps'] / bare['rps'] * 100:.0f}% of {bare['rps']:,}"
                   if name in ("getHealth", "getItem") and bare else "–")
        lines.append(f"| HTTP {name} (requests/s) | {rust['rps']:,} | {python['rps']:,} | "
                     f"{ratio(rust['rps'], python['rps'])} more | {ceiling} |")
        lines.append(f"| HTTP {name} (p50 / p99 ms) | {rust['p50_ms']} / {rust['p99_ms']} | "
                     f"{python['p50_ms']} / {python['p99_ms']} | {ratio(python['p99_ms'], rust['p99_ms'])} lower p99 | "
                     f"{'–' if not (name == 'getHealth' and bare) else str(bare['p50_ms']) + ' / ' + str(bare['p99_ms'])} |")
        lines.append(f"| HTTP {name} (errors) | {rust['errors']} | {python['errors']} | – | – |")
    lines.append(f"| Peak RSS under the HTTP load (MB) | {memory['rust']} | {memory['python']} | "
                 f"{ratio(memory['python'], memory['rust'])} less | bare axum {memory['bare']} |")
    lines.append(f"| Release binary, x86_64 (bytes) | {package['binary_x86_64_bytes']:,} | – | – | – |")
    if "lambda_zip_arm64_bytes" in package:
        lines.append(f"| Lambda zip, arm64 (bytes; bootstrap {package['bootstrap_arm64_bytes']:,}) | "
                     f"{package['lambda_zip_arm64_bytes']:,} | – | – | – |")
    return "\n".join(lines)


def update_docs(results) -> None:
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text()
    m = results["machine"]
    block = (
        f"<!-- results -->\nMeasured {results['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
        f"{m['rustc']}, {m['python']}; raw figures in `benches/results.json`.\n\n"
        f"{cold_table(results['cold_start_ms'])}\n\n{table(results)}\n<!-- /results -->"
    )
    text = re.sub(r"<!-- results -->.*?<!-- /results -->", block, text, flags=re.S)
    doc.write_text(text)
    update_partitions_doc(results["partitions"])
    # The figures the README and the guides quote (benches/figures.py).
    run([sys.executable, str(ROOT / "benches" / "figures.py"), "--write"])


def update_partitions_doc(figures) -> None:
    """The `<!-- partitions -->` block of docs/performance.md, from results.json's
    "partitions" (benches/partitions.py's table)."""
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text()
    if "<!-- partitions -->" not in text:
        raise SystemExit("docs/performance.md has no <!-- partitions --> block")
    block = f"<!-- partitions -->\n{partitions.table(figures)}\n<!-- /partitions -->"
    doc.write_text(re.sub(r"<!-- partitions -->.*?<!-- /partitions -->", lambda _: block, text, flags=re.S))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter loads (a smoke test)")
    parser.add_argument("--skip-package", action="store_true", help="do not build the arm64 Lambda zip")
    parser.add_argument("--partitions-only", action="store_true",
                        help="only the DynamoDB shards bench; merged into the existing benches/results.json")
    args = parser.parse_args()
    runs, count, seconds = (5, 500, 2) if args.quick else (15, 5000, 8)

    started = time.time()
    if args.partitions_only:
        partitions_only(args.quick, started)
        return
    setup(args.skip_package)
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        "settings": {"cold_start_runs": runs, "warm_invokes": count, "wrk_seconds": seconds,
                     "wrk": "-t2 -c32 --latency", "rust_log_level": "info", "python_log_level": "info"},
        "cold_start_ms": cold_starts(runs),
        "warm_invoke_us": warm_invokes(count),
    }
    results["http"], results["peak_rss_mb"] = http_benchmarks(seconds)
    results["package"] = package_sizes(args.skip_package)
    carry_over_package(results)
    results["partitions"] = partition_figures(args.quick)
    errors = sum(v[side]["errors"] for v in results["http"].values() for side in v)
    (ROOT / "benches" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    update_docs(results)
    log(f"done in {time.time() - started:.0f} s; benches/results.json and docs/performance.md updated")
    if errors:
        raise SystemExit(f"bench: {errors} HTTP errors under load (must be 0)")


def partitions_only(quick: bool, started: float) -> None:
    """`make bench-partitions`: benches/partitions.py alone, its figures merged into the
    results of the last full run (which keep their own date)."""
    path = ROOT / "benches" / "results.json"
    results = json.loads(path.read_text())
    run([str(ROOT / "tests" / "tools" / "setup.sh")])
    log("building the release binary")
    run(["cargo", "build", "--release", "--quiet", "--bin", "items-api"], cwd=ROOT)
    results["partitions"] = partition_figures(quick)
    path.write_text(json.dumps(results, indent=2) + "\n")
    update_partitions_doc(results["partitions"])
    run([sys.executable, str(ROOT / "benches" / "figures.py"), "--write"])
    log(f"done in {time.time() - started:.0f} s; benches/results.json (partitions) and docs/performance.md updated")


if __name__ == "__main__":
    main()
