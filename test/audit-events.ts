/** Sample audit events for tests (not a test file). */
import { createRequire } from 'node:module';
import type { AuditEvent } from '../src/audit/event.js';
import { requestId } from '../src/pipeline/request-id.js';

export function sampleEvent(i: number, at = Date.UTC(2026, 0, 1) + i * 1000): AuditEvent {
  return {
    id: requestId(at),
    time: new Date(at).toISOString(),
    agent_id: `agent-${i % 3}`,
    team: i % 2 ? 'red' : 'blue',
    template: 'standard',
    template_version: 2,
    trace_id: null,
    span_id: null,
    parent_span_id: null,
    max_tokens: null,
    workflow_id: i % 4 === 0 ? 'wf-1' : null,
    method: 'POST',
    path: '/v1/chat/completions',
    route: 'openai/chat.completions',
    provider: 'openai',
    operation: 'chat.completions',
    kind: 'model',
    model: 'gpt-4o-mini',
    tool: null,
    tool_server: null,
    stream: false,
    decision: i % 5 === 0 ? 'deny' : 'allow',
    reasons: i % 5 === 0 ? ['model not allowed'] : [],
    policy_revision: 'r1',
    outcome: i % 5 === 0 ? 'denied' : 'completed',
    status: i % 5 === 0 ? 403 : 200,
    error_code: i % 5 === 0 ? 'aos_policy_denied' : null,
    input_tokens: null,
    output_tokens: null,
    cost_usd: null,
    flags: null,
    tool_calls: null,
    total_ms: 1.5,
    upstream_ms: 1,
    request_bytes: 100,
    request_sha256: 'ab'.repeat(32),
    response_bytes: 200,
    response_sha256: null,
    tool_args_sha256: null,
    findings: null,
    capture: null,
  };
}

export interface MetricFamily {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/** The Prometheus exposition-format parser (an untyped CommonJS package). */
export const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];
