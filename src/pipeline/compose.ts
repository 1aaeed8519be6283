import type { GatewayConfig } from '../config/schema.js';
import type { A2aStages } from '../coordination/a2a.js';
import type { MemoryStages } from '../coordination/memory-stages.js';
import type { Router } from '../routing/router.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import { withResourceMetadata } from '../tools/mcp-auth.js';
import type { ToolStages } from '../tools/stages.js';
import type { ForwardOptions } from '../upstream/forward.js';
import { parseJson, readBody } from './body.js';
import type { Stage } from './context.js';
import { checkRequest } from './request-checks.js';
import type { Pipeline, Relay } from './run.js';
import { describeSession } from './session.js';

/** The stages a configuration turns on; null: off, and then absent from the pipeline. */
export interface PipelineStages {
  /** First on every request: its finisher, the last to run, counts the call and its latency. */
  metrics: Stage;
  /**
   * First on every request, before it is even checked: a stage that must see every outcome through
   * its finisher (the audit record and the call's span), after every later stage's.
   */
  record: Stage | null;
  identity: Stage | null;
  policy: Stage | null;
  /** Before the policy: guardrail findings for the policy input (src/guardrails/); null: off. */
  guardrails: Stage | null;
  /** Before the policy: the pre-flight estimate and budget state for the policy input. */
  meterEstimate: Stage | null;
  /** After the policy: the atomic budget and rate-limit reservation. */
  meterReserve: Stage | null;
  /**
   * Last on model routes, after the budget reservation: the response cache (src/coordination/); null: off.
   * After the policy, so a denied call, a suspended agent or a call waiting for an approval is never
   * answered from it; after the reservation, so a hit counts against rate limits and is charged its
   * configured share when it settles; last, so the body it keys on is the one that would be sent.
   */
  cache: Stage | null;
  /** Every request, after the record stage: the workflow id read, or started (src/coordination/); null: only read by the record stage. */
  workflow: Stage | null;
  /** HTTP tools and MCP servers (null without a `tools:` section). */
  tools: ToolStages | null;
  /** After identity on every route: a gateway-signed delegation (`x-aos-delegation`) read; null when no agent takes A2A hand-offs. */
  delegation: Stage | null;
  /** A2A hand-offs to registered agents (src/coordination/a2a.ts); null when no agent has an A2A endpoint. */
  a2a: A2aStages | null;
  /** Shared memory (src/coordination/memory-stages.ts); null: `memory.mode: off`. */
  memory: MemoryStages | null;
}

const present = (...list: (Stage | null)[]): Stage[] => list.filter((s): s is Stage => s !== null);

/**
 * Composes the stages once per configuration. A stage turned off by config is absent, not checked
 * per request. Identity comes first after routing, so no body of an unauthenticated client is read.
 * The order is the one docs/lifecycle.md describes.
 */
export function composePipeline(config: GatewayConfig, router: Router, s: PipelineStages, forwardOptions: ForwardOptions, barrier: WriteBarrier | null = null, relay: Relay | null = null): Pipeline {
  const body = readBody(config.limits.maxBodyBytes);
  const t = s.tools;
  const a = s.a2a;
  const d = s.delegation;
  const m = s.memory;
  return {
    config,
    router,
    forward: forwardOptions,
    relay,
    barrier,
    head: present(s.metrics, s.record, checkRequest(config.limits.maxHeaders, config.listen), s.workflow),
    inspected: present(s.identity, d, body, parseJson, s.meterEstimate, s.guardrails, s.policy, s.meterReserve, s.cache),
    passthrough: present(s.identity, d, body, s.meterEstimate, s.policy, s.meterReserve),
    // A WebSocket session (Realtime): no body; each response is charged as it is done (the reservation holds one at a time).
    session: present(s.identity, d, describeSession, s.meterEstimate, s.policy, s.meterReserve),
    // An undeclared operation is refused before the body is read. Tool calls count against
    // tool-call budgets and rate limits.
    tool: t === null ? [] : present(s.identity, d, t.operation, body, t.describe, s.guardrails, s.policy, t.validate, s.meterReserve),
    // A 401 on an MCP route names the protected resource metadata (tools/mcp-auth.ts).
    mcp: t === null ? [] : present(s.identity === null ? null : withResourceMetadata(s.identity), d, body, t.mcp, s.guardrails, s.policy, t.mcpRevision, t.mcpValidate, s.meterReserve),
    mcpMetadata: t === null ? [] : [t.mcpMetadata],
    // A hand-off is checked (chain, guardrails on its message, policy) and reserved on rate limits like any call; its card is
    // decided by the policy too (may this agent hand work to that one at all), then answered by the gateway.
    a2a: a === null ? [] : present(s.identity, d, body, a.describe, s.guardrails, s.policy, s.meterReserve),
    a2aCard: a === null ? [] : present(s.identity, d, a.cardCall, s.policy, a.card),
    // Shared memory: counted against request rate limits (not USD or tool-call budgets); answered from the store, never forwarded.
    memory: m === null ? [] : present(s.identity, d, body, m.describe, s.guardrails, s.policy, s.meterReserve, m.answer),
  };
}
