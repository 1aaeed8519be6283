-- wrk script for the bench: POSTs one fixed OpenAI chat completion request.
--
-- Configured through the environment (so the request stays static and wrk builds it only once):
--   BENCH_STREAM=1          ask for a server-sent event stream ("stream":true)
--   BENCH_AUTHORIZATION=…   the Authorization header (the agent's token for the gateway)
-- At the end it prints one line "BENCH_JSON {...}" with the counts and latency percentiles (µs).

local stream = os.getenv("BENCH_STREAM") == "1"

local body = '{"model":"gpt-4o-mini","messages":['
  .. '{"role":"system","content":"You are a concise assistant for an internal operations team. Answer in one or two sentences, cite no sources, and never include secrets."},'
  .. '{"role":"user","content":"Summarise the state of the nightly batch jobs: ingestion finished at 02:14, the reconciliation job retried twice and succeeded at 03:05, and the report export is still queued behind the warehouse maintenance window."}'
  .. '],"temperature":0.2,"max_tokens":256,"user":"bench-agent-01"'
if stream then
  body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
body = body .. '}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = stream and "text/event-stream" or "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION") or ""
wrk.headers["Authorization"] = authorization ~= "" and authorization or "Bearer sk-agent-side-key-that-the-gateway-strips"
wrk.headers["User-Agent"] = "aos-bench/wrk"

-- done(): the BENCH_JSON line, from the script beside this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "bench-json.lua")
