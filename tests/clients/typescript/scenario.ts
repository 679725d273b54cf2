// Drives a running Items API through openapi-fetch, typed by openapi-typescript from
// openapi.yaml. Usage: node scenario.js BASE_URL TOKEN (after tsc; see tests/clients/run.sh).
// Create, get, list across several pages, replace, delete, and the errors 404, 401, 422.

import createClient from "openapi-fetch";
import type { components, paths } from "../generated/typescript/schema.js";

type Item = components["schemas"]["Item"];
type Problem = components["schemas"]["Problem"];
// What API Gateway answers itself on a deployed stage (502, 504, 429…): `status` may be
// absent, so a client reads the response's status code instead.
type GatewayProblem = components["schemas"]["GatewayProblem"];
// What an HTTP API stage's gateway answers itself (401, 413, 429, 500): `{"message"}`.
type GatewayMessage = components["schemas"]["GatewayMessage"];
type ErrorBody = Problem | GatewayProblem | GatewayMessage;

/** A problem the service answered: one with the `status` every service problem has. */
function isServiceProblem(error: ErrorBody): error is Problem {
  return "status" in error && typeof error.status === "number";
}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(`typescript client scenario: ${message}`);
  }
}

function expectProblem(
  error: ErrorBody | undefined,
  response: Response,
  status: number,
  what: string,
): Problem {
  expect(response.status === status, `${what}: expected ${status}, got ${response.status}`);
  expect(response.headers.get("content-type") === "application/problem+json", `${what}: content type`);
  expect(
    error !== undefined && isServiceProblem(error) && error.status === status && error.request_id.length > 0,
    `${what}: ${JSON.stringify(error)}`,
  );
  return error;
}

async function main(baseUrl: string, token: string): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  const health = await anonymous.GET("/api/health");
  expect(health.data?.status === "ok", `health: ${JSON.stringify(health.data)}`);

  // Create
  const created = await client.POST("/api/items", { body: { name: "Test Item", description: "AWS Lambda test" } });
  expect(created.response.status === 201 && created.data, `create: ${created.response.status}`);
  const item: Item = created.data;
  expect(created.response.headers.get("location")?.endsWith(`/api/items/${item.id}`), "location header");

  // Get
  const fetched = await anonymous.GET("/api/items/{item_id}", { params: { path: { item_id: item.id } } });
  expect(fetched.data?.id === item.id && fetched.data.description === "AWS Lambda test", "get");

  // List across several pages
  const ids = new Set<string>([item.id]);
  for (let i = 0; i < 6; i++) {
    const more = await client.POST("/api/items", { body: { name: `page item ${i}` } });
    expect(more.data, `create ${i}`);
    ids.add(more.data.id);
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await anonymous.GET("/api/items", { params: { query: { limit: 3, cursor } } });
    expect(page.data && page.data.items.length <= 3, `list: ${page.response.status}`);
    seen.push(...page.data.items.map((entry) => entry.id));
    pages += 1;
    cursor = page.data.next_cursor ?? undefined;
  } while (cursor !== undefined);
  expect(pages >= 3, `list: ${pages} pages`);
  expect([...ids].every((id) => seen.includes(id)) && new Set(seen).size === seen.length, "every item exactly once");

  // Replace
  const replaced = await client.PUT("/api/items/{item_id}", {
    params: { path: { item_id: item.id } },
    body: { name: "Renamed" },
  });
  expect(replaced.data?.name === "Renamed" && replaced.data.description === null, "replace");
  expect(replaced.data.created_at === item.created_at, "replace keeps created_at");

  // Errors: 401 without the token, 422 for an empty name, 404 after delete
  const unauthorized = await anonymous.POST("/api/items", { body: { name: "x" } });
  expectProblem(unauthorized.error, unauthorized.response, 401, "create without token");
  // Behind API Gateway's REST API (a deployed stage) the challenge arrives renamed.
  const challenge =
    unauthorized.response.headers.get("www-authenticate") ??
    unauthorized.response.headers.get("x-amzn-remapped-www-authenticate");
  expect(challenge?.startsWith("Bearer"), "401 carries the WWW-Authenticate challenge");

  const invalid = await client.POST("/api/items", { body: { name: "" } });
  const problem = expectProblem(invalid.error, invalid.response, 422, "empty name");
  expect(problem.errors?.[0]?.field === "/name", `422 names the field: ${JSON.stringify(problem.errors)}`);

  // Safe writes: a retried create with its Idempotency-Key is replayed, never stored twice
  const key = crypto.randomUUID();
  const once = () =>
    client.POST("/api/items", { params: { header: { "Idempotency-Key": key } }, body: { name: "Retried" } });
  const first = await once();
  const retry = await once();
  expect(first.response.status === 201 && retry.response.status === 201 && first.data && retry.data, "idempotent create");
  expect(retry.response.headers.get("idempotent-replayed") === "true", "replay marked");
  expect(retry.data.id === first.data.id, "the retry answers the first item, not a second one");
  const reused = await client.POST("/api/items", {
    params: { header: { "Idempotency-Key": key } },
    body: { name: "Another" },
  });
  const reuse = expectProblem(reused.error, reused.response, 422, "key reuse");
  expect(reuse.detail.includes("Idempotency-Key"), `422 names the header: ${reuse.detail}`);

  // Conditional requests: If-Match with the ETag wins once; the stale one is 412; 304 when unchanged
  const etag = first.response.headers.get("etag") ?? "";
  const target = { item_id: first.data.id };
  const updated = await client.PUT("/api/items/{item_id}", {
    params: { path: target, header: { "If-Match": etag } },
    body: { name: "v2" },
  });
  expect(updated.response.status === 200 && updated.response.headers.get("etag") !== etag, "if-match");
  const stale = await client.PUT("/api/items/{item_id}", {
    params: { path: target, header: { "If-Match": etag } },
    body: { name: "v3" },
  });
  expectProblem(stale.error, stale.response, 412, "stale if-match");
  const cached = await anonymous.GET("/api/items/{item_id}", {
    params: { path: target, header: { "If-None-Match": updated.response.headers.get("etag") ?? "" } },
  });
  expect(cached.response.status === 304, `if-none-match: ${cached.response.status}`);

  const deleted = await client.DELETE("/api/items/{item_id}", { params: { path: { item_id: item.id } } });
  expect(deleted.response.status === 204, `delete: ${deleted.response.status}`);
  const gone = await anonymous.GET("/api/items/{item_id}", { params: { path: { item_id: item.id } } });
  expectProblem(gone.error, gone.response, 404, "get after delete");

  console.log(`typescript client scenario: ok (${seen.length} items listed over ${pages} pages)`);
}

const [baseUrl, token] = process.argv.slice(2);
if (!baseUrl || !token) {
  console.error("usage: node scenario.js BASE_URL TOKEN");
  process.exit(2);
}
main(baseUrl, token).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
