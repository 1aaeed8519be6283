/**
 * Per-call CPU of the MCP stage's pieces, in-process (no network): reading a tools/call message,
 * validating its arguments (ajv, compiled once), the policy decision for it (default bundle; the
 * decision cache hit and miss), and filtering a 40-tool tools/list SSE answer. Run:
 * `node --import tsx bench/tools-micro.ts` (prints a Markdown table). End-to-end numbers: bench/tools.ts.
 */
import { readFileSync } from 'node:fs';
import { compileSchema } from '../src/config/json-schema.js';
import { parseBundle } from '../src/policy/bundle.js';
import { policyTool } from '../src/policy/decide.js';
import { loadEngine } from '../src/policy/engine.js';
import type { PolicyInput } from '../src/policy/types.js';
import { checkMcpHeaders, describeMcp, parseMcpMessage } from '../src/providers/mcp.js';
import { createToolsListTap } from '../src/tools/mcp-list-tap.js';
import { tapData, tapEnd } from '../src/upstream/tap.js';
import { measure } from './measure.js';

const inputSchema = {
  type: 'object',
  properties: { text: { type: 'string', maxLength: 1000 }, times: { type: 'integer', minimum: 1, maximum: 3 } },
  required: ['text'],
  additionalProperties: false,
  $schema: 'http://json-schema.org/draft-07/schema#',
};
const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello world', times: 2 }, _meta: { progressToken: 42 } } }));
const headers = { 'content-type': 'application/json', 'mcp-session-id': 'abc', 'mcp-protocol-version': '2025-11-25' };

const bundle = await parseBundle(readFileSync(new URL('../policies/bundle.tar.gz', import.meta.url)), { source: 'bench', verification: null });
const registry = { templates: { bench: { version: 1, providers: [], models: [], tools: ['bench/*'], max_tokens: null, guardrails: 'standard' } } };
const engine = await loadEngine(bundle, registry, { maxMemoryPages: 512, maxInputBytes: 262_144 });
const input = (args: unknown): PolicyInput => ({
  agent: { id: 'bench-agent', team: 'bench', roles: [], template: 'bench', template_version: 1, labels: {}, status: 'active' },
  request: { id: 'r', method: 'POST', path: '/mcp/bench', route: 'bench/tools/call', time_ns: Date.now() * 1e6 },
  call: {
    kind: 'mcp',
    provider: 'bench',
    operation: 'tools/call',
    model: null,
    stream: false,
    max_tokens: null,
    est_input_tokens: null,
    tool: policyTool({ name: 'echo', server: 'bench', args }),
    findings: [],
  },
  budget: null,
});
const validate = compileSchema(inputSchema).validate;
const tools = Array.from({ length: 40 }, (_, i) => ({ name: i === 0 ? 'echo' : `tool_${i}`, description: `Filler tool ${i}`, inputSchema }));
const listEvent = Buffer.from(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { tools } })}\n\n`);

const rows: [string, ReturnType<typeof measure>][] = [
  [
    'read a tools/call message (JSON.parse, classify, describe, header check)',
    measure(50_000, () => {
      const msg = parseMcpMessage(JSON.parse(body.toString('utf8')));
      checkMcpHeaders(headers, msg);
      return describeMcp('bench', msg as never);
    }),
  ],
  ['validate its arguments (ajv, compiled once)', measure(50_000, () => validate({ text: 'hello world', times: 2 }))],
  ['policy decision, same arguments (decision cache hit)', measure(20_000, () => engine.evaluate(input({ text: 'hello world', times: 2 })))],
  ['policy decision, new arguments each call (cache miss: Wasm evaluation)', measure(5_000, (i) => engine.evaluate(input({ text: `hello ${i}`, times: 2 })))],
  [
    `filter a tools/list SSE answer of 40 tools (${listEvent.length} bytes), policy per tool (cached)`,
    measure(2_000, () => {
      const tap = createToolsListTap({
        id: 7,
        learn: () => {},
        keep: (t) => engine.evaluate({ ...input(null), call: { ...input(null).call, tool: policyTool({ name: t.name, server: 'bench', args: null }) } }).allow,
        maxBytes: 1 << 24,
      });
      tap.onStart!(200, { 'content-type': 'text/event-stream' });
      tapData([tap], listEvent);
      return tapEnd([tap]);
    }),
  ],
];
console.log(`Node ${process.version}; µs per operation\n\n| operation | p50 | p99 | mean |\n|---|---|---|---|`);
for (const [name, s] of rows) console.log(`| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} |`);
