#!/usr/bin/env python3
"""The benchmark figures quoted in the docs, rendered from benches/results.json.

Figures in prose go stale when someone edits them by hand; here every quoted figure
is a block between `<!-- NAME -->` markers that this script writes from the results
`make bench` records. `benches/run.py` calls it after each run; `make test` runs it
with `--check`, which fails when a block differs from what the results say.

Usage: benches/figures.py --write | --check
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results.json"


def mb(n_bytes: int) -> str:
    return f"{n_bytes / 1_000_000:.1f} MB"


def performance(r: dict) -> str:
    cold, warm, http, rss = r["cold_start_ms"], r["warm_invoke_us"], r["http"], r["peak_rss_mb"]
    return (
        "Against the FastAPI + Mangum original on the same 2-core machine (`make bench`,\n"
        "figures and method in [docs/performance.md](docs/performance.md)): a cold start that\n"
        f"answers getHealth as deployed (DynamoDB and Secrets Manager over TLS) takes "
        f"{cold['aws-tls']['getHealth']['total']:.1f} ms\ninstead of "
        f"{cold['python-aws-tls']['getHealth']['total']:.0f} ms (Init and first request); a warm invocation\n"
        f"{warm['getHealth']['rust']['p50_us']:.0f} µs instead of {warm['getHealth']['python']['p50_us']:.0f} µs; "
        f"the local server answers {http['getHealth']['rust']['rps'] / 1000:.0f}k getHealth\n"
        f"requests/s instead of {http['getHealth']['python']['rps'] / 1000:.1f}k, with a p99 of "
        f"{http['getHealth']['rust']['p99_ms']:.1f} ms instead of {http['getHealth']['python']['p99_ms']:.0f} ms,\n"
        f"in {rss['rust']:.0f} MB instead of {rss['python']:.0f} MB (measured {r['date']})."
    )


def package(r: dict) -> str:
    p = r["package"]
    return (
        f"A cold start pays for: loading the {mb(p['bootstrap_arm64_bytes'])} arm64 binary "
        f"({mb(p['lambda_zip_arm64_bytes'])} zipped; `make bench`, {p.get('arm64_measured', r['date'])}),"
    )


BLOCKS = {
    ROOT / "README.md": {"performance": performance},
    ROOT / "docs" / "operations.md": {"package": package},
}


def render(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"<!-- {name} -->\n.*?\n<!-- /{name} -->", re.S)
    if not pattern.search(text):
        raise SystemExit(f"figures: no <!-- {name} --> block")
    return pattern.sub(lambda _: f"<!-- {name} -->\n{body}\n<!-- /{name} -->", text)


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    results = json.loads(RESULTS.read_text())
    stale = []
    for path, blocks in BLOCKS.items():
        text = path.read_text()
        new = text
        for name, make in blocks.items():
            new = render(new, name, make(results))
        if new != text:
            if mode == "--write":
                path.write_text(new)
            else:
                stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"figures: {', '.join(stale)} quote figures that are not those of benches/results.json; "
              "run `python3 benches/figures.py --write` (make bench does)", file=sys.stderr)
        return 1
    print("figures: every quoted figure is the one benches/results.json records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
