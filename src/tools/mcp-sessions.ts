/**
 * Which agent opened each MCP session (the `MCP-Session-Id` the server gave its `initialize`).
 * The gateway calls the server with one credential for every agent, so the server cannot tell
 * agents apart: without this, an agent that learned another's session id could read its stream or
 * act in its session. A request naming a session another agent opened is refused; a session the
 * gateway did not see open (another replica, before a restart) is left to the server. Bounded:
 * past `max` sessions the oldest are forgotten.
 */
export interface SessionOwners {
  /** The agent id ('' for anonymous) that opened the session, or undefined when unknown. */
  owner(id: string): string | undefined;
  claim(id: string, agent: string): void;
  end(id: string): void;
  size(): number;
}

export function createSessionOwners(max = 100_000): SessionOwners {
  const owners = new Map<string, string>();
  return {
    owner: (id) => owners.get(id),
    claim(id, agent) {
      owners.delete(id);
      owners.set(id, agent);
      if (owners.size > max) owners.delete(owners.keys().next().value!);
    },
    end(id) {
      owners.delete(id);
    },
    size: () => owners.size,
  };
}
