# Unit tests of the default policy: `opa test policies --coverage` (npm run policy:test).
# data.aos.settings comes from policies/data.json; data.registry is supplied here with `with`, as the
# gateway supplies it from config/agents.yaml at run time.
package aos_test

import data.aos

# --- fixtures --------------------------------------------------------------------------------------

templates := {
	"standard": {
		"version": 1,
		"providers": ["openai", "anthropic"],
		"models": ["gpt-4o*", "gpt-4.1*", "gpt-5*", "claude-*", "text-embedding-3-*"],
		"tools": [],
		"max_tokens": 4096,
		"guardrails": "standard",
	},
	"restricted": {
		"version": 1,
		"providers": ["openai"],
		"models": ["gpt-4o-mini"],
		"tools": [],
		"max_tokens": 1024,
		"guardrails": "strict",
	},
	"tooling": {
		"version": 2,
		"providers": [],
		"models": [],
		"tools": ["search", "github/*", "files.*"],
		"max_tokens": null,
		"guardrails": "unknown-profile",
	},
	"bare": {"version": 1},
	"planner": {"version": 1, "agents": ["research*", "writer/draft"]},
}

registry := {"templates": templates}

agent := {
	"id": "demo-agent",
	"team": "platform",
	"roles": ["agent"],
	"template": "standard",
	"template_version": 1,
	"labels": {"env": "dev"},
	"status": "active",
}

model_call := {
	"agent": agent,
	"request": {
		"id": "req-1",
		"method": "POST",
		"path": "/v1/chat/completions",
		"route": "openai/chat.completions",
		"time_ns": 1700000000000000000,
	},
	"call": {
		"kind": "model",
		"provider": "openai",
		"operation": "chat.completions",
		"model": "gpt-4o",
		"stream": false,
		"max_tokens": null,
		"est_input_tokens": 12,
		"tool": null,
		"findings": [],
	},
	"budget": null,
}

# A model call with fields of `call` (and of `agent`) replaced.
with_call(fields) := object.union(model_call, {"call": fields})

with_agent(fields) := object.union(model_call, {"agent": fields})

tool_call(kind, name, server) := with_call({
	"kind": kind,
	"provider": "mcp",
	"operation": "tools/call",
	"model": null,
	"tool": {"name": name, "server": server, "args": {}},
})

decide(req) := d if {
	d := aos.decision with input as req with data.registry as registry
}

deny_only(reason) := {"allow": false, "reasons": [reason], "obligations": {}}

# --- an allowed call -----------------------------------------------------------------------------

test_allowed_model_call if {
	decide(model_call) == {"allow": true, "reasons": [], "obligations": {"max_tokens": 4096}}
}

test_allowed_anthropic_with_dotted_model if {
	d := decide(with_call({"provider": "anthropic", "model": "claude-3.5-sonnet", "max_tokens": 100}))
	d == {"allow": true, "reasons": [], "obligations": {}}
}

# --- anonymous calls (identity off) --------------------------------------------------------------

anonymous_call := object.union(model_call, {"agent": null})

test_anonymous_allowed_by_default_data if {
	decide(anonymous_call) == {"allow": true, "reasons": [], "obligations": {}}
}

test_anonymous_allowed_without_settings if {
	d := decide(anonymous_call) with data.aos.settings as {}
	d.allow
}

test_anonymous_denied_by_setting if {
	d := decide(anonymous_call) with data.aos.settings.anonymous as "deny"
	d == deny_only("calls without an agent identity are denied")
}

test_anonymous_invalid_setting_denies if {
	d := decide(anonymous_call) with data.aos.settings.anonymous as "maybe"
	d == deny_only("invalid setting anonymous: maybe (expected allow or deny)")
}

test_anonymous_non_string_setting_denies if {
	d := decide(anonymous_call) with data.aos.settings.anonymous as true
	d == deny_only("invalid setting anonymous: true (expected allow or deny)")
}

