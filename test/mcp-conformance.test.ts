/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, its server scenarios, on
 * Node ≥ 22) run twice per protocol revision it covers: directly against the conformance fixture
 * server, and through the gateway (identity, the committed policy bundle, audit) in front of the
 * same server. Every scenario that passes directly must pass through the gateway, DNS rebinding
 * protection included (the gateway's own Host/Origin check answers it).
 *
 * The suite cannot send an agent token: a small forwarder in front of the gateway adds one and
 * passes every other header as the suite sent it (Host and Origin included, for the DNS rebinding
 * scenario).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { packageRoot } from '../src/package-root.js';
import { startHarness } from './helpers.js';
import { startConformanceServer } from './mcp-conformance-server.js';
import { node24Binary } from './tools.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const SUITE = join(packageRoot, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const SERVER_KEY = 'conformance-server-credential-0123456789';
/** The revisions the suite's server scenarios cover (`conformance list --server`). */
const REVISIONS = ['2025-06-18', '2025-11-25'];
const REGISTRY = `
templates:
  tester: { version: 1, tools: ["conformance/*"] }
agents:
  - { id: conformance-agent, team: qa, template: tester }
`;

interface Outcome {
  passed: number;
  failed: number;
  errors: string[];
}

/** Runs the whole suite (pending scenarios included) against `url`; the outcome per scenario. */
async function runSuite(node: string, url: string, revision: string): Promise<Map<string, Outcome>> {
  const out = mkdtempSync(join(tmpdir(), 'aos-conformance-'));
  try {
    await new Promise<void>((resolve) => {
      // The exit status says whether every check passed; the checks themselves are read from the files.
      execFile(node, [SUITE, 'server', '--url', url, '--suite', 'all', '--spec-version', revision, '-o', out], { timeout: 120_000, maxBuffer: 16 << 20 }, () => resolve());
    });
    const results = new Map<string, Outcome>();
    for (const dir of readdirSync(out)) {
      const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
      const checks = JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as { status: string; errorMessage?: string }[];
      const failed = checks.filter((c) => c.status === 'FAILURE');
      results.set(scenario, { passed: checks.filter((c) => c.status === 'SUCCESS').length, failed: failed.length, errors: failed.map((c) => c.errorMessage ?? '') });
    }
    return results;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** An HTTP forwarder to `target` that adds the agent's token and keeps every other header as sent. */
async function startForwarder(t: Test, target: string, token: string): Promise<string> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const node = node24Binary();

t.test('the MCP conformance suite passes through the gateway wherever it passes directly', node.options, async (t) => {
  const server = await startConformanceServer();
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      audit: { mode: 'on' },
      tools: { conformance: { kind: 'mcp', url: server.url, apiKey: SERVER_KEY } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'conformance-agent', audience: 'aos-gateway', ttlSec: 600 });
  const forwarder = await startForwarder(t, h.url, token);

  for (const revision of REVISIONS) {
    const direct = await runSuite(node.path, server.url, revision);
    const gateway = await runSuite(node.path, `${forwarder}/mcp/conformance`, revision);
    t.ok(direct.size >= 20, `${revision}: the suite ran its scenarios directly (${direct.size})`);
    t.same([...gateway.keys()].sort(), [...direct.keys()].sort(), `${revision}: the same scenarios ran through the gateway`);
    const ok = (o: Outcome | undefined) => o !== undefined && o.failed === 0 && o.passed > 0;
    let both = 0;
    for (const [scenario, d] of direct) {
      if (!ok(d)) continue;
      const g = gateway.get(scenario);
      t.ok(ok(g), `${revision} ${scenario}: passes through the gateway as it does directly`, { errors: g?.errors });
      if (ok(g)) both++;
    }
    t.ok(direct.get('dns-rebinding-protection') === undefined || ok(gateway.get('dns-rebinding-protection')) || revision !== '2025-11-25', `${revision}: DNS rebinding protection through the gateway`);
    const fails = [...direct].filter(([, o]) => !ok(o)).map(([s]) => s);
    t.comment(
      `${revision}: ${direct.size} scenarios; ${direct.size - fails.length} pass directly, ${both} of them through the gateway${fails.length > 0 ? `; failing directly: ${fails.join(', ')}` : ''}`,
    );
  }
  t.ok(server.authorizations.length > 0, 'the server was called');
  t.ok(
    server.authorizations.every((a) => a === `Bearer ${SERVER_KEY}` || a === undefined),
    'the server saw its own credential (direct runs: none), never the agent token',
  );
  t.notOk(server.authorizations.includes(`Bearer ${token}`), 'the agent token never reached the server');
});
