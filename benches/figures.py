#!/usr/bin/env python3
"""The benchmark figures quoted in the docs, checked against benches/results.json.

Figures in prose go stale when someone edits them by hand or reruns `make bench`
without rewriting them. Two kinds of quoted figure are kept to the results:

- Blocks between `<!-- NAME -->` markers (BLOCKS): this script writes them whole
  (docs/performance.md's `cold-start-jwt` among them).
- Single figures in the prose of docs/performance.md (outside its generated blocks):
  each one that comes from results.json is followed by a marker naming it,
  `4.80 MB<!-- fig:zip-arm64-2dp -->` (hidden when the Markdown is rendered), and
  PROSE says how results.json renders that name. Every other figure-looking number
  in that prose must be covered by an entry of NOT_FROM_RESULTS, which says why it is
  not a results.json figure (a limit, a target, a version, an estimate for AWS, a
  measurement of one dated session kept only in the doc). A figure-looking number is
  one with a unit (ms, µs, s, MB, KiB, %, ×, k, requests/s, ...), with thousands
  separators or a decimal point, or alone in a table cell; code is not prose.

So a figure added to the prose fails the check until it is marked or listed, and a
marker or a listing that no longer matches the doc fails it too. The doc's `results`,
`stage-overhead` and `partitions` blocks, which `make bench`, `make bench-stage` and
`make bench-partitions` write, must still hold the tables those write from their JSON,
so a hand edit there fails as well.

`benches/run.py` calls `--write` after each run (blocks and marked figures);
`make figures` runs `--check`, which fails on any of the above and changes nothing.

Usage: benches/figures.py --write | --check
"""

import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py, stage_overhead.py

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benches" / "results.json"
PROSE_DOC = ROOT / "docs" / "performance.md"
STAGE_RESULTS = ROOT / "benches" / "stage-overhead.json"


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