test_anonymous_skips_template_rules if {
	# No template: any provider, model and tool; no max_tokens cap.
	d := decide(object.union(tool_call("mcp", "anything", null), {"agent": null}))
	d == {"allow": true, "reasons": [], "obligations": {}}
}

test_anonymous_still_budgeted_and_guarded if {
	req := object.union(anonymous_call, {
		"call": {"findings": [{"detector": "secret.private_key", "severity": "critical", "path": "messages.0.content"}]},
		"budget": {"scope": "org", "limit_usd": 1, "spent_usd": 1, "reserved_usd": 0, "estimated_usd": 0.01, "window": "monthly"},
	})
	decide(req).reasons == [
		"budget would be exceeded: scope org, window monthly",
		"guardrail finding secret.private_key (critical) at messages.0.content",
	]
}

# --- agent status and template -------------------------------------------------------------------

test_suspended_agent_denied if {
	d := decide(with_agent({"status": "suspended"}))
	d.allow == false
	d.reasons == ["agent demo-agent is suspended"]
}

test_unexpected_status_denied if {
	d := decide(with_agent({"status": "retired"}))
	d.reasons == ["agent demo-agent is not active (status retired)"]
}

test_unknown_template_denied if {
	d := decide(with_agent({"template": "nope"}))
	d == deny_only("template nope of agent demo-agent is not defined")
}

test_no_registry_denies_agents if {
	d := aos.decision with input as model_call with data.registry as {}
	d == deny_only("template standard of agent demo-agent is not defined")
}

# --- providers -----------------------------------------------------------------------------------

test_provider_not_allowed if {
	d := decide(with_call({"provider": "mistral"}))
	d.allow == false
	d.reasons == ["provider mistral is not allowed for template standard"]
}

test_provider_any_when_list_empty if {
	d := decide(object.union(with_call({"provider": "mistral", "model": "mistral-large"}), {"agent": {"template": "tooling"}}))
	d == {"allow": true, "reasons": [], "obligations": {}}
}

test_provider_any_when_template_has_no_lists if {
	d := decide(object.union(with_call({"provider": "mistral", "model": "x"}), {"agent": {"template": "bare"}}))
	d == {"allow": true, "reasons": [], "obligations": {}}
}

test_provider_not_checked_for_tools if {
	# "mcp" is not a provider of the tooling template's (empty = any) nor checked for tool calls.
	d := decide(object.union(tool_call("mcp", "search", null), {"agent": {"template": "restricted"}}))
	not "provider mcp is not allowed for template restricted" in d.reasons
}

# --- models --------------------------------------------------------------------------------------

test_model_not_allowed if {
	d := decide(with_call({"model": "gpt-4"}))
	d.reasons == ["model gpt-4 is not allowed for template standard"]
	d.allow == false
}

test_model_glob_is_anchored if {
	d := decide(with_call({"model": "my-gpt-4o"}))
	d.reasons == ["model my-gpt-4o is not allowed for template standard"]
}

test_model_any_when_list_empty if {
	d := decide(object.union(with_call({"model": "whatever/v1.2"}), {"agent": {"template": "tooling"}}))
	d.allow
}

test_model_null_not_checked if {
	d := decide(with_call({"operation": "models.list", "model": null}))
	d.allow
}

test_two_reasons_sorted if {
	d := decide(with_call({"provider": "mistral", "model": "mistral-large"}))
	d.reasons == [
		"model mistral-large is not allowed for template standard",
		"provider mistral is not allowed for template standard",
	]
}

# --- model downgrades ----------------------------------------------------------------------------

restricted_call(model) := object.union(with_call({"model": model}), {"agent": {"template": "restricted"}})

test_downgrade_obligation if {
	d := decide(restricted_call("gpt-4o"))
	d == {"allow": true, "reasons": [], "obligations": {"model": "gpt-4o-mini", "max_tokens": 1024}}
}

test_no_downgrade_for_allowed_model if {
	d := decide(restricted_call("gpt-4o-mini"))
	d == {"allow": true, "reasons": [], "obligations": {"max_tokens": 1024}}
}

