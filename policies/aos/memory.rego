# Shared memory (call.kind == "memory", docs/coordination.md#shared-memory): who may read and write
# which namespace. `input.call.memory` is {namespace, scope, name, access, key, prefix, bytes,
# ttl_seconds, workflow}; `access` is "read" (get, list, search) or "write" (put, delete); `workflow`
# is the call's workflow id on workflow: namespaces, null on the others.
#
#   agent:<id>      the agent <id> only
#   team:<team>     the agents of <team>
#   org             every agent reads; agents with a role in settings.memory.org_writer_roles write
#   workflow:<id>   calls of workflow <id> (x-aos-workflow-id, or the one the gateway started)
#
# Any other namespace (another kind, `org:<name>`) is denied here: a policy of your own may allow it.
# Calls without an agent (identity off) may read org and use their workflow's namespace.
package aos

# Roles whose agents may write the org namespace.
default memory_org_writer_roles := ["memory-org-writer"]

memory_org_writer_roles := data.aos.settings.memory.org_writer_roles

memory_call := input.call.memory if input.call.kind == "memory"

memory_allowed if {
	memory_call.scope == "agent"
	memory_call.name == agent.id
}

memory_allowed if {
	memory_call.scope == "team"
	memory_call.name == agent.team
}

memory_allowed if {
	memory_call.scope == "org"
	memory_call.name == null
	memory_call.access == "read"
}

memory_allowed if {
	memory_call.scope == "org"
	memory_call.name == null
	memory_call.access == "write"
	some role in agent.roles
	role in memory_org_writer_roles
}

memory_allowed if {
	memory_call.scope == "workflow"
	memory_call.name == memory_call.workflow
}

memory_caller := concat("", ["agent ", agent.id]) if agent

memory_caller := "calls without an agent identity" if input.agent == null

deny contains concat("", ["memory ", memory_call.access, " of namespace ", memory_call.namespace, " is not allowed for ", memory_caller]) if {
	memory_call
	not memory_allowed
}
