/**
 * Credentials stay where they belong: the provider key never reaches the client (bodies, headers,
 * error messages) or the logs, whatever the outcome; the agent's own credentials never reach the
 * provider.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicV1 from 'anthropic-sdk-v1';
import OpenAI from 'openai';
import t from 'tap';
import { freePort, type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

const AGENT_SECRET = 'agent-secret-9f8e7d6c5b4a';
/** The agent's credentials in every header an SDK or a browser might carry one in. */
const AGENT_HEADERS: Record<string, string> = {
  authorization: `Bearer ${AGENT_SECRET}`,
  'x-api-key': AGENT_SECRET,
  'api-key': AGENT_SECRET,
  'x-goog-api-key': AGENT_SECRET,
  'proxy-authorization': `Basic ${Buffer.from(`agent:${AGENT_SECRET}`).toString('base64')}`,
  cookie: `session=${AGENT_SECRET}`,
};
/** The key, and a tail of it, in case something masks or truncates it instead of leaving it out. */
const LEAKS = [PROVIDER_KEY, PROVIDER_KEY.slice(-12)];

interface Seen {
  name: string;
  status: number;
  text: string;
}

/** Sends one request with the agent's credentials; returns everything the client could see. */
async function call(h: Harness, name: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: { ...AGENT_HEADERS, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body,
  });
  const head = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  const text = await res.text().catch((err: Error) => `(body cut: ${err.message})`);
  return { name, status: res.status, text: `${res.status} ${res.statusText}\n${head}\n\n${text}` };
}