test_model_without_downgrade_denied if {
	d := decide(restricted_call("gpt-5"))
	d.reasons == ["model gpt-5 is not allowed for template restricted"]
}

test_downgrade_to_disallowed_model_denied if {
	d := decide(restricted_call("gpt-4o")) with data.aos.settings.model_downgrades as {"restricted": {"gpt-4o": "gpt-4"}}
	d.allow == false
	d.reasons == ["model gpt-4 (downgraded from gpt-4o) is not allowed for template restricted"]
	d.obligations.model == "gpt-4"
}

test_downgrade_to_itself_is_no_obligation if {
	d := decide(restricted_call("gpt-4o-mini")) with data.aos.settings.model_downgrades as {"restricted": {"gpt-4o-mini": "gpt-4o-mini"}}
	d == {"allow": true, "reasons": [], "obligations": {"max_tokens": 1024}}
}

test_downgrade_is_per_template if {
	d := decide(with_call({"model": "gpt-4o"}))
	not d.obligations.model
}

# --- max_tokens cap ------------------------------------------------------------------------------

test_max_tokens_cap_when_unset if {
	decide(with_call({"max_tokens": null})).obligations == {"max_tokens": 4096}
}

test_max_tokens_cap_when_larger if {
	decide(with_call({"max_tokens": 10000})).obligations == {"max_tokens": 4096}
}

test_max_tokens_no_cap_when_equal_or_smaller if {
	decide(with_call({"max_tokens": 4096})).obligations == {}
	decide(with_call({"max_tokens": 1})).obligations == {}
}

test_max_tokens_no_cap_without_template_cap if {
	d := decide(object.union(model_call, {"agent": {"template": "tooling"}}))
	d.obligations == {}
}

test_max_tokens_not_for_tool_calls if {
	d := decide(object.union(tool_call("tool", "search", null), {"agent": {"template": "tooling"}}))
	d == {"allow": true, "reasons": [], "obligations": {}}
}

# --- tools ---------------------------------------------------------------------------------------

tooling_call(kind, name, server) := object.union(tool_call(kind, name, server), {"agent": {"template": "tooling"}})

test_tool_not_allowed_when_list_empty if {
	d := decide(tool_call("tool", "search", null))
	d == deny_only("tool search is not allowed for template standard")
}

test_tool_not_allowed_when_missing_from_template if {
	d := decide(object.union(tool_call("tool", "search", null), {"agent": {"template": "bare"}}))
	d == deny_only("tool search is not allowed for template bare")
}

test_tool_allowed_by_name if {
	decide(tooling_call("tool", "search", null)) == {"allow": true, "reasons": [], "obligations": {}}
}

test_tool_allowed_by_glob if {
	decide(tooling_call("mcp", "files.read", "fs")).allow
}

test_tool_allowed_by_server_pattern if {
	decide(tooling_call("mcp", "create_issue", "github")).allow
}

test_tool_server_pattern_needs_server if {
	d := decide(tooling_call("mcp", "create_issue", null))
	d == deny_only("tool create_issue is not allowed for template tooling")
}

test_tool_not_allowed_mcp if {
	d := decide(tooling_call("mcp", "shell", "box"))
	d.reasons == ["tool shell is not allowed for template tooling"]
}

test_tool_checked_for_http_kind if {
	d := decide(tooling_call("http", "weather", null))
	d.reasons == ["tool weather is not allowed for template tooling"]
}

test_tool_kinds_setting if {
	d := decide(tooling_call("http", "weather", null)) with data.aos.settings.tool_kinds as ["mcp"]
	d.allow
}

test_tool_kinds_default_without_settings if {
	d := decide(tooling_call("http", "weather", null)) with data.aos.settings as {}
	d.reasons == ["tool weather is not allowed for template tooling"]
}

test_mcp_without_tool_not_checked if {
	# e.g. initialize, tools/list: no tool named, nothing to check.
	req := object.union(tool_call("mcp", "x", null), {"call": {"operation": "tools/list", "tool": null}})
	decide(req) == {"allow": true, "reasons": [], "obligations": {}}
}

