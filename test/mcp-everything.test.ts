/**
 * A published MCP server from npm (@modelcontextprotocol/server-everything, its Streamable HTTP
 * transport: Express + the SDK, sessions, an event store for resumability) behind the gateway,
 * driven by the official SDK client.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { freePort, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const ENTRY = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const REGISTRY = `
templates:
  demo: { version: 1, tools: ["everything/echo", "everything/get-sum", "everything/trigger-long-running-operation"] }
agents:
  - { id: demo-agent, team: platform, template: demo }
`;

/** Starts the server on a free port; another process may take the port first, so up to three tries. */
async function startEverything(t: Test): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(t);
    } catch (err) {
      if (attempt === 3 || !/already in use|EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startOnce(t: Test): Promise<string> {
  const port = await freePort();
  // A bare environment: the server has a tool that prints its environment.
  const child = spawn(process.execPath, [ENTRY, 'streamableHttp'], { env: { PORT: String(port), PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server-everything did not start in 15 s')), 15_000);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited (${code}): ${err}`));
    });
  });
  return `http://127.0.0.1:${port}/mcp`;
}

t.test('server-everything through the gateway: list filtered, calls decided and validated, progress streamed', async (t) => {
  const url = await startEverything(t);
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } }, tools: { everything: { kind: 'mcp', url } } },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'demo-agent', audience: 'aos-gateway', ttlSec: 600 });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/everything`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'demo-agent', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  t.ok(transport.sessionId, 'a session');

  const listed = (await client.listTools()).tools.map((x) => x.name).sort();
  t.same(listed, ['echo', 'get-sum', 'trigger-long-running-operation'], 'only the template tools are listed (get-env and the others hidden)');

  t.same((await client.callTool({ name: 'echo', arguments: { message: 'hi' } })).content, [{ type: 'text', text: 'Echo: hi' }]);
  t.match((await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })).content, [{ type: 'text', text: /5/ }]);

  const invalid = (await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 'three' } }).catch((e: unknown) => e)) as McpError;
  t.ok(invalid instanceof McpError);
  t.equal(invalid.code, -32602);
  t.match(invalid.message, /\/b must be number/);

  const denied = (await client.callTool({ name: 'get-env', arguments: {} }).catch((e: unknown) => e)) as McpError;
  t.equal(denied.code, -32003, 'get-env is denied by policy');

  const progress: number[] = [];
  const r = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
  t.same(progress, [1, 2, 3], 'progress notifications streamed through');
  t.match(r.content, [{ type: 'text', text: /completed/i }]);
  await transport.terminateSession();
});
