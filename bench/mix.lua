-- wrk script for the bench's realistic mix: every request is built anew in request(), so nothing
-- the gateway caches per token, per prompt or per decision gets a free hit.
--
--   - a different agent each call: round-robin over the tokens in BENCH_TOKENS (one line per agent,
--     "agent-id token"; without the file, a placeholder key, as for direct and the floor);
--   - a distinct ~1 KB prompt each call: words drawn from a list by a generator seeded with
--     BENCH_SEED (a different seed per wrk run) and the call's counter, plus the counter itself;
--   - about half OpenAI chat completions (POST /v1/chat/completions, Authorization: Bearer), half
--     Anthropic messages (POST /anthropic/v1/messages, x-api-key and anthropic-version);
--   - 20% streaming (OpenAI streams ask for usage, as an SDK that meters does).
-- At the end it prints one line "BENCH_JSON {...}" with the counts and latency percentiles (µs).

local seed = tonumber(os.getenv("BENCH_SEED") or "1") or 1

local agents, tokens = {}, {}
local file = os.getenv("BENCH_TOKENS") or ""
if file ~= "" then
  for line in io.lines(file) do
    local id, token = line:match("^(%S+)%s+(%S+)$")
    if id ~= nil then
      agents[#agents + 1] = id
      tokens[#tokens + 1] = token
    end
  end
end
if #tokens == 0 then
  agents[1] = "bench-agent"
  tokens[1] = "sk-agent-side-key-that-the-gateway-strips"
end

local words = {
  "ingestion", "pipeline", "nightly", "batch", "warehouse", "report", "export", "queue", "retry",
  "reconciliation", "invoice", "customer", "ticket", "escalation", "latency", "throughput", "deploy",
  "rollback", "canary", "cluster", "region", "replica", "schema", "migration", "index", "partition",
  "backlog", "sprint", "review", "summary", "forecast", "quarter", "revenue", "churn", "cohort",
  "dashboard", "alert", "incident", "postmortem", "runbook", "owner", "handover", "shift", "window",
  "maintenance", "upgrade", "version", "release", "feature", "flag", "experiment", "variant", "metric",
  "baseline", "threshold", "budget", "spend", "vendor", "contract", "renewal", "policy", "approval",
  "request", "change", "freeze", "capacity", "storage", "network", "gateway", "service", "endpoint",
  "payload", "timeout", "error", "warning", "success", "failure", "status", "update", "draft", "final",
  "the", "a", "of", "and", "to", "in", "for", "on", "with", "after", "before", "during", "while",
  "still", "again", "twice", "once", "finished", "started", "queued", "blocked", "resolved", "pending",
  "please", "explain", "compare", "list", "check", "confirm", "estimate", "describe", "suggest",
  "morning", "evening", "monday", "friday", "team", "platform", "search", "support", "payments",
  "research", "analytics", "billing", "catalog", "orders", "shipping", "inventory", "pricing",
}
local nwords = #words

local system = "You are a concise assistant for an internal operations team. Answer in one or two sentences, cite no sources, and never include secrets."

-- Park-Miller minimal standard generator: exact in LuaJIT's doubles.
local state = (seed * 7919) % 2147483646 + 1
local function rand(n)
  state = (state * 16807) % 2147483647
  return state % n
end

local counter = 0
local parts = {}

local function prompt()
  local n = 0
  parts[1] = "Ticket " .. seed .. "-" .. counter .. ":"
  local len = #parts[1]
  n = 1
  -- about 1 KB of user text
  while len < 900 do
    n = n + 1
    local w = words[rand(nwords) + 1]
    parts[n] = w
    len = len + #w + 1
  end
  return table.concat(parts, " ", 1, n) .. "."
end

local json_headers = { ["Content-Type"] = "application/json", ["User-Agent"] = "aos-bench/wrk" }

request = function()
  counter = counter + 1
  local i = (counter % #tokens) + 1
  local stream = rand(5) == 0
  local text = prompt()
  local headers = json_headers
  headers["Accept"] = stream and "text/event-stream" or "application/json"
  if rand(2) == 0 then
    headers["Authorization"] = "Bearer " .. tokens[i]
    headers["x-api-key"] = nil
    headers["anthropic-version"] = nil
    local body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"' .. system
      .. '"},{"role":"user","content":"' .. text .. '"}],"temperature":0.2,"max_tokens":256,"user":"'
      .. agents[i] .. '"' .. (stream and ',"stream":true,"stream_options":{"include_usage":true}}' or '}')
    return wrk.format("POST", "/v1/chat/completions", headers, body)
  end
  headers["Authorization"] = nil
  headers["x-api-key"] = tokens[i]
  headers["anthropic-version"] = "2023-06-01"
  local body = '{"model":"claude-3-5-haiku-20241022","max_tokens":256,"system":"' .. system
    .. '","messages":[{"role":"user","content":"' .. text .. '"}]' .. (stream and ',"stream":true}' or '}')
  return wrk.format("POST", "/anthropic/v1/messages", headers, body)
end

-- done(): the BENCH_JSON line, from the script beside this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "bench-json.lua")