# --- sensitive tools -----------------------------------------------------------------------------

test_sensitive_tool_requires_approval if {
	d := decide(tooling_call("mcp", "files.delete", "fs"))
	d == {"allow": true, "reasons": [], "obligations": {"require_approval": true}}
}

test_sensitive_tool_by_server_name if {
	d := decide(tooling_call("mcp", "create_issue", "github")) with data.aos.settings.sensitive_tools as ["github/*"]
	d.obligations == {"require_approval": true}
}

test_not_sensitive_tool if {
	decide(tooling_call("mcp", "files.read", "fs")).obligations == {}
}

test_no_sensitive_tools_without_settings if {
	d := decide(tooling_call("mcp", "files.delete", "fs")) with data.aos.settings as {}
	d.obligations == {}
}

test_denied_sensitive_tool_keeps_obligation if {
	d := decide(tool_call("mcp", "drop_table", "db"))
	d.allow == false
	d.reasons == ["tool drop_table is not allowed for template standard"]
	d.obligations == {"require_approval": true}
}

# --- budget --------------------------------------------------------------------------------------

budget(spent, reserved, estimated) := {
	"scope": "team:platform",
	"limit_usd": 20,
	"spent_usd": spent,
	"reserved_usd": reserved,
	"estimated_usd": estimated,
	"window": "daily",
}

test_budget_exceeded if {
	d := decide(object.union(model_call, {"budget": budget(19.5, 0.25, 0.5)}))
	d.allow == false
	d.reasons == ["budget would be exceeded: scope team:platform, window daily"]
}

test_budget_exactly_at_limit_allowed if {
	decide(object.union(model_call, {"budget": budget(19.5, 0.25, 0.25)})).allow
}

test_budget_within_limit_allowed if {
	decide(object.union(model_call, {"budget": budget(1, 2, 3)})).allow
}

test_budget_reserved_counts if {
	not decide(object.union(model_call, {"budget": budget(0, 20, 0.01)})).allow
}

# --- guardrail findings --------------------------------------------------------------------------

finding(detector, severity) := {"detector": detector, "severity": severity, "path": "messages.0.content"}

with_findings(req, findings) := object.union(req, {"call": {"findings": findings}})

test_high_finding_denied if {
	d := decide(with_findings(model_call, [finding("secret.aws_access_key", "high")]))
	d.allow == false
	d.reasons == ["guardrail finding secret.aws_access_key (high) at messages.0.content"]
}

test_critical_finding_denied if {
	d := decide(with_findings(model_call, [finding("secret.private_key", "critical")]))
	d.reasons == ["guardrail finding secret.private_key (critical) at messages.0.content"]
}

test_medium_finding_redacted if {
	d := decide(with_findings(model_call, [finding("pii.email", "medium")]))
	d == {"allow": true, "reasons": [], "obligations": {"max_tokens": 4096, "redact": true}}
}

test_low_finding_redacted if {
	d := decide(with_findings(model_call, [finding("pii.phone", "low")]))
	d.obligations.redact
	d.allow
}

test_mixed_findings_deny_and_redact if {
	d := decide(with_findings(model_call, [finding("pii.email", "low"), finding("secret.aws_access_key", "high")]))
	d.allow == false
	d.obligations.redact
}

test_strict_profile_denies_medium if {
	d := decide(with_findings(restricted_call("gpt-4o-mini"), [finding("pii.email", "medium")]))
	d.reasons == ["guardrail finding pii.email (medium) at messages.0.content"]
}

test_strict_profile_redacts_low if {
	d := decide(with_findings(restricted_call("gpt-4o-mini"), [finding("pii.email", "low")]))
	d == {"allow": true, "reasons": [], "obligations": {"max_tokens": 1024, "redact": true}}
}

