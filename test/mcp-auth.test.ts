/**
 * The gateway as the OAuth resource server of its MCP routes: protected resource metadata
 * (RFC 9728) naming the trusted issuers, a 401 pointing at it, the token's audience checked, and the
 * agent's token never passed to the server (the official SDK client, a real SDK server).
 */
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';

const ISSUER = 'https://login.example.com';
const SERVER_KEY = 'mcp-server-credential-0123456789';
const REGISTRY = `
templates:
  all: { version: 1, tools: ["*"] }
agents:
  - { id: auth-agent, team: qa, template: all }
`;

async function setup(t: Test) {
  const server = await startMcpServer();
  t.teardown(() => server.close());
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml', issuers: [{ issuer: ISSUER, keyFiles: ['idp.jwks.json'] }] },
      tools: { fixture: { kind: 'mcp', url: server.url, apiKey: SERVER_KEY }, other: { kind: 'mcp', url: server.url, apiKey: SERVER_KEY } },
    },
    { files: { 'agents.yaml': REGISTRY, 'idp.jwks.json': JSON.stringify({ keys: [jwk] }) } },
  );
  const idpToken = (audience: string) =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'idp-1' }).setIssuer(ISSUER).setAudience(audience).setSubject('auth-agent').setIssuedAt().setExpirationTime('10m').sign(privateKey);
  return { h, server, idpToken };
}

const post = (url: string, headers: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });

t.test('protected resource metadata per MCP server names the trusted issuers; unknown servers are 404', async (t) => {
  const { h } = await setup(t);
  const res = await fetch(`${h.url}/.well-known/oauth-protected-resource/mcp/fixture`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /application\/json/);
  const doc = await res.json();
  t.same(doc.resource, `${h.url}/mcp/fixture`, 'the resource is the URL the client uses');
  t.same(doc.authorization_servers, [ISSUER], 'the configured issuers (the local development issuer is no URL)');
  t.same(doc.bearer_methods_supported, ['header']);
  t.equal((await fetch(`${h.url}/.well-known/oauth-protected-resource/mcp/nope`)).status, 404);
});

t.test('a 401 on an MCP route points at the metadata; a token for another audience is refused', async (t) => {
  const { h, server, idpToken } = await setup(t);
  const metadata = `resource_metadata="${h.url}/.well-known/oauth-protected-resource/mcp/fixture"`;
  const none = await post(`${h.url}/mcp/fixture`, {});
  t.equal(none.status, 401);
  t.match(none.headers.get('www-authenticate'), metadata);
  const wrong = await post(`${h.url}/mcp/fixture`, { authorization: `Bearer ${await idpToken('https://some-other-resource.example')}` });
  t.equal(wrong.status, 401, 'audience checked');
  t.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/);
  t.match(wrong.headers.get('www-authenticate'), metadata);
  t.equal(server.requests.length, 0, 'nothing reached the server');
});

t.test("RFC 8707: a token whose audience is this MCP server's resource URL is accepted there, and only there", async (t) => {
  const { h, server, idpToken } = await setup(t);
  const resource = (await (await fetch(`${h.url}/.well-known/oauth-protected-resource/mcp/fixture`)).json()).resource as string;
  t.equal(resource, `${h.url}/mcp/fixture`);
  const token = await idpToken(resource);
  const transport = new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'auth-agent', version: '1.0.0' });
  await client.connect(transport);
  t.same((await client.callTool({ name: 'echo', arguments: { text: 'aud' } })).content, [{ type: 'text', text: 'aud' }], 'the official SDK client, with a token for the resource');
  await transport.terminateSession();
  await client.close();
  const initializes = () => server.requests.filter((r) => r.rpc === 'initialize').length;
  const before = initializes();
  // The same token (verified and cached above) presented to another server: its audience is checked again.
  const other = await post(`${h.url}/mcp/other`, { authorization: `Bearer ${token}` });
  t.equal(other.status, 401, "a token for another server's resource is refused");
  t.match(other.headers.get('www-authenticate'), /error="invalid_token"/);
  t.match(await other.text(), /wrong audience/);
  const model = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
  t.equal(model.status, 401, 'nor is it a token for the rest of the gateway');
  const foreign = await post(`${h.url}/mcp/fixture`, { authorization: `Bearer ${await idpToken('https://elsewhere.example/mcp/fixture')}` });
  t.equal(foreign.status, 401, "another host's resource URL is not this one");
  const both = await post(`${h.url}/mcp/other`, { authorization: `Bearer ${await idpToken('aos-gateway')}` });
  t.equal(both.status, 200, "the gateway's own audience is still accepted on every server");
  t.equal(initializes(), before + 1, 'only the accepted one reached the server');
});

t.test('the agent token (Authorization or x-api-key) never reaches the server: it sees its own credential', async (t) => {
  const { h, server, idpToken } = await setup(t);
  const token = await idpToken('aos-gateway');
  for (const headers of [{ authorization: `Bearer ${token}` }, { 'x-api-key': token }] as Record<string, string>[]) {
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/fixture`), { requestInit: { headers } });
    const client = new Client({ name: 'auth-agent', version: '1.0.0' });
    await client.connect(transport);
    t.same((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content, [{ type: 'text', text: 'hi' }]);
    await transport.terminateSession();
    await client.close();
  }
  t.ok(server.requests.length >= 8, 'the server was called');
  for (const r of server.requests) {
    t.equal(r.headers.authorization, `Bearer ${SERVER_KEY}`, `${r.method} ${r.rpc ?? ''}: the server's own credential`);
    t.notOk(JSON.stringify(r.headers).includes(token.slice(-40)), 'no header carries the agent token');
  }
});

t.test('metadata needs no token and stays on the listener: a foreign Host is refused (DNS rebinding)', async (t) => {
  const { h } = await setup(t);
  const url = new URL(h.url);
  const res = await new Promise<number>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/.well-known/oauth-protected-resource/mcp/fixture', headers: { host: 'evil.example.com' } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(res, 403);
});
