/** DNS-rebinding protection: the Host and Origin a request names, checked on the proxy and admin listeners. */
import { request } from 'node:http';
import t from 'tap';
import { startHarness } from './helpers.js';

interface Answer {
  status: number;
  code: string | undefined;
  body: string;
}

/** One request with the Host and Origin headers given (node:http sends them as they are). */
function send(base: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-aos-error-code'] as string | undefined, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const CHAT = JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] });

t.test('a loopback listener serves loopback names only, and browser requests from loopback origins only', async (t) => {
  const h = await startHarness(t);
  const port = new URL(h.url).port;
  const before = h.upstream.received.length;
  const cases: [string, Record<string, string>, number, string?][] = [
    ['127.0.0.1', { host: `127.0.0.1:${port}` }, 200],
    ['localhost', { host: `localhost:${port}` }, 200],
    ['[::1]', { host: `[::1]:${port}` }, 200],
    ['LOCALHOST upper case', { host: `LOCALHOST:${port}` }, 200],
    ['rebinding Host', { host: `evil.example.com:${port}` }, 403, 'aos_host_not_allowed'],
    ['Host without port', { host: 'evil.example.com' }, 403, 'aos_host_not_allowed'],
    ['a name that starts like localhost', { host: `localhost.evil.example:${port}` }, 403, 'aos_host_not_allowed'],
    ['rebinding Host and Origin (the conformance case)', { host: 'evil.example.com', origin: 'http://evil.example.com' }, 403, 'aos_host_not_allowed'],
    ['loopback Host, foreign Origin', { host: `127.0.0.1:${port}`, origin: 'http://evil.example.com' }, 403, 'aos_origin_not_allowed'],
    ['Origin null', { host: `127.0.0.1:${port}`, origin: 'null' }, 403, 'aos_origin_not_allowed'],
    ['loopback Origin', { host: `127.0.0.1:${port}`, origin: `http://localhost:5173` }, 200],
  ];
  let allowed = 0;
  for (const [name, headers, status, code] of cases) {
    const a = await send(h.url, '/v1/chat/completions', headers, CHAT);
    t.equal(a.status, status, `${name}: ${status}`);
    if (code !== undefined) {
      t.equal(a.code, code, `${name}: ${code}`);
      t.match(JSON.parse(a.body), { error: { code } }, `${name}: an OpenAI-shaped error`);
    } else allowed++;
  }
  t.equal(h.upstream.received.length - before, allowed, 'refused requests never reach the upstream');

  const adminPort = new URL(h.admin).port;
  t.equal((await send(h.admin, '/healthz', { host: `127.0.0.1:${adminPort}` })).status, 200, 'admin: loopback Host');
  const evil = await send(h.admin, '/metrics', { host: 'evil.example.com' });
  t.equal(evil.status, 403, 'admin: a rebinding Host is refused');
  t.equal(evil.code, 'aos_host_not_allowed');
  t.equal((await send(h.admin, '/healthz', { host: `127.0.0.1:${adminPort}`, origin: 'https://evil.example.com' })).status, 403, 'admin: a foreign Origin is refused');
});

t.test('allow-lists: configured hosts and origins; `*` allows any', async (t) => {
  const h = await startHarness(t, { listen: { allowedHosts: ['gateway.internal'], allowedOrigins: ['https://console.example.com'] }, admin: { allowedHosts: ['*'] } });
  const port = new URL(h.url).port;
  t.equal((await send(h.url, '/v1/chat/completions', { host: `gateway.internal:${port}` }, CHAT)).status, 200, 'a configured host');
  t.equal((await send(h.url, '/v1/chat/completions', { host: `127.0.0.1:${port}` }, CHAT)).code, 'aos_host_not_allowed', 'a configured list replaces the loopback default');
  t.equal((await send(h.url, '/v1/chat/completions', { host: `gateway.internal:${port}`, origin: 'https://console.example.com' }, CHAT)).status, 200, 'a configured origin');
  t.equal((await send(h.url, '/v1/chat/completions', { host: `gateway.internal:${port}`, origin: 'http://console.example.com' }, CHAT)).code, 'aos_origin_not_allowed', 'the scheme counts');
  t.equal((await send(h.admin, '/healthz', { host: 'anything.example' })).status, 200, 'admin allows any host');
});
