"""The cold-start bench's Lambda Runtime API emulator (benches/cold_start.py) times what
it claims: each event goes to the process it was queued for, in order, and a stopped
process's late request never takes the next process's event.

Run by `make tools-self-test`; drives the debug build in its SQLite configuration.
"""

import json
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benches"))
import cold_start  # noqa: E402
from runtime_api import RuntimeApi  # noqa: E402

BINARY = ROOT / "target" / "debug" / "items-api"


class RuntimeApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        subprocess.run(["cargo", "build", "--quiet", "--bin", "items-api"], cwd=ROOT, check=True)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.env = cold_start.function_env(
            {"DATABASE_PATH": str(Path(cls.tmp.name) / "items.db"), "API_TOKEN": cold_start.TOKEN})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def test_each_process_gets_its_own_events_in_order_and_is_timed(self) -> None:
        api = RuntimeApi()
        try:
            health = cold_start.rest_event("rest-v1-get-health.json")
            create = cold_start.rest_event("rest-v1-create-item.json")
            for _ in range(5):  # back to back, as the bench runs them
                started = time.perf_counter()
                timed = api.run([str(BINARY)], self.env, [create, health], ROOT, timeout=30)
                elapsed = time.perf_counter() - started
                self.assertEqual(timed["statuses"], [201, 200])
                self.assertGreater(timed["ready"], 0)
                self.assertEqual(len(timed["requests"]), 2)
                self.assertTrue(all(0 < r < elapsed for r in timed["requests"]), timed)
                self.assertLess(timed["ready"] + sum(timed["requests"]), elapsed)
        finally:
            api.close()

    def test_a_function_that_fails_its_init_is_reported_not_timed(self) -> None:
        api = RuntimeApi()
        try:
            env = {**self.env, "DATABASE_PATH": "/proc/no-such-dir/items.db"}
            with self.assertRaises(SystemExit) as failure:
                api.run([str(BINARY)], env, [cold_start.rest_event("rest-v1-get-health.json")], ROOT,
                        timeout=10)
            self.assertIn("failed", str(failure.exception))
        finally:
            api.close()

    def test_rest_events_for_an_item_name_its_path_everywhere(self) -> None:
        event = json.loads(cold_start.rest_event("rest-v1-get-health.json", "GET", "/api/items/abc"))
        self.assertEqual(event["path"], "/api/items/abc")
        self.assertEqual(event["pathParameters"], {"proxy": "api/items/abc"})
        self.assertEqual(event["requestContext"]["path"], "/prod/api/items/abc")
        self.assertEqual(event["httpMethod"], "GET")


if __name__ == "__main__":
    unittest.main()
