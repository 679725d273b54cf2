-- wrk script: POST /api/items with the original's body and the bearer token
-- (WRK_TOKEN in the environment).
wrk.method = "POST"
wrk.body = '{"name": "Test Item", "description": "AWS Lambda test"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_TOKEN") or "")