test_unknown_profile_uses_global_severities if {
	req := with_findings(tooling_call("tool", "search", null), [finding("pii.email", "medium")])
	decide(req) == {"allow": true, "reasons": [], "obligations": {"redact": true}}
	d := decide(req) with data.aos.settings.deny_severities as ["medium"]
	d.allow == false
}

test_default_severities_without_settings if {
	d := decide(with_findings(model_call, [finding("secret.aws_access_key", "high"), finding("pii.iban", "medium")])) with data.aos.settings as {}
	d.reasons == ["guardrail finding secret.aws_access_key (high) at messages.0.content"]
	d.obligations.redact
}

test_every_reason_at_once if {
	req := {
		"agent": object.union(agent, {"status": "suspended"}),
		"request": model_call.request,
		"call": object.union(model_call.call, {
			"provider": "mistral",
			"model": "mistral-large",
			"findings": [finding("secret.aws_access_key", "high")],
		}),
		"budget": budget(20, 0, 1),
	}
	d := decide(req)
	d.allow == false
	d.reasons == [
		"agent demo-agent is suspended",
		"budget would be exceeded: scope team:platform, window daily",
		"guardrail finding secret.aws_access_key (high) at messages.0.content",
		"model mistral-large is not allowed for template standard",
		"provider mistral is not allowed for template standard",
	]
}

# --- glob patterns (no delimiters: `*` spans dots and slashes) -----------------------------------

test_glob_forms if {
	aos.matches_any(["gpt-4o"], {"gpt-4o"})
	not aos.matches_any(["gpt-4o"], {"gpt-4o-mini"})
	aos.matches_any(["gpt-4o*"], {"gpt-4o"})
	aos.matches_any(["gpt-4o*"], {"gpt-4o.1/x"})
	aos.matches_any(["*-mini"], {"gpt-4o-mini"})
	not aos.matches_any(["*-mini"], {"gpt-4o-mini-2024"})
	aos.matches_any(["gpt*mini"], {"gpt-4o-mini"})
	not aos.matches_any(["gpt*mini"], {"gpt-4o-mini-x"})
	not aos.matches_any(["ab*ba"], {"aba"}) # prefix and suffix may not overlap
	aos.matches_any(["*delete*"], {"files.delete_all"})
	not aos.matches_any(["*delete*"], {"files.remove"})
	aos.matches_any(["*"], {""})
	not aos.matches_any([], {"x"})
	not aos.matches_any(["x"], set())
}

test_glob_other_syntax_uses_glob_match if {
	aos.matches_any(["gpt-4o-?ini"], {"gpt-4o-mini"})
	not aos.matches_any(["gpt-4o-?ini"], {"gpt-4o-xmini"})
	aos.matches_any(["gpt-4o-{mini,nano}"], {"gpt-4o-nano"})
	not aos.matches_any(["gpt-4o-{mini,nano}"], {"gpt-4o"})
	aos.matches_any(["db.[rw]*"], {"db.read"})
	not aos.matches_any(["db.[rw]*"], {"db.drop"})
	aos.matches_any(["a\\*b"], {"a*b"})
	not aos.matches_any(["a\\*b"], {"axb"})
	aos.matches_any(["llama*70b*instruct"], {"llama-3.1-70b-instruct"})
	not aos.matches_any(["llama*70b*instruct"], {"llama-3.1-8b-instruct"})
	aos.matches_any(["*a*b"], {"xaxb"})
}

# --- tool registry traits: sensitive, read-only, HTTP operations -----------------------------------

traited_call(kind, name, server, traits) := object.union(tooling_call(kind, name, server), {"call": {"tool": traits}})

test_sensitive_flag_requires_approval if {
	d := decide(traited_call("mcp", "files.read", "fs", {"sensitive": true}))
	d == {"allow": true, "reasons": [], "obligations": {"require_approval": true}}
}

test_not_sensitive_flag_no_approval if {
	decide(traited_call("mcp", "files.read", "fs", {"sensitive": false})).obligations == {}
}

