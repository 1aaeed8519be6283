import { GatewayError } from '../errors.js';
import type { AgentRegistry } from '../identity/registry.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import type { GuardrailMetrics } from '../telemetry/metrics.js';
import { ResponseScanTap } from './response-scan.js';
import { RestoreTap } from './restore.js';
import { type BodyScan, MODEL_SKIP, NO_SKIP, redactSites, scanBody } from './scan.js';
import type { Finding, Scanner } from './types.js';

/** An A2A message's identifiers and file bytes (base64): not text an agent wrote. */
const A2A_SKIP: ReadonlySet<string> = new Set(['messageId', 'contextId', 'taskId', 'referenceTaskIds', 'role', 'kind', 'mediaType', 'extensions', 'raw', 'bytes']);

/** Most findings one call records (identical ones once); past it the call is flagged. */
const MAX_FINDINGS = 100;

export interface GuardrailStageOptions {
  /** Scanners by profile name (the built-in `standard` among them). */
  scanners: ReadonlyMap<string, Scanner>;
  /** Templates name their agents' profile; null (identity off): every call gets `standard`. */
  registry: AgentRegistry | null;
  metrics: GuardrailMetrics;
}

/**
 * Pipeline stage, before the policy: scans what the call sends (a model call's whole body, an HTTP
 * tool's path parameters, query and JSON body, an MCP request's arguments) with the profile of the
 * agent's template, and puts the findings on the context for the policy (`call.findings`) and the
 * audit. When the policy obliges `redact`, the decision stage calls `ctx.redact`; profiles that scan
 * responses add a tap that records the response's findings too.
 */
export function createGuardrailStage(opts: GuardrailStageOptions): Stage {
  const { scanners, metrics } = opts;
  const standard = scanners.get('standard');
  if (standard === undefined) throw new Error('guardrails: the standard profile is missing');
  const byTemplate = new Map<string, Scanner>();
  for (const t of opts.registry?.templates.values() ?? []) byTemplate.set(t.name, scanners.get(t.guardrails) ?? standard);

  return function guardrailStage(ctx) {
    const call = ctx.call;
    if (call === null || call.undecided === true) return;
    const scanner = ctx.agent === null ? standard : (byTemplate.get(ctx.agent.template) ?? standard);
    let scan: BodyScan;
    if (call.kind === 'model') scan = scanBody(scanner, ctx.json, MODEL_SKIP);
    else if (call.kind === 'tool') {
      const args = call.tool?.args as { body: unknown } | undefined;
      scan = scanBody(scanner, args, NO_SKIP);
      if (args?.body === null && ctx.body !== null && ctx.body.length > 0) unscanned(ctx, metrics, 'not_json');
    } else if (call.kind === 'mcp') {
      const params = (ctx.json as { params?: { arguments?: unknown } } | undefined)?.params;
      scan = scanBody(scanner, params?.arguments, NO_SKIP, ['params', 'arguments']);
    } else if (call.kind === 'a2a') {
      // A hand-off's message (SendMessage, SendStreamingMessage): its parts as the callee will read them.
      const rpc = call.a2a?.binding === 'jsonrpc';
      const body = ctx.json as Record<string, unknown> | undefined;
      const message = rpc ? (body?.params as { message?: unknown } | undefined)?.message : body?.message;
      if (message === undefined || (call.operation !== 'SendMessage' && call.operation !== 'SendStreamingMessage')) return;
      scan = scanBody(scanner, message, A2A_SKIP, rpc ? ['params', 'message'] : ['message']);
    } else if (call.kind === 'memory') {
      // Shared memory: the document a write stores, as `{value}` (a read returns what was scanned when it was written).
      if (ctx.json === undefined) return;
      scan = scanBody(scanner, ctx.json, NO_SKIP);
    } else return;
    if (scan.truncated) unscanned(ctx, metrics, 'size');
    ctx.findings = distinct(ctx, scan.findings);
    if (scan.findings.length > 0) {
      const found = scan.findings;
      ctx.onFinish((_outcome, c) => {
        const action = c.flags?.includes('redacted') ? 'redacted' : c.decision?.allow === true && c.errorCode === null ? 'allowed' : 'denied';
        for (const f of found) metrics.finding(f.detector, action);
      });
    }
    if (scan.sites.length > 0) ctx.redact = () => redact(ctx, scan, scanner);
    if (scanner.responses && call.kind !== 'memory') {
      const report = (f: Finding) => {
        metrics.finding(f.detector, 'recorded');
        const all = ctx.findings!;
        if (all.length >= MAX_FINDINGS) ctx.flag('guardrail_findings_capped');
        else if (!all.some((g) => same(f, g))) all.push(f);
      };
      ctx.tap(new ResponseScanTap(scanner, call.kind === 'model' ? MODEL_SKIP : NO_SKIP, report, (reason) => unscanned(ctx, metrics, reason)));
    }
  };
}

function unscanned(ctx: CallContext, metrics: GuardrailMetrics, reason: 'size' | 'not_json'): void {
  ctx.flag(reason === 'size' ? 'guardrails_truncated' : 'guardrails_not_json');
  metrics.unscanned(reason);
}

const same = (a: Finding, b: Finding) => a.detector === b.detector && a.path === b.path && a.severity === b.severity;

/** Identical findings (the same detector at the same path) once, at most MAX_FINDINGS. */
function distinct(ctx: CallContext, findings: readonly Finding[]): Finding[] {
  const out: Finding[] = [];
  for (const f of findings) {
    if (out.some((g) => same(f, g))) continue;
    if (out.length === MAX_FINDINGS) {
      ctx.flag('guardrail_findings_capped');
      break;
    }
    out.push(f);
  }
  return out;
}

/** The `redact` obligation: placeholders in the body before it is forwarded, the values restored in the response when the profile says so. */
function redact(ctx: CallContext, scan: BodyScan, scanner: Scanner): void {
  const call = ctx.call!;
  if (call.kind === 'tool') {
    // The URL is forwarded as the agent sent it: a value in it cannot be replaced.
    const inUrl = scan.sites.find((s) => s.top !== 'body');
    if (inUrl !== undefined)
      throw new GatewayError(
        'aos_obligation_unsupported',
        `the policy requires redaction of a finding in the ${String(inUrl.top)} of the tool call's URL, which cannot be redacted: send it in the body`,
      );
  }
  const placeholders = redactSites(scan.sites);
  if (call.kind === 'tool') ctx.json = (call.tool!.args as { body: unknown }).body;
  ctx.jsonChanged = true;
  ctx.flag('redacted');
  // A memory write stores the redacted document: nothing comes back to restore.
  if (scanner.restore && call.kind !== 'memory') ctx.tap(new RestoreTap(placeholders));
}
