"""benches/figures.py catches a figure in docs/performance.md that is not the one
benches/results.json records, and a figure nobody said where it comes from.

Each test takes a copy of the docs' text, changes one figure the way a hand edit
would, and runs the check on the copy; the files themselves are never written.
Run by `make tools-self-test`.
"""

import json
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
import figures  # noqa: E402


class FiguresCheckTest(unittest.TestCase):
    def setUp(self) -> None:
        self.results = json.loads(figures.RESULTS.read_text())
        self.stage_results = json.loads(figures.STAGE_RESULTS.read_text())
        self.texts = {path: path.read_text() for path in {*figures.BLOCKS, figures.PROSE_DOC}}

    def review(self, doc: str) -> tuple[str, list[str]]:
        """The check on a copy of the docs whose performance.md is `doc`: the
        performance.md --write would leave, and every problem --check reports."""
        texts = {**self.texts, figures.PROSE_DOC: doc}
        new, problems = figures.review(texts, self.results, self.stage_results)
        stale = [path for path in new if new[path] != texts[path]]
        return new[figures.PROSE_DOC], problems + [f"stale: {path}" for path in stale]

    def altered(self, old: str, new: str) -> str:
        doc = self.texts[figures.PROSE_DOC]
        self.assertEqual(doc.count(old), 1, f"the doc no longer has {old!r} once; update this test")
        return doc.replace(old, new)

    def test_the_docs_pass(self) -> None:
        result = subprocess.run([sys.executable, str(ROOT / "benches" / "figures.py"), "--check"],
                                capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_marked_figure_changed_by_hand_fails_and_write_restores_it(self) -> None:
        rss = f"{self.results['peak_rss_mb']['rust']} MB<!-- fig:rss-rust -->"
        doc = self.altered(rss, "13.9 MB<!-- fig:rss-rust -->")
        rewritten, problems = self.review(doc)
        print("expected failure, altered fig:rss-rust:", *problems, sep="\n  ")
        self.assertTrue(any("'13.9 MB' is not what benches/results.json says" in p for p in problems), problems)
        self.assertEqual(rewritten, self.texts[figures.PROSE_DOC])

    def test_an_unmarked_figure_added_to_the_prose_fails(self) -> None:
        doc = self.altered("## Memory\n", "## Memory\n\nA cold start takes 9.9 ms.\n")
        _, problems = self.review(doc)
        print("expected failure, a new unmarked figure:", *problems, sep="\n  ")
        self.assertTrue(any("'9.9 ms' is neither marked" in p for p in problems), problems)

    def test_a_figure_listed_as_not_from_results_changed_fails(self) -> None:
        doc = self.altered("took ready from ~41 ms", "took ready from ~44 ms")
        _, problems = self.review(doc)
        self.assertTrue(any("'~44 ms' is neither marked" in p for p in problems), problems)
        self.assertTrue(any("no longer has" in p for p in problems), problems)

    def test_a_marker_without_its_figure_fails(self) -> None:
        doc = self.altered("4.3 MB<!-- fig:rss-bare -->", "floor<!-- fig:rss-bare -->")
        _, problems = self.review(doc)
        self.assertTrue(any("fig:rss-bare --> follows no figure" in p for p in problems), problems)

    def test_a_hand_edit_inside_the_results_table_fails(self) -> None:
        bare = self.results["peak_rss_mb"]["bare"]
        doc = self.altered(f"bare axum {bare} |", f"bare axum {bare + 1} |")
        _, problems = self.review(doc)
        self.assertTrue(any("<!-- results --> block is not what make bench wrote" in p for p in problems), problems)

    def test_a_hand_edit_inside_the_partitions_table_fails(self) -> None:
        ratio = f"**{self.results['partitions']['creates_ratio_16_to_1']:g}×**"
        doc = self.altered(ratio, "**99×**")
        _, problems = self.review(doc)
        self.assertTrue(any("<!-- partitions --> block is not what make bench-partitions wrote" in p
                            for p in problems), problems)

    def test_the_capacity_plan_quotes_the_partition_figures(self) -> None:
        plan = ROOT / "docs" / "dynamodb.md"
        creates = f"{self.results['partitions']['shards']['16']['creates_per_s']:g} with 16"
        self.assertEqual(self.texts[plan].count(creates), 1, f"the capacity plan no longer has {creates!r}")
        texts = {**self.texts, plan: self.texts[plan].replace(creates, "99999 with 16")}
        new, _ = figures.review(texts, self.results, self.stage_results)
        self.assertEqual(new[plan], self.texts[plan])  # --check finds it stale, --write restores it

    def test_the_cold_start_with_users_table_is_written_from_the_results(self) -> None:
        row = self.results["cold_start_ms"]["sqlite-jwt"]["createItem"]
        cell = f"| createItem | jwt (`sqlite-jwt`) | {row['ready']} | {row['first']} |"
        doc = self.altered(cell, "| createItem | jwt (`sqlite-jwt`) | 0.1 | 0.2 |")
        rewritten, problems = self.review(doc)
        self.assertIn(f"stale: {figures.PROSE_DOC}", problems)  # --check fails on it
        self.assertEqual(rewritten, self.texts[figures.PROSE_DOC])  # --write restores it

    def test_figures_in_code_and_versions_are_not_figures(self) -> None:
        found = [m.group(0) for m in figures.figures_in_prose(
            "Run `wrk -d6s` (Swagger UI 5.32.6, x86_64, FTS3/5):\n\n```\nsleep 2.5 ms\n```\n"
            "| a | 12 |\nit took 3.1 ms, 1,024 times, 27% of 40k requests/s, 41.2× faster\n")]
        self.assertEqual(found, ["12", "3.1 ms", "1,024", "27%", "40k", "41.2×"])


if __name__ == "__main__":
    unittest.main()
