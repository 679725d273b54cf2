"""Per-module mutation score from cargo-mutants' outcomes: caught / (caught + missed),
timeouts counted as caught (the mutant hangs the tests), unviable mutants (they do not
build) left out. Usage: mutants_score.py OUT_DIR... (each holding mutants.out/)."""

import collections
import json
import pathlib
import sys

# The modules docs/testing.md scores, longest prefix first.
MODULES = [
    "src/domain/", "src/api/", "src/store/dynamodb/", "src/store/sqlite.rs",
    "src/store/", "src/auth.rs", "src/error.rs", "src/extract.rs", "src/lambda.rs",
    "src/middleware.rs",
]


def module_of(path: str) -> str:
    return next((m for m in MODULES if path.startswith(m)), path)


def scores(out_dirs):
    counts = collections.defaultdict(collections.Counter)
    missed = []
    for out in out_dirs:
        outcomes = pathlib.Path(out) / "mutants.out" / "outcomes.json"
        if not outcomes.exists():
            continue
        for outcome in json.loads(outcomes.read_text())["outcomes"]:
            scenario = outcome["scenario"]
            if not isinstance(scenario, dict):
                continue  # the baseline
            mutant = scenario["Mutant"]
            module = module_of(mutant["file"])
            summary = outcome["summary"]
            counts[module][summary] += 1
            if summary == "MissedMutant":
                missed.append(mutant["name"])
    return counts, missed


def main(argv):
    counts, missed = scores(argv[1:])
    print(f'{"module":24} {"caught":>6} {"missed":>6} {"unviable":>8} {"score":>6}')
    for module in MODULES:
        c = counts.get(module)
        if not c:
            continue
        caught = c["CaughtMutant"] + c["Timeout"]
        total = caught + c["MissedMutant"]
        score = f"{100 * caught / total:.0f}%" if total else "-"
        print(f"{module:24} {caught:6} {c['MissedMutant']:6} {c['Unviable']:8} {score:>6}")
    for line in missed:
        print("missed:", line)


if __name__ == "__main__":
    main(sys.argv)