const chat = (model: string, stream = false) => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] });
const message = (model: string, stream = false) => JSON.stringify({ model, stream, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

t.test('the provider key never reaches the client or the logs; the agent key never reaches the provider', async (t) => {
  const port = await freePort();
  const h = await startHarness(t, {
    upstream: { headersTimeoutMs: 300 },
    limits: { maxBodyBytes: 4096 },
    providers: { down: { dialect: 'anthropic', baseUrl: `http://127.0.0.1:${port}`, apiKey: PROVIDER_KEY } },
    routes: [
      { prefix: '/down', provider: 'down' },
      { prefix: '/v1', provider: 'openai' },
      { prefix: '/anthropic', provider: 'anthropic' },
      { prefix: '/', provider: 'anthropic' },
    ],
  });

  const seen: Seen[] = await Promise.all([
    // Successes, JSON and streams, both dialects.
    call(h, 'openai chat', 'POST', '/v1/chat/completions', chat('gpt-sample')),
    call(h, 'openai chat stream', 'POST', '/v1/chat/completions', chat('gpt-sample', true)),
    call(h, 'openai models', 'GET', '/v1/models'),
    call(h, 'anthropic messages', 'POST', '/anthropic/v1/messages', message('claude-sample')),
    call(h, 'anthropic stream', 'POST', '/anthropic/v1/messages', message('claude-sample', true)),
    call(h, 'anthropic root', 'POST', '/v1/messages', message('claude-sample')),
    // The provider's own errors.
    call(h, 'openai 500', 'POST', '/v1/chat/completions', chat('fail-500')),
    call(h, 'openai 429', 'POST', '/v1/chat/completions', chat('fail-429')),
    call(h, 'anthropic 429', 'POST', '/anthropic/v1/messages', message('fail-429')),
    call(h, 'unknown path', 'POST', '/v1/chat/completions/nope', chat('gpt-sample')),
    // Failures on the way: reset, timeout, nobody listening.
    call(h, 'reset stream', 'POST', '/v1/chat/completions', chat('reset-mid-stream', true)),
    call(h, 'reset json', 'POST', '/anthropic/v1/messages', message('reset-mid-stream')),
    call(h, 'timeout', 'POST', '/v1/chat/completions', chat('slow-first-byte'), { 'x-sample-delay-ms': '3000' }),
    call(h, 'upstream down', 'POST', '/down/v1/messages', message('claude-sample')),
    // The gateway's own refusals.
    call(h, 'bad json', 'POST', '/v1/chat/completions', '{"model": '),
    call(h, 'not json', 'POST', '/anthropic/v1/messages', 'x', { 'content-type': 'text/plain' }),
    call(h, 'no route', 'GET', '/nowhere'),
    call(h, 'wrong method', 'DELETE', '/v1/chat/completions'),
    call(h, 'too large', 'POST', '/v1/chat/completions', JSON.stringify({ model: 'gpt-sample', pad: 'x'.repeat(8192) })),
  ]);
  const statuses = Object.fromEntries(seen.map((s) => [s.name, s.status]));
  t.match(
    statuses,
    {
      'openai chat': 200,
      'anthropic stream': 200,
      'openai 500': 500,
      'anthropic 429': 429,
      'unknown path': 404,
      timeout: 504,
      'upstream down': 502,
      'bad json': 400,
      'not json': 415,
      'no route': 404,
      'wrong method': 405,
      'too large': 413,
    },
    'the scenarios ran as intended',
  );

  // SDK errors carry the response; their messages are what an agent would log.
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: AGENT_SECRET, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: AGENT_SECRET, maxRetries: 0 });
  const anthropicV1 = new AnthropicV1({ baseURL: `${h.url}/down`, apiKey: AGENT_SECRET, maxRetries: 0 });
  const sdkErrors = await Promise.all([
    openai.chat.completions.create({ model: 'fail-500', messages: [{ role: 'user', content: 'x' }] }).catch((e: Error) => e),
    anthropic.messages.create({ model: 'slow-first-byte', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sample-delay-ms': '3000' } }).catch((e: Error) => e),
    anthropicV1.messages.create({ model: 'claude-sample', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }).catch((e: Error) => e),
  ]);
  for (const e of sdkErrors) seen.push({ name: `sdk ${e.constructor.name}`, status: 0, text: `${String(e)}\n${JSON.stringify(e)}` });

  // The admin listener's open endpoints.
  for (const path of ['/metrics', '/healthz', '/readyz']) {
    const res = await fetch(`${h.admin}${path}`);
    seen.push({ name: `admin ${path}`, status: res.status, text: `${[...res.headers].join('\n')}\n\n${await res.text()}` });
  }

  // A request the HTTP parser refuses.
  const malformed = await rawExchange(h, 'GET /v1/models HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n');
  t.match(malformed, /^HTTP\/1\.1 400 /, 'the parser refused the malformed request');
  seen.push({ name: 'malformed request', status: 400, text: malformed });

  for (const s of seen) {
    for (const leak of LEAKS) t.notOk(s.text.includes(leak), `${s.name}: no provider key in what the client sees`);
  }
  t.ok(h.logs.length > 0 && h.logs.some((l) => l.includes('"level":"warn"')), 'the failures were logged');
  for (const leak of LEAKS)
    t.notOk(
      h.logs.some((l) => l.includes(leak)),
      'no provider key in the logs',
    );

  t.ok(h.upstream.received.length >= 10, 'the upstream saw the forwarded requests');
  for (const r of h.upstream.received) {
    const where = `${r.method} ${r.path}`;
    t.notOk(JSON.stringify(r.headers).includes(AGENT_SECRET), `${where}: no agent credential reached the provider`);
    for (const name of ['api-key', 'x-goog-api-key', 'proxy-authorization', 'cookie']) t.equal(r.headers[name], undefined, `${where}: no ${name}`);
    if (r.path.startsWith('/v1/messages') || (r.path === '/v1/models' && r.headers['anthropic-version'] !== undefined)) {
      t.equal(r.headers['x-api-key'], PROVIDER_KEY, `${where}: the provider key as x-api-key`);
      t.equal(r.headers.authorization, undefined, `${where}: no authorization`);
    } else {
      t.equal(r.headers.authorization, `Bearer ${PROVIDER_KEY}`, `${where}: the provider key as a bearer token`);
      t.equal(r.headers['x-api-key'], undefined, `${where}: no x-api-key`);
    }
  }
});

t.test('headers the agent marks hop-by-hop are not forwarded either', async (t) => {
  const h = await startHarness(t);
  const { port } = new URL(h.url);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: '/v1/models',
        headers: { connection: 'keep-alive, x-agent-session', 'x-agent-session': AGENT_SECRET, 'x-kept': 'yes' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 200);
  const r = h.upstream.received[0];
  t.equal(r.headers['x-agent-session'], undefined);
  t.equal(r.headers['x-kept'], 'yes');
  t.notOk(JSON.stringify(r.headers).includes(AGENT_SECRET));
});

t.test("headers the provider config sets replace the agent's, whatever their name", async (t) => {
  const h = await startHarness(t, { providers: { openai: { authHeader: 'X-Custom-Key', headers: { 'OpenAI-Organization': 'org-gateway' } } } });
  const res = await fetch(`${h.url}/v1/models`, {
    headers: { 'x-custom-key': AGENT_SECRET, 'openai-organization': 'org-agent', 'x-request-id': 'agent-request-id' },
  });
  t.equal(res.status, 200);
  const r = h.upstream.received[0];
  t.equal(r.headers['x-custom-key'], PROVIDER_KEY, 'only the provider key, in the configured header');
  t.equal(r.headers.authorization, undefined);
  t.equal(r.headers['openai-organization'], 'org-gateway', 'the configured value, once');
  t.equal(r.headers['x-aos-request-id'], res.headers.get('x-aos-request-id'), "the gateway's request id, upstream and back");
  t.equal(r.headers['x-request-id'], 'agent-request-id', "the agent's own request id is the agent's business: passed on");
  t.notOk(JSON.stringify(r.headers).includes(AGENT_SECRET));
});

/** Writes raw bytes to the gateway and returns everything it answers until it closes. */
function rawExchange(h: Harness, bytes: string): Promise<string> {
  const { hostname, port } = new URL(h.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (out += c));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}