def cold_start_jwt(r: dict) -> str:
    """docs/performance.md's cold starts with users: `sqlite-jwt` against `sqlite`, each
    row's pair from one run of benches/cold_start.py."""
    cold = r["cold_start_ms"]
    # A separate run of benches/cold_start.py merged into results.json says when and how
    # many; a full `make bench` run is the file's own date and settings.
    measured = cold.get("measured_separately", {}).get("sqlite-jwt") or {
        "date": r["date"], "runs": r["settings"]["cold_start_runs"]}
    lines = [
        f"Measured {measured['date']}, median of {measured['runs']} cold starts per row, `sqlite` and "
        "`sqlite-jwt` interleaved in the same run (ms):",
        "",
        "| Operation | Auth | Ready (Init) | First request | Second request | Issuer reads per cold start |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    phases = ("ready", "first", "second")
    for operation, row in cold["sqlite-jwt"].items():
        token, diff = row["same_run_sqlite"], row["minus_sqlite"]
        reads = row["issuer_reads"]
        reads = (f"discovery {reads['discovery']}, JWKS {reads['jwks']}" if isinstance(reads, dict)
                 else "varied: " + "; ".join(f"{r['discovery']}+{r['jwks']}" for r in reads))
        lines += [
            f"| {operation} | token (`sqlite`) | " + " | ".join(str(token[p]) for p in phases) + " | – |",
            f"| {operation} | jwt (`sqlite-jwt`) | " + " | ".join(str(row[p]) for p in phases) + f" | {reads} |",
            f"| {operation} | jwt ÷ token | " + " | ".join(
                f"{row[p] / token[p]:.2f}×" if token[p] else "–" for p in phases) + " | |",
            f"| {operation} | jwt − token, median of the rounds' pairs | " + " | ".join(
                f"{diff[p]:+.2f}" for p in phases) + " | |",
        ]
    if "issuer_ms" in cold:
        lines += ["", f"The issuer alone, seen from a minimal client (the discovery document and the key set, "
                      f"each on a new connection): {cold['issuer_ms']['discovery_and_jwks']} ms."]
    return "\n".join(lines)


def capacity_model(r: dict) -> str:
    """docs/dynamodb.md's capacity plan: what the per-partition limits model measured."""
    p = r["partitions"]
    rows = p["shards"]
    units = " / ".join(f"{rows[n]['list']['20']['read_units_per_page']:g}" for n in ("1", "4", "16"))
    return (
        f"Measured by `make bench-partitions` ({p['date']}; docs/performance.md, \"DynamoDB past one\n"
        f"partition\"), under a model of {p['settings']['write_units_per_key']:g} write and "
        f"{p['settings']['read_units_per_key']:g} read units per second per partition key\n"
        f"value: {rows['1']['creates_per_s']:g} creates/s with 1 shard, {rows['4']['creates_per_s']:g} with 4, "
        f"{rows['16']['creates_per_s']:g} with 16 ({p['creates_ratio_16_to_1']:g}× 1 shard's);\n"
        f"a list page of 20 items of {p['item_bytes']:.0f} bytes read {units} units at 1 / 4 / 16 shards."
    )


BLOCKS = {
    ROOT / "README.md": {"performance": performance},
    PROSE_DOC: {"cold-start-jwt": cold_start_jwt},
    ROOT / "docs" / "operations.md": {"package": package},
    ROOT / "docs" / "dynamodb.md": {"capacity-model": capacity_model},
}


def _rust_share_of_bare(r: dict) -> str:
    """The local server's requests/s as a share of the bare axum server's, reads."""
    bare = r["http"]["getHealth"]["bare_axum"]["rps"]
    shares = [r["http"][o]["rust"]["rps"] / bare * 100 for o in ("getHealth", "getItem")]
    low, high = f"{min(shares):.0f}", f"{max(shares):.0f}"
    return f"{low}%" if low == high else f"{low}–{high}%"


# Each `<!-- fig:NAME -->` in docs/performance.md's prose: the text the figure just
# before it must be, rendered from results.json.
PROSE = {
    "cores": lambda r: f"{r['machine']['cores']}-core",
    "emulator-init-share": lambda r: f"{r['cold_start_ms']['aws-tls']['getHealth']['emulator']['ready']:.1f} ms",
    "zip-arm64": lambda r: mb(r["package"]["lambda_zip_arm64_bytes"]),
    "zip-arm64-2dp": lambda r: f"{r['package']['lambda_zip_arm64_bytes'] / 1_000_000:.2f} MB",
    "binary-x86_64": lambda r: mb(r["package"]["binary_x86_64_bytes"]),
    "sqlite-ready-median": lambda r: (
        f"{statistics.median(row['ready'] for row in r['cold_start_ms']['sqlite'].values()):.1f} ms"),
    "rust-share-of-bare-axum": _rust_share_of_bare,
    "rss-rust": lambda r: f"{r['peak_rss_mb']['rust']} MB",
    "rss-bare": lambda r: f"{r['peak_rss_mb']['bare']} MB",
    "partitions-create-ratio": lambda r: f"{r['partitions']['creates_ratio_16_to_1']:g}×",
}

SESSION = "measured once, in the session the doc dates; not in results.json"
SETTING = "a setting, default or limit, not a measurement"
TARGET = "a target, not a measurement"
VERSION = "a version"
ESTIMATE = "an estimate for AWS, not measured here"

# Figure-looking numbers of docs/performance.md's prose that are not results.json's:
# (text of the doc, why). Every figure inside the text is covered; text starting with
# "| " is a table's header row and covers the whole table. Whitespace in the text
# matches any whitespace (lines wrap); each text must still be in the doc.
NOT_FROM_RESULTS = [
    ("FastAPI 0.128 + Mangum 0.17 on uvicorn 0.40, pydantic 2.13", VERSION),
    ("handled 5,000 times after a warm-up", SETTING),
    ("aws-lc's entropy source, ~30 ms.", SESSION),
    ("took ready from ~41 ms to ~12 ms", SESSION),
    ("took 3.7 ms in that session", SESSION),
    ("(under 1 ms)", SESSION),
    ("(1–2 ms, also in the SQLite configuration)", SESSION),
    ("| Build | getHealth | getItem | createItem | SQLite store, getHealth |", SESSION),
    ("of the last row's getHealth, 10.0 ms are the emulator's", SESSION),
    ("Without it, 8.3 ms against the SQLite store's 6.4.", SESSION),
    ("with the emulator ~0.1 ms away", SESSION),
    ("(~1–3 ms inside a region)", ESTIMATE),
    ("at 256 MB about a sixth of a vCPU", ESTIMATE),
    ("takes ~6× longer than here", ESTIMATE),
    ("(~10–20 ms with its TLS handshake)", ESTIMATE),
    ("found the front adding 40 ms to every request", SESSION),
    ("went from 6.97 MB", SESSION),
    ("| Step | Lambda zip, arm64 | bootstrap |", SESSION),
    ("holds the code at about 40% of its size", SESSION),
    ("(4.2 MB, of which two ES-module bundles and a CommonJS build, 2.35 MB or 0.62 MB deflated,", SESSION),
    (("aws-lc (~2 MB of code); the AWS SDK crates (~2 MB), HTTP/2 (0.4 MB, linked in by the SDK's client), "
      "rustls (0.37 MB), SQLite (1.5 MB of C)"), SESSION),
    ("measured 6.5 ms with a 21.2 MB binary", SESSION),
    ("The target was 50%", TARGET),
    ("What 50% would take", TARGET),
    ("| Server, path, log level | requests/s | µs per request | adds |", SESSION),
    ("50% of the ceiling is 27.8 µs per request.", SESSION),
    ("with no function above 3.5%: malloc and free ~10%, SQLite's read transaction ~11% on getItem", SESSION),
    ("~5%), the JSON log", SESSION),
    ("34k → 42k requests/s.", SESSION),
    ("was 8.5% of the server's samples.", SESSION),
    ("8.4% of the samples; +4–12% requests/s", SESSION),
    (("(38.3k and 41.0k against 39.1k and 39.5k for getHealth; 38.4k and 35.3k against 36.9k and 35.8k "
      "for getItem)"), SESSION),
    ("is +20–40%", SESSION),
    ("the target was 15 MB", TARGET),
    ("from 9.2 MB to 7.2–8.4 MB", SESSION),
    ("SQLite's default is 2000 KiB each", SETTING),
    ("(5 s each)", SETTING),
    ("| Build | peak RSS | file-backed | anonymous | threads | createItem requests/s |", SESSION),
    ("against the 15 MB target", TARGET),
    ("measured 15.1–15.9 MB", SESSION),
    ("6.2 MB of the 8.1 MB code segment", SESSION),
    ("up to 64 KiB around each page", SETTING),
    ("within 1.5 MB of the bare server's whole footprint", SESSION),
    ("serves each partition at most 1,000 write units and 3,000 read units", SETTING),
    ("where a partition takes 1,000 writes a second", SETTING),
    ("144.1 of the 160 creates/s that 16 shards allow", SESSION),
    ("2.6 ms of it in a one-off comparison", SESSION),
]

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT = r"requests/s|minutes?|vCPU|-?cores?|ms|µs|s|B|KB|KiB|MB|MiB|GB|GiB|k|%|×"
# A number (or a range of two) and its unit, if any; not inside a word or identifier
# (x86_64, arm64, FTS3, -Os) and not part of a version (5.32.6).
FIGURE = re.compile(
    rf"(?<![\w.,/-])[~+]?(?:{_NUMBER})(?:\s?[–-]\s?(?:{_NUMBER}))?(?![\d.,]*\d)"
    rf"(?:\s?(?P<unit>{_UNIT})(?![\w/]))?")
FIGURE_MARKER = re.compile(r"<!-- fig:(?P<name>[\w-]+) -->")
GENERATED_BLOCK = re.compile(r"<!-- (?P<name>[a-z][a-z0-9-]*) -->.*?<!-- /(?P=name) -->", re.S)
CODE = re.compile(r"^```.*?^```|`[^`\n]+`", re.S | re.M)
COMMENT = re.compile(r"<!--.*?-->", re.S)


def render(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"<!-- {name} -->\n.*?\n<!-- /{name} -->", re.S)
    if not pattern.search(text):
        raise SystemExit(f"figures: no <!-- {name} --> block")
    return pattern.sub(lambda _: f"<!-- {name} -->\n{body}\n<!-- /{name} -->", text)


def _spans(text: str, *patterns: re.Pattern) -> list[tuple[int, int]]:
    return [m.span() for pattern in patterns for m in pattern.finditer(text)]


def _inside(start: int, end: int, spans) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def prose_only(text: str) -> str:
    """`text` with generated blocks, code and comments blanked out (line breaks kept,
    so offsets and line numbers stay those of the file)."""
    chars = list(text)
    for start, end in _spans(text, GENERATED_BLOCK, CODE, COMMENT):
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _looks_like_a_figure(prose: str, match: re.Match) -> bool:
    text = match.group(0)
    if match.group("unit") or "," in text or "." in text:
        return True
    # A number alone in a table cell.
    line_start = prose.rfind("\n", 0, match.start()) + 1
    line_end = prose.find("\n", match.end())
    line_end = len(prose) if line_end < 0 else line_end
    if not prose[line_start:line_end].lstrip().startswith("|"):
        return False
    left = prose.rfind("|", line_start, match.start())
    right = prose.find("|", match.end(), line_end)
    return left >= 0 and right >= 0 and prose[left + 1:right].strip().strip("*").strip() == text


def figures_in_prose(text: str) -> list[re.Match]:
    """Every figure-looking number of `text`'s prose (offsets those of `text`)."""
    prose = prose_only(text)
    return [m for m in FIGURE.finditer(prose) if _looks_like_a_figure(prose, m)]


def _not_from_results_spans(prose: str, problems: list[str]) -> list[tuple[int, int]]:
    spans = []
    for listed, _why in NOT_FROM_RESULTS:
        pattern = re.compile(r"\s+".join(re.escape(word) for word in listed.split()))
        found = list(pattern.finditer(prose))
        if not found:
            problems.append(f"NOT_FROM_RESULTS lists text the doc no longer has: {listed!r}")
        for m in found:
            start, end = m.span()
            if listed.startswith("| "):  # a table's header row: the whole table
                blank_line = prose.find("\n\n", end)
                end = len(prose) if blank_line < 0 else blank_line
            spans.append((start, end))
    return spans


def check_prose(text: str, results: dict, doc_name: str) -> tuple[str, list[str]]:
    """The prose figures of `text` against `results`: the text with every marked figure
    rendered from `results`, and what is wrong (a marked figure that differs, a figure
    neither marked nor listed, a marker or a listing that matches nothing)."""
    problems: list[str] = []
    prose = prose_only(text)
    not_prose = _spans(text, GENERATED_BLOCK, CODE)
    marked_at = {m.start(): m.group("name") for m in FIGURE_MARKER.finditer(text)
                 if not _inside(m.start(), m.end(), not_prose)}
    listed = _not_from_results_spans(prose, problems)
    figures = figures_in_prose(text)
    for start, end in listed:
        if not any(start <= f.start() and f.end() <= end for f in figures):
            problems.append(f"NOT_FROM_RESULTS lists text with no figure: {prose[start:end].strip()[:80]!r}")
    replacements, used = [], set()
    for figure in figures:
        where = f"{doc_name}:{text.count(chr(10), 0, figure.start()) + 1}"
        name = marked_at.pop(figure.end(), None)
        if name is None:
            if not _inside(figure.start(), figure.end(), listed):
                problems.append(f"{where}: {figure.group(0)!r} is neither marked as a results.json figure "
                                "(<!-- fig:NAME -->, PROSE) nor listed in NOT_FROM_RESULTS (benches/figures.py)")
            continue
        used.add(name)
        if name not in PROSE:
            problems.append(f"{where}: <!-- fig:{name} --> names nothing in PROSE (benches/figures.py)")
            continue
        expected = PROSE[name](results)
        if figure.group(0) != expected:
            problems.append(f"{where}: {figure.group(0)!r} is not what benches/results.json says: "
                            f"{expected!r} (fig:{name})")
            replacements.append((figure.start(), figure.end(), expected))
    for start, name in marked_at.items():
        problems.append(f"{doc_name}:{text.count(chr(10), 0, start) + 1}: <!-- fig:{name} --> follows no figure")
    problems += [f"PROSE's {name} is quoted nowhere in {doc_name}" for name in sorted(PROSE.keys() - used)]
    for start, end, expected in reversed(replacements):
        text = text[:start] + expected + text[end:]
    return text, problems


def check_tables(text: str, results: dict, stage_results: dict) -> list[str]:
    """docs/performance.md's `results`, `stage-overhead` and `partitions` blocks, written
    by `make bench`, `make bench-stage` and `make bench-partitions`, still hold the tables
    those write from their JSON (a hand edit inside them is caught; only the benches
    rewrite them)."""
    # The writers' own table functions (benches/), imported only for this check.
    import partitions
    import run
    import stage_overhead

    problems = []
    for name, tables, writer in (
        ("results", [run.cold_table(results["cold_start_ms"]), run.table(results)], "make bench"),
        ("stage-overhead", [stage_overhead.table(stage_results)], "make bench-stage"),
        ("partitions", [partitions.table(results["partitions"])], "make bench-partitions"),
    ):
        block = re.search(rf"<!-- {name} -->.*?<!-- /{name} -->", text, re.S)
        if block is None or not all(table in block.group(0) for table in tables):
            problems.append(f"docs/performance.md's <!-- {name} --> block is not what {writer} wrote from its "
                            "JSON; rerun it instead of editing the block")
    return problems


def review(texts: dict[Path, str], results: dict, stage_results: dict) -> tuple[dict[Path, str], list[str]]:
    """Every quoted figure of `texts` (path → content) against the results: the texts
    as --write leaves them, and the problems --check reports besides stale blocks."""
    new = dict(texts)
    for path, blocks in BLOCKS.items():
        for name, make in blocks.items():
            new[path] = render(new[path], name, make(results))
    new[PROSE_DOC], problems = check_prose(new[PROSE_DOC], results, str(PROSE_DOC.relative_to(ROOT)))
    problems += check_tables(new[PROSE_DOC], results, stage_results)
    return new, problems


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "--check"
    if mode not in ("--check", "--write"):
        print(__doc__, file=sys.stderr)
        return 2
    texts = {path: path.read_text() for path in {*BLOCKS, PROSE_DOC}}
    new, problems = review(texts, json.loads(RESULTS.read_text()), json.loads(STAGE_RESULTS.read_text()))
    changed = [path for path in sorted(new) if new[path] != texts[path]]
    if mode == "--write":
        for path in changed:
            path.write_text(new[path])
        # What --write rewrote is fixed; what needs a person is not.
        problems = [p for p in problems if "is not what benches/results.json says" not in p]
    elif changed:
        problems.append(f"{', '.join(str(p.relative_to(ROOT)) for p in changed)} quote figures that are not "
                        "those of benches/results.json; run `python3 benches/figures.py --write` (make bench does)")
    for problem in problems:
        print(f"figures: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("figures: every figure the docs quote from benches/results.json is the one it records, "
          "and docs/performance.md's other figures are listed as not from it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
