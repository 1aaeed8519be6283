# Unit tests of the shared memory rules (policies/aos/memory.rego).
package aos_test

import data.aos

# A memory call of `agent` (team platform, roles [agent]) with fields of `call.memory` replaced.
memory_call(fields) := object.union(with_call({"kind": "memory", "provider": "memory", "operation": "memory.get", "model": null, "max_tokens": null}), {"call": {"memory": object.union(
	{
		"namespace": "team:platform",
		"scope": "team",
		"name": "platform",
		"access": "read",
		"key": "notes/plan",
		"prefix": null,
		"bytes": null,
		"ttl_seconds": null,
		"workflow": "wf-1",
	},
	fields,
)}})

allowed(req) if decide(req) == {"allow": true, "reasons": [], "obligations": {}}

denied(req, reason) if decide(req) == deny_only(reason)

test_memory_own_team_reads_and_writes if {
	allowed(memory_call({}))
	allowed(memory_call({"access": "write", "bytes": 12}))
}

test_memory_other_team_denied if {
	denied(memory_call({"namespace": "team:payments", "name": "payments"}), "memory read of namespace team:payments is not allowed for agent demo-agent")
	denied(memory_call({"namespace": "team:payments", "name": "payments", "access": "write"}), "memory write of namespace team:payments is not allowed for agent demo-agent")
}

test_memory_own_agent_namespace_only if {
	allowed(memory_call({"namespace": "agent:demo-agent", "scope": "agent", "name": "demo-agent", "access": "write"}))
	denied(memory_call({"namespace": "agent:other", "scope": "agent", "name": "other"}), "memory read of namespace agent:other is not allowed for agent demo-agent")
}

test_memory_org_read_by_all_written_by_writer_roles if {
	org := {"namespace": "org", "scope": "org", "name": null}
	allowed(memory_call(org))
	denied(memory_call(object.union(org, {"access": "write"})), "memory write of namespace org is not allowed for agent demo-agent")
	writer := object.union(memory_call(object.union(org, {"access": "write"})), {"agent": object.union(agent, {"roles": ["agent", "memory-org-writer"]})})
	allowed(writer)
	without := aos.decision with input as writer with data.registry as registry with data.aos.settings.memory as {}
	without.allow
	custom := object.union(memory_call(object.union(org, {"access": "write"})), {"agent": object.union(agent, {"roles": ["curator"]})})
	d := aos.decision with input as custom with data.registry as registry with data.aos.settings.memory.org_writer_roles as ["curator"]
	d.allow
	denied(memory_call({"namespace": "org:acme", "scope": "org", "name": "acme"}), "memory read of namespace org:acme is not allowed for agent demo-agent")
}

test_memory_workflow_namespace_within_its_workflow if {
	wf := {"namespace": "workflow:wf-1", "scope": "workflow", "name": "wf-1", "access": "write"}
	allowed(memory_call(wf))
	denied(memory_call(object.union(wf, {"workflow": "wf-2"})), "memory write of namespace workflow:wf-1 is not allowed for agent demo-agent")
	denied(memory_call(object.union(wf, {"workflow": null})), "memory write of namespace workflow:wf-1 is not allowed for agent demo-agent")
}

test_memory_unknown_kind_denied if {
	denied(memory_call({"namespace": "project:x", "scope": "project", "name": "x"}), "memory read of namespace project:x is not allowed for agent demo-agent")
}

test_memory_anonymous if {
	anon := object.union(memory_call({"namespace": "org", "scope": "org", "name": null}), {"agent": null})
	allowed(anon)
	denied(object.union(anon, {"call": {"memory": {"access": "write"}}}), "memory write of namespace org is not allowed for calls without an agent identity")
	allowed(object.union(memory_call({"namespace": "workflow:wf-1", "scope": "workflow", "name": "wf-1", "access": "write"}), {"agent": null}))
	denied(object.union(memory_call({}), {"agent": null}), "memory read of namespace team:platform is not allowed for calls without an agent identity")
}

test_memory_findings_deny_or_redact if {
	secret := object.union(memory_call({"access": "write"}), {"call": {"findings": [{"detector": "secret.aws_access_key", "severity": "high", "path": "value.key"}]}})
	denied(secret, "guardrail finding secret.aws_access_key (high) at value.key")
	email := object.union(memory_call({"access": "write"}), {"call": {"findings": [{"detector": "pii.email", "severity": "medium", "path": "value.owner"}]}})
	decide(email) == {"allow": true, "reasons": [], "obligations": {"redact": true}}
}
