# AOS gateway: the default policy. Every call the gateway proxies is decided by `data.aos.decision`
# (entrypoint `aos/decision`), which returns
#
#   {"allow": bool, "reasons": [string], "obligations": {max_tokens?, model?, redact?, require_approval?}}
#
# `input` is the PolicyInput of src/policy/types.ts (agent, request, call, budget). Everything a
# security team tunes is data, not Rego:
#
#   data.registry.templates[name]   agent templates (providers, models, tools, agents, max_tokens, guardrails),
#                                   supplied by the gateway from config/agents.yaml at run time
#   data.aos.settings               policies/data.json: anonymous calls, guardrail severities,
#                                   sensitive tools, read-only templates, model downgrades
#                                   (policies/README.md)
#
# Tool calls carry the tool registry's traits: input.call.tool.{labels, sensitive, read_only}.
# A2A hand-offs (kind "a2a") carry input.call.a2a {agent, method, binding, skill}; a call an agent
# makes under a gateway-signed delegation carries input.call.delegation {chain, depth}.
#
# A call is allowed when no deny rule fires; `reasons` lists every deny reason, sorted, as stable
# human-readable strings. Obligations are computed whether or not the call is allowed; the gateway
# acts on them only for allowed calls.
package aos

# --- settings, with the defaults used when data.json leaves one out ------------------------------

# Calls without an agent identity (identity turned off): "allow" or "deny". Allow by default so a
# gateway run without identity still proxies; anything other than the two words denies.
default anonymous_mode := "allow"

anonymous_mode := data.aos.settings.anonymous

# Guardrail finding severities that deny the call; findings of any other severity oblige `redact`.
default global_deny_severities := ["high", "critical"]

global_deny_severities := data.aos.settings.deny_severities

# A template's guardrail profile may set its own list (settings.guardrail_profiles[profile]).
# (A helper rule, so that `not` sees it whole: with no template, the global list applies.)
profile_deny_severities := data.aos.settings.guardrail_profiles[template.guardrails].deny_severities

deny_severities := profile_deny_severities

deny_severities := global_deny_severities if not profile_deny_severities

# Glob patterns of tool names that need a human's approval before the call goes out.
default sensitive_tools := []

sensitive_tools := data.aos.settings.sensitive_tools

# Templates whose agents may only use tools marked read-only (readOnly in the tool registry).
default read_only_templates := []

read_only_templates := data.aos.settings.read_only_templates

# Call kinds whose `call.tool` is checked against the template's `tools`.
default tool_kinds := ["tool", "mcp", "http"]

tool_kinds := data.aos.settings.tool_kinds

# A2A hand-offs: the longest delegation chain the policy allows (hand-offs; 0: no bound of its own,
# the registry's delegation.maxDepth still refuses longer chains with aos_delegation_too_deep).
default max_delegation_depth := 0

max_delegation_depth := data.aos.settings.max_delegation_depth

# --- the agent's template ------------------------------------------------------------------------

agent := input.agent if input.agent != null

template_name := agent.template

template := data.registry.templates[template_name]

# The model this call will really use: the requested one, or its downgrade for this template.
requested_model := input.call.model if {
	input.call.kind == "model"
	is_string(input.call.model)
}

downgraded_model := data.aos.settings.model_downgrades[template_name][requested_model]

tool_checked if {
	input.call.tool != null
	input.call.kind in tool_kinds
}

# A tool's name, and "<server>/<name>" when it comes from a named (MCP) server: patterns may match either.
tool_names contains input.call.tool.name if input.call.tool != null

tool_names contains concat("/", [input.call.tool.server, input.call.tool.name]) if {
	input.call.tool != null
	is_string(input.call.tool.server)
}

# An HTTP tool's operation: "<tool>/<operation>", so a template may allow some operations only.
tool_names contains concat("/", [input.call.tool.name, input.call.operation]) if {
	input.call.tool != null
	input.call.kind == "tool"
}

# Glob patterns match with no delimiters: `*` spans any characters, dots and slashes included.
# The usual forms ("name", "prefix*", "*suffix", "pre*suf", "*part*") are matched with string
# builtins: in Wasm, glob.match compiles its pattern on every call (~10 µs each). Any other glob
# syntax (?, [..], {..}, escapes, more `*`) goes to glob.match with null delimiters (an empty list
# would default to ".", and "claude-*" would miss "claude-3.5-sonnet").
matches_any(patterns, names) if {
	some pattern in patterns
	pattern_matches_any(pattern, names)
}

pattern_matches_any(pattern, names) if {
	not glob_syntax(pattern)
	parts := split(pattern, "*")
	some name in names
	star_match(parts, name)
}

pattern_matches_any(pattern, names) if {
	glob_syntax(pattern)
	some name in names
	glob.match(pattern, null, name)
}

glob_syntax(pattern) if contains(pattern, "?")

glob_syntax(pattern) if contains(pattern, "[")

glob_syntax(pattern) if contains(pattern, "{")

glob_syntax(pattern) if contains(pattern, "\\")

star_match(parts, name) if {
	count(parts) == 1
	parts[0] == name
}

star_match(parts, name) if {
	count(parts) == 2
	startswith(name, parts[0])
	endswith(name, parts[1])
	count(name) >= count(parts[0]) + count(parts[1])
}

star_match(parts, name) if {
	infix_form(parts)
	contains(name, parts[1])
}

star_match(parts, name) if {
	count(parts) > 2
	not infix_form(parts)
	glob.match(concat("*", parts), null, name)
}

