// The documentation pages in a real browser (Debian's Chromium via playwright-core).
// Needs a running service: BASE_URL and API_TOKEN; screenshots go to SCREENSHOTS.
// Every request the pages make outside BASE_URL's host is blocked and reported: the
// pages must work with what the service itself serves.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { parse } from "yaml";

const baseUrl = process.env.BASE_URL;
const token = process.env.API_TOKEN;
const screenshots = process.env.SCREENSHOTS ?? "screenshots";
assert.ok(baseUrl && token, "set BASE_URL and API_TOKEN");
mkdirSync(screenshots, { recursive: true });

const contract = parse(readFileSync(new URL("../../../openapi.yaml", import.meta.url), "utf8"));
const operations = Object.entries(contract.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path, ...op })),
);

let context;
let profile;
const external = [];

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "items-api-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    viewport: { width: 1280, height: 1600 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const origin = new URL(baseUrl).origin;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith("data:")) return route.continue();
    external.push(url);
    return route.abort();
  });
});

after(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
});

/** The service enables "Try it out" by default; press the button only if it is not. */
async function tryItOut(operation) {
  const button = operation.locator(".try-out__btn");
  await button.waitFor();
  if ((await button.textContent()).trim() === "Try it out") await button.click();
}

test("Swagger UI lists every operation of the contract", async () => {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/docs`);
  assert.equal(new URL(page.url()).pathname.replace(/.*\/docs\//, "/docs/"), "/docs/", "redirected into /docs/");
  await page.locator(".opblock").first().waitFor();
  const shown = await page.locator(".opblock").evaluateAll((blocks) =>
    blocks.map((b) => `${b.querySelector(".opblock-summary-method").textContent} ${b.querySelector(".opblock-summary-path").getAttribute("data-path")}`),
  );
  const expected = operations.map((op) => `${op.method} ${op.path}`);
  assert.deepEqual([...shown].sort(), [...expected].sort());
  await page.close();
});

test("Authorize, then Try it out on createItem and getHealth shows the real responses", async () => {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/docs/`);
  await page.locator(".btn.authorize").first().click();
  const modal = page.locator(".modal-ux");
  await modal.locator("input").first().fill(token);
  await modal.locator("button.authorize").click();
  await modal.locator("button.btn-done").click();

  const create = page.locator("#operations-items-createItem");
  await create.locator(".opblock-summary").click();
  await tryItOut(create);
  await create.locator("textarea.body-param__text").fill(JSON.stringify({ name: "From Swagger UI", description: "Try it out" }));
  await create.locator("button.execute").click();
  const createdStatus = create.locator(".live-responses-table tbody .response-col_status").first();
  await createdStatus.waitFor();
  assert.equal((await createdStatus.textContent()).trim(), "201");
  const createdBody = await create.locator(".live-responses-table tbody .response-col_description pre").first().textContent();
  assert.match(createdBody, /"name": "From Swagger UI"/);

  const health = page.locator("#operations-service-getHealth");
  await health.locator(".opblock-summary").click();
  await tryItOut(health);
  await health.locator("button.execute").click();
  const healthStatus = health.locator(".live-responses-table tbody .response-col_status").first();
  await healthStatus.waitFor();
  assert.equal((await healthStatus.textContent()).trim(), "200");
  assert.match(await health.locator(".live-responses-table tbody .response-col_description pre").first().textContent(), /"status": "ok"/);

  await page.screenshot({ path: join(screenshots, "docs.png"), fullPage: false });
  await page.close();
});

test("ReDoc renders every operation and its schemas with the service's own script", async () => {
  const page = await context.newPage();
  const scripts = [];
  page.on("request", (request) => {
    if (request.resourceType() === "script") scripts.push(request.url());
  });
  await page.goto(`${baseUrl}/redoc`);
  await page.locator("h2", { hasText: operations[0].summary }).first().waitFor({ timeout: 30_000 });
  for (const op of operations) {
    assert.ok(await page.locator("h2", { hasText: op.summary }).count(), `${op.operationId} (${op.summary}) rendered`);
  }
  const text = await page.locator("body").textContent();
  for (const field of ["created_at", "next_cursor", "request_id", "in_lambda"]) {
    assert.ok(text.includes(field), `schema field ${field} rendered`);
  }
  assert.ok(scripts.some((url) => url === `${baseUrl}/redoc/redoc.standalone.js`), `ReDoc from the service: ${scripts}`);
  assert.equal(await page.getByText("The API reference could not load").count(), 0, "the fallback is gone once ReDoc renders");
  await page.screenshot({ path: join(screenshots, "redoc.png"), fullPage: false });
  await page.close();
});

test("ReDoc's page says what to do when its script cannot load, never a blank page", async () => {
  const page = await context.newPage();
  await page.route("**/redoc/redoc.standalone.js", (route) => route.abort());
  await page.goto(`${baseUrl}/redoc`);
  const message = page.getByText("The API reference could not load");
  await message.waitFor({ timeout: 10_000 });
  assert.ok(await message.isVisible());
  const text = await page.locator("body").textContent();
  assert.ok(text.includes("REDOC_BUNDLE_PATH"), "names the setting that serves ReDoc locally");
  assert.ok(await page.locator('a[href="docs/"]').count(), "links Swagger UI");
  await page.screenshot({ path: join(screenshots, "redoc-unavailable.png"), fullPage: false });
  await page.close();
});

// ReDoc's footer links its logo on Redocly's CDN; the page's policy blocks it on
// purpose (a self-hosted page requests nothing outside the service), so that one
// refusal is expected. Anything else refused would break a page.
const EXPECTED_REFUSAL = "https://cdn.redoc.ly/redoc/logo-mini.svg";

test("the docs pages' Content-Security-Policy blocks nothing they need", async () => {
  const violations = [];
  for (const path of ["/docs/", "/redoc"]) {
    const page = await context.newPage();
    page.on("console", (message) => {
      const text = message.text();
      if (text.includes("Content Security Policy") && !text.includes(EXPECTED_REFUSAL)) violations.push(`${path}: ${text}`);
    });
    const response = await page.goto(`${baseUrl}${path}`);
    assert.ok(response.headers()["content-security-policy"], `${path} sends a CSP`);
    assert.equal(response.headers()["x-frame-options"], "DENY", `${path} refuses framing`);
    await page.waitForLoadState("networkidle");
    await page.close();
  }
  assert.deepEqual(violations, []);
});

test("no page needed anything from outside the service", () => {
  assert.deepEqual(external, []);
});