test_http_operation_allowed_by_tool_name if {
	req := object.union(tooling_call("tool", "search", null), {"call": {"operation": "query"}})
	decide(req) == {"allow": true, "reasons": [], "obligations": {}}
}

ops_registry := {"templates": {"ops": {"version": 1, "tools": ["weather/fore*"]}}}

ops_call(operation) := object.union(tool_call("tool", "weather", null), {"agent": {"template": "ops"}, "call": {"operation": operation}})

test_http_operation_allowed_by_operation_pattern if {
	d := aos.decision with input as ops_call("forecast") with data.registry as ops_registry
	d == {"allow": true, "reasons": [], "obligations": {}}
}

test_http_operation_denied_by_operation_pattern if {
	d := aos.decision with input as ops_call("delete_station") with data.registry as ops_registry
	d.reasons == ["tool weather is not allowed for template ops"]
	d.obligations == {"require_approval": true}
}

test_read_only_template_allows_read_only_tool if {
	d := decide(traited_call("mcp", "files.read", "fs", {"read_only": true})) with data.aos.settings.read_only_templates as ["tooling"]
	d == {"allow": true, "reasons": [], "obligations": {}}
}

test_read_only_template_denies_writing_tool if {
	d := decide(traited_call("mcp", "files.write", "fs", {"read_only": false})) with data.aos.settings.read_only_templates as ["tooling"]
	d == deny_only("tool files.write is not read-only (template tooling may use read-only tools only)")
}

test_read_only_template_denies_unflagged_tool if {
	d := decide(tooling_call("mcp", "files.write", "fs")) with data.aos.settings.read_only_templates as ["tooling"]
	d.reasons == ["tool files.write is not read-only (template tooling may use read-only tools only)"]
}

test_read_only_not_required_of_other_templates if {
	decide(traited_call("mcp", "files.write", "fs", {"read_only": false})).allow
}

test_read_only_default_without_settings if {
	d := decide(traited_call("mcp", "files.write", "fs", {"read_only": false})) with data.aos.settings as {}
	d.allow
}

# --- A2A hand-offs --------------------------------------------------------------------------------

planner := object.union(agent, {"id": "planner", "template": "planner"})

a2a_call(callee, skill, delegation) := object.union(object.union(model_call, {"agent": planner}), {"call": {
	"kind": "a2a",
	"provider": concat("", ["a2a:", callee]),
	"operation": "SendMessage",
	"model": null,
	"max_tokens": null,
	"a2a": {"agent": callee, "method": "SendMessage", "binding": "jsonrpc", "skill": skill},
	"delegation": delegation,
}})

test_a2a_allowed_by_pattern if {
	decide(a2a_call("researcher", null, null)) == {"allow": true, "reasons": [], "obligations": {}}
}

test_a2a_skill_pattern_allows_messages_to_its_agent if {
	decide(a2a_call("writer", null, null)).allow
}

test_a2a_card_skills_filtered if {
	decide(a2a_call("writer", "draft", null)).allow
	d := decide(a2a_call("writer", "publish", null))
	d == deny_only("agent writer is not one agents of template planner may hand work to")
}

test_a2a_unlisted_agent_denied if {
	d := decide(a2a_call("billing", null, null))
	d == deny_only("agent billing is not one agents of template planner may hand work to")
}

test_a2a_template_without_agents_denies if {
	req := object.union(a2a_call("researcher", null, null), {"agent": agent})
	d := decide(req)
	d == deny_only("agent researcher is not one agents of template standard may hand work to")
}

test_a2a_depth_bounded_by_setting if {
	chain := {"chain": ["planner", "researcher"], "depth": 1}
	decide(a2a_call("researcher2", null, chain)).allow
	d := decide(a2a_call("researcher2", null, chain)) with data.aos.settings.max_delegation_depth as 1
	d == deny_only("delegation chain of 2 hand-offs is over the policy's limit of 1")
}

test_a2a_first_hand_off_within_depth_one if {
	d := decide(a2a_call("researcher", null, null)) with data.aos.settings.max_delegation_depth as 1
	d.allow
}