infix_form(parts) if {
	count(parts) == 3
	parts[0] == ""
	parts[2] == ""
}

# --- deny rules ----------------------------------------------------------------------------------

deny contains "calls without an agent identity are denied" if {
	input.agent == null
	anonymous_mode == "deny"
}

deny contains concat("", ["invalid setting anonymous: ", format_setting(anonymous_mode), " (expected allow or deny)"]) if {
	input.agent == null
	not anonymous_mode in {"allow", "deny"}
}

deny contains concat("", ["agent ", agent.id, " is suspended"]) if agent.status == "suspended"

deny contains concat("", ["agent ", agent.id, " is not active (status ", format_setting(agent.status), ")"]) if {
	agent
	not agent.status in {"active", "suspended"}
}

deny contains concat("", ["template ", template_name, " of agent ", agent.id, " is not defined"]) if {
	agent
	not template
}

# Providers: an empty list allows any. Checked for model calls (tools and MCP servers are not providers).
deny contains concat("", ["provider ", input.call.provider, " is not allowed for template ", template_name]) if {
	input.call.kind == "model"
	template
	allowed := object.get(template, "providers", [])
	count(allowed) > 0
	not input.call.provider in allowed
}

# Models: glob patterns, an empty list allows any. A call naming no model (e.g. listing models) is not checked.
deny contains concat("", ["model ", requested_model, " is not allowed for template ", template_name]) if {
	requested_model
	not downgraded_model
	allowed := object.get(template, "models", [])
	count(allowed) > 0
	not matches_any(allowed, {requested_model})
}

deny contains concat("", ["model ", downgraded_model, " (downgraded from ", requested_model, ") is not allowed for template ", template_name]) if {
	downgraded_model
	allowed := object.get(template, "models", [])
	count(allowed) > 0
	not matches_any(allowed, {downgraded_model})
}

# Tools: glob patterns over the tool's name (or server/name); an empty list allows none.
deny contains concat("", ["tool ", input.call.tool.name, " is not allowed for template ", template_name]) if {
	template
	tool_checked
	not matches_any(object.get(template, "tools", []), tool_names)
}

# A2A hand-offs: the template's `agents` (glob patterns over the callee's id, or "<agent>/<skill>"
# for one skill of it); an empty list allows none. A message names no skill: any pattern of the
# callee allows it. A card lists a skill when a pattern matches the agent or "<agent>/<skill>".
deny contains concat("", ["agent ", input.call.a2a.agent, " is not one agents of template ", template_name, " may hand work to"]) if {
	input.call.kind == "a2a"
	template
	not a2a_allowed
}

a2a_allowed if {
	input.call.a2a.skill == null
	some pattern in object.get(template, "agents", [])
	pattern_matches_any(split(pattern, "/")[0], {input.call.a2a.agent})
}

a2a_allowed if {
	is_string(input.call.a2a.skill)
	matches_any(object.get(template, "agents", []), {input.call.a2a.agent, concat("/", [input.call.a2a.agent, input.call.a2a.skill])})
}

# Delegation depth: the chain this hand-off makes (the caller's chain, plus one).
handoff_depth := object.get(input.call, ["delegation", "depth"], 0) + 1 if input.call.kind == "a2a"

deny contains sprintf("delegation chain of %d hand-offs is over the policy's limit of %d", [handoff_depth, max_delegation_depth]) if {
	max_delegation_depth > 0
	handoff_depth > max_delegation_depth
}

# Read-only templates: every tool call must be to a tool (or operation) marked read-only.
deny contains concat("", ["tool ", input.call.tool.name, " is not read-only (template ", template_name, " may use read-only tools only)"]) if {
	tool_checked
	template_name in read_only_templates
	not input.call.tool.read_only == true
}

# Budget: this call's worst-case cost on top of what is spent and reserved must fit the limit.
deny contains concat("", ["budget would be exceeded: scope ", input.budget.scope, ", window ", input.budget.window]) if {
	input.budget != null
	(input.budget.spent_usd + input.budget.reserved_usd) + input.budget.estimated_usd > input.budget.limit_usd
}

# Guardrails: findings of a denying severity (never their values: detector, severity and path only).
deny contains concat("", ["guardrail finding ", f.detector, " (", f.severity, ") at ", f.path]) if {
	some f in input.call.findings
	f.severity in deny_severities
}

format_setting(value) := value if is_string(value)

format_setting(value) := json.marshal(value) if not is_string(value)

# --- obligations ---------------------------------------------------------------------------------

# Cap output tokens at the template's max_tokens when the request asks for more, or sets no limit.
obligations["max_tokens"] := template.max_tokens if {
	input.call.kind == "model"
	is_number(template.max_tokens)
	request_exceeds_cap
}

request_exceeds_cap if input.call.max_tokens == null

request_exceeds_cap if input.call.max_tokens > template.max_tokens

obligations["model"] := downgraded_model if downgraded_model != requested_model

obligations["redact"] if {
	some f in input.call.findings
	not f.severity in deny_severities
}

obligations["require_approval"] if {
	tool_checked
	matches_any(sensitive_tools, tool_names)
}

# A tool (or operation) the registry marks sensitive needs an approval too.
obligations["require_approval"] if {
	tool_checked
	input.call.tool.sensitive == true
}

# --- the decision --------------------------------------------------------------------------------

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([reason | some reason in deny]),
	"obligations": obligations,
}
