import type { FleetSuspension, KillSwitch } from '../control/protocol.js';
import { GatewayError } from '../errors.js';
import type { FleetGate } from '../identity/authenticate.js';
import type { Agent } from '../identity/registry.js';
import type { SuspensionStore } from '../identity/suspensions.js';
import type { CallContext } from '../pipeline/context.js';
import { LiveList } from '../pipeline/live-list.js';

/**
 * The fleet's suspensions and kill switches as the authenticate stage sees them (hot path: a few
 * Map lookups, nothing when there are none), and the calls in flight per agent, so a new kill or
 * suspension can cut them. `set` swaps the whole state at once, as a snapshot is whole.
 */
export interface FleetOverlay extends FleetGate {
  /** Applies a snapshot's suspensions and kills; cuts the live calls they newly cover (unless they let them finish). */
  set(suspensions: readonly FleetSuspension[], kills: readonly KillSwitch[]): { cut: number };
  /** Calls in flight (tracked). */
  live(): number;
  /** The fleet's suspensions where the local store served (admin API, metrics): read-only, they are the control plane's. */
  readonly suspensions: SuspensionStore;
}

interface State {
  readonly empty: boolean;
  readonly suspended: ReadonlyMap<string, FleetSuspension>;
  readonly agents: ReadonlyMap<string, KillSwitch>;
  readonly teams: ReadonlyMap<string, KillSwitch>;
  readonly templates: ReadonlyMap<string, KillSwitch>;
  readonly all: KillSwitch | null;
}

const NONE: State = { empty: true, suspended: new Map(), agents: new Map(), teams: new Map(), templates: new Map(), all: null };

/** `onSuspend`: what a suspension does to live calls (`controlPlane.onKill`); a kill switch says it itself. */
export function createFleetOverlay(onSuspend: 'cut' | 'finish'): FleetOverlay {
  let state = NONE;
  /** Live calls by agent id (lists, not Sets: see live-list.ts); an agent's list is kept once made (agents are few, calls many). */
  const calls = new Map<string, LiveList<CallContext>>();
  let count = 0;

  const killOf = (s: State, agent: Agent): KillSwitch | null => {
    if (s.all !== null) return s.all;
    return s.agents.get(agent.id) ?? s.teams.get(agent.team) ?? s.templates.get(templateName(agent.template)) ?? null;
  };
  const refusalIn = (s: State, agent: Agent): GatewayError | null => {
    if (s.empty) return null;
    const suspension = s.suspended.get(agent.id);
    if (suspension !== undefined) return new GatewayError('aos_agent_suspended', `agent ${agent.id} is suspended: ${suspension.reason}`);
    const kill = killOf(s, agent);
    return kill === null ? null : killed(agent, kill);
  };

  /** What a state does to the agent's calls in flight: `cut`, `finish`, or nothing (null: not covered). */
  const liveIn = (s: State, agent: Agent): 'cut' | 'finish' | null => {
    if (s.empty) return null;
    const kill = killOf(s, agent);
    if (kill?.live === 'cut') return 'cut';
    if (s.suspended.has(agent.id)) return onSuspend;
    return kill === null ? null : kill.live;
  };

  return {
    refusal: (agent) => refusalIn(state, agent),
    track(ctx, agent) {
      const id = agent.id;
      let list = calls.get(id);
      if (list === undefined) {
        list = new LiveList();
        calls.set(id, list);
      }
      const node = list.add(ctx);
      count += 1;
      ctx.onFinish(() => {
        node.remove();
        count -= 1;
        // Many distinct agents (admitted unregistered ones): idle ones are let go, so the map stays bounded.
        if (list.size === 0 && calls.size > 1024) calls.delete(id);
      });
    },
    set(suspensions, kills) {
      const before = state;
      state = stateOf(suspensions, kills);
      let cut = 0;
      if (state.empty || count === 0) return { cut };
      for (const list of calls.values()) {
        list.forEach((ctx) => {
          const agent = ctx.agent!;
          // Cut once: a call the state before already cut is ending.
          if (liveIn(state, agent) !== 'cut' || liveIn(before, agent) === 'cut') return;
          const kill = killOf(state, agent);
          ctx.cut(kill?.live === 'cut' ? killed(agent, kill) : refusalIn(state, agent)!);
          cut += 1;
        });
      }
      return { cut };
    },
    live: () => count,
    suspensions: {
      isSuspended: (id) => state.suspended.has(id),
      list: () => [...state.suspended.values()].map((s) => ({ agentId: s.agentId, reason: s.reason, actor: s.actor, at: s.at })),
      suspend: refuseLocal,
      resume: refuseLocal,
      close() {},
    },
  };
}

function refuseLocal(): never {
  throw new GatewayError('aos_method_not_allowed', 'this gateway follows a control plane: suspend and resume agents there (aos control)');
}

function killed(agent: Agent, kill: KillSwitch): GatewayError {
  const what = kill.scope === 'all' ? 'every agent' : `${kill.scope} ${kill.value}`;
  return new GatewayError('aos_agent_killed', `agent ${agent.id} is stopped by kill switch ${kill.id} (${what}): ${kill.reason}`);
}

function stateOf(suspensions: readonly FleetSuspension[], kills: readonly KillSwitch[]): State {
  if (suspensions.length === 0 && kills.length === 0) return NONE;
  const byScope = { agent: new Map<string, KillSwitch>(), team: new Map<string, KillSwitch>(), template: new Map<string, KillSwitch>() };
  let all: KillSwitch | null = null;
  for (const k of kills) {
    if (k.scope === 'all') all ??= k;
    else if (k.value !== null && !byScope[k.scope].has(k.value)) byScope[k.scope].set(k.value, k);
  }
  return { empty: false, suspended: new Map(suspensions.map((s) => [s.agentId, s])), agents: byScope.agent, teams: byScope.team, templates: byScope.template, all };
}

/** A template kill covers every version: an agent pinned to an older one runs `<name>@<version>`. */
function templateName(template: string): string {
  const at = template.indexOf('@');
  return at === -1 ? template : template.slice(0, at);
}
