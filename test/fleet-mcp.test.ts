/**
 * A kill switch ends an agent's MCP session traffic too: its open server-to-client stream (GET)
 * ends with a JSON-RPC error event, and its next requests are refused in JSON-RPC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { fleetGatewayDir, fleetStatus, startAosControl, startGatewayProcess, testIssuer, until } from './fleet-gateways.js';
import { startMcpServer } from './mcp-fixture.js';

t.test('a kill switch cuts the MCP stream of the killed agent and refuses its requests', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-mcp-'));
  const upstream = await startSampleUpstream();
  const mcp = await startMcpServer();
  const control = await startAosControl(root);
  const issuer = await testIssuer(root);
  const { file } = await fleetGatewayDir(root, 'gw-mcp', upstream.url, control, issuer.keyFile, { tools: { fixture: { kind: 'mcp', url: mcp.url } } });
  const gw = await startGatewayProcess(file);
  t.teardown(async () => {
    gw.child.kill('SIGKILL');
    await control.stop();
    await mcp.close();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  await until('connected', async () => (await fleetStatus(gw)).connected);

  const headers: Record<string, string> = { authorization: `Bearer ${await issuer.token('agent-0')}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
  const rpc = (body: unknown) => fetch(`${gw.url}/mcp/fixture`, { method: 'POST', headers, body: JSON.stringify(body) });
  const init = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fleet-test', version: '1' } } });
  await init.text();
  headers['mcp-session-id'] = init.headers.get('mcp-session-id')!;
  headers['mcp-protocol-version'] = '2025-06-18';
  await (await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();

  const stream = await fetch(`${gw.url}/mcp/fixture`, { method: 'GET', headers });
  t.equal(stream.status, 200, 'the session stream is open');
  const reading = stream.text();
  await new Promise((r) => setTimeout(r, 100));

  await control.api('POST', '/api/kills', { scope: 'agent', value: 'agent-0', live: 'cut', reason: 'mcp misuse' });
  const text = await reading;
  const last = /event: message\ndata: (.*)\n\n$/.exec(text);
  t.ok(last, 'the stream ends with a JSON-RPC message event');
  t.match(JSON.parse(last![1]), { jsonrpc: '2.0', error: { data: { code: 'aos_agent_killed' } } }, 'carrying the kill');

  const refused = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
  t.equal(refused.headers.get('x-aos-error-code'), 'aos_agent_killed', 'the next request is refused');
  // Refused at authentication, before the message is read: id null and the HTTP status stand (docs/errors.md).
  t.equal(refused.status, 403);
  t.match(await refused.json(), { jsonrpc: '2.0', id: null, error: { code: -32003, data: { code: 'aos_agent_killed' } } }, 'as a JSON-RPC error');
});
