/**
 * Malformed HTTP on the proxy listener, written byte by byte on raw sockets: every case is refused
 * with a 4xx (or the connection closes), never reaches the upstream, and the gateway keeps serving.
 */
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { ERRORS, type ErrorCode } from '../src/errors.js';
import { type Harness, startHarness } from './helpers.js';

const LIMITS = { maxBodyBytes: 4096, maxHeaderBytes: 8192, maxHeaders: 20, headersTimeoutMs: 500, requestTimeoutMs: 1000 };
/** Upper bound on any single socket read. */
const READ_TIMEOUT_MS = 3000;

/** Bytes to write, a pause, a FIN (`end`) or a reset (`reset`). */
type Step = string | { wait: number } | 'end' | 'reset';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Exchange {
  responses: RawResponse[];
  /** The gateway closed (or reset) the connection before the read timeout. */
  closed: boolean;
  /** Milliseconds from connect to the close, or to the last awaited response. */
  ms: number;
}

/** Complete responses at the start of `buf` (Content-Length or chunked bodies). */
function parseResponses(buf: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end === -1) return out;
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let next = end + 4;
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = buf.indexOf('\r\n', next);
        if (eol === -1) return out;
        const size = parseInt(buf.subarray(next, eol).toString('latin1'), 16);
        if (buf.length < eol + 2 + size + 2) return out;
        body += buf.subarray(eol + 2, eol + 2 + size).toString('utf8');
        next = eol + 2 + size + 2;
        if (size === 0) break;
      }
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (buf.length < next + length) return out;
      body = buf.subarray(next, next + length).toString('utf8');
      next += length;
    }
    out.push({ status: Number(/^HTTP\/1\.[01] (\d{3}) /.exec(lines[0])?.[1] ?? 0), headers, body });
    off = next;
  }
}

/**
 * Connects to the proxy listener, plays `steps`, and reads until `want` responses arrived (or, with
 * `untilClose`, until the gateway closes), the connection closes, or READ_TIMEOUT_MS passes.
 */
function exchange(h: Harness, steps: readonly Step[], want: number, untilClose: boolean): Promise<Exchange> {
  const { hostname, port } = new URL(h.gateway.addresses.proxy);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: hostname, port: Number(port) });
    let buf = Buffer.alloc(0);
    let responses: RawResponse[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), READ_TIMEOUT_MS);
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      responses = parseResponses(buf);
      if (!untilClose && responses.length >= want) finish(false);
    });
    socket.on('connect', async () => {
      for (const step of steps) {
        // Stop talking once the gateway answered or hung up, as a real client would.
        if (done || socket.destroyed || buf.length > 0) return;
        if (step === 'end') socket.end();
        else if (step === 'reset') socket.resetAndDestroy();
        else if (typeof step === 'string') socket.write(step);
        else await new Promise((r) => setTimeout(r, step.wait));
      }
    });
  });
}

const CHAT = JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] });
/** The first of a pipelined pair: a valid call, answered before the malformed one is refused. */
const LEGIT = (host: string) => `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nX-Case: legit\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`;
const SLOW_CHAT = JSON.stringify({ model: 'slow-first-byte', messages: [{ role: 'user', content: 'slow' }] });
const SLOW_LEGIT = (host: string) =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nX-Case: legit\r\nX-Sample-Delay-Ms: 300\r\nContent-Type: application/json\r\nContent-Length: ${SLOW_CHAT.length}\r\n\r\n${SLOW_CHAT}`;

interface Case {
  name: string;
  /** What the client writes; `host` is the gateway's host:port, `head` a request head without its blank line. */
  send(host: string, head: string): Step[];
  /**
   * Expected status of each response in order; `closed` when the client hung up itself and there
   * is nothing to read. Every case is exact: what Node or the gateway does today.
   */
  expect: number[] | 'closed';
  /** The aos_* code of the last (refusing) response. */
  code?: ErrorCode;
  /** The gateway must close the connection after answering. */
  closes?: boolean;
  /** Valid requests in the case that do reach the upstream (pipelined companions); 0 by default. */
  upstream?: number;
  /** Bounds on the time to the close or the answer, in ms. */
  within?: [number, number];
}

const POST = (host: string, path = '/v1/chat/completions') => `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Case: malformed\r\nContent-Type: application/json\r\n`;

const CASES: Case[] = [
  // Framing: the request smuggling family. llhttp refuses all of it before a request exists.
  {
    name: 'Content-Length then Transfer-Encoding (CL.TE)',
    send: (_, head) => [`${head}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`],
    expect: [400],
    code: 'aos_bad_request',
    closes: true,
  },
  {
    name: 'Transfer-Encoding then Content-Length (TE.CL)',
    send: (_, head) => [`${head}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`],
    expect: [400],
    code: 'aos_bad_request',
    closes: true,
  },
  { name: 'two different Content-Length values', send: (_, head) => [`${head}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`], expect: [400], code: 'aos_bad_request', closes: true },
  {
    name: 'two equal Content-Length lines (Node is stricter than RFC 9112 here)',
    send: (_, head) => [`${head}Content-Length: ${CHAT.length}\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`],
    expect: [400],
    code: 'aos_bad_request',
    closes: true,
  },
  { name: 'Content-Length as a list', send: (_, head) => [`${head}Content-Length: 5, 5\r\n\r\nabcde`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'non-numeric Content-Length', send: (_, head) => [`${head}Content-Length: abc\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'negative Content-Length', send: (_, head) => [`${head}Content-Length: -1\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'chunk size that is not hex', send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'chunk size overflow', send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'no CRLF after chunk data', send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'bare LF in chunked framing', send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n`], expect: [400], code: 'aos_bad_request', closes: true },
  {
    name: 'chunk extensions over 16 KiB',
    send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\n3;ext=${'x'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`],
    expect: [413],
    code: 'aos_payload_too_large',
    closes: true,
  },
  { name: 'Transfer-Encoding: xchunked', send: (_, head) => [`${head}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'Transfer-Encoding: chunked, identity', send: (_, head) => [`${head}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'Transfer-Encoding: identity', send: (_, head) => [`${head}Transfer-Encoding: identity\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'Transfer-Encoding twice', send: (_, head) => [`${head}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'whitespace before the colon of Transfer-Encoding', send: (_, head) => [`${head}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },

  // Header syntax and limits.
  { name: 'obs-fold with a space', send: (_, head) => [`${head}X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'obs-fold with a tab', send: (_, head) => [`${head}X-Folded: a\r\n\tb\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  {
    name: 'whitespace-led line right after the request line',
    send: (host) => [`POST /v1/chat/completions HTTP/1.1\r\n X-Folded: a\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n`],
    expect: [400],
    code: 'aos_bad_request',
    closes: true,
  },
  {
    name: 'headers over maxHeaderBytes',
    send: (_, head) => [`${head}X-Big: ${'a'.repeat(LIMITS.maxHeaderBytes + 100)}\r\nContent-Length: 0\r\n\r\n`],
    expect: [431],
    code: 'aos_header_too_large',
    closes: true,
  },
  {
    name: 'more than maxHeaders headers',
    send: (_, head) => [`${head}${Array.from({ length: LIMITS.maxHeaders + 5 }, (_, i) => `X-H${i}: v\r\n`).join('')}Content-Length: 0\r\n\r\n`],
    expect: [431],
    code: 'aos_header_too_large',
  },
  { name: 'header line without a colon', send: (_, head) => [`${head}X-No-Colon value\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'header name with invalid characters', send: (_, head) => [`${head}X(Bad)Name: v\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'NUL in a header value', send: (_, head) => [`${head}X-Nul: a\x00b\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'bare CR in a header value', send: (_, head) => [`${head}X-Cr: a\rb\r\nContent-Length: 0\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'bare LF line endings', send: (host) => [`POST /v1/chat/completions HTTP/1.1\nHost: ${host}\nContent-Length: 0\n\n`], expect: [400], code: 'aos_bad_request', closes: true },
  {
    name: 'no Host in HTTP/1.1',
    send: () => [`POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`],
    expect: [400],
    code: 'aos_bad_request',
  },
  { name: 'two Host headers', send: (_, head) => [`${head}Host: evil.example\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },

  // Request line and target.
  {
    name: 'absolute-form naming another host',
    send: () => [`POST http://evil.example/v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`],
    expect: [400],
    code: 'aos_bad_request',
  },
  {
    name: 'absolute-form naming the gateway itself',
    send: (host) => [`POST http://${host}/v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`],
    expect: [400],
    code: 'aos_bad_request',
  },
  { name: 'CONNECT', send: () => ['CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'asterisk-form', send: (host) => [`OPTIONS * HTTP/1.1\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request' },
  { name: 'HTTP/0.9-style request line', send: () => ['GET /v1/models\r\n\r\n'], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'invalid method token', send: (host) => [`G@T /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'unknown method (llhttp knows a fixed list)', send: (host) => [`BREW /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'lowercase method', send: (host) => [`get /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'HTTP/2.0 in the request line', send: (host) => [`GET /v1/models HTTP/2.0\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'HTTP/2 connection preface', send: () => ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'HTTP/1.2', send: (host) => [`GET /v1/models HTTP/1.2\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'garbage HTTP version', send: (host) => [`GET /v1/models HTTP/x.y\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'space inside the request target', send: (host) => [`GET /v1/mod els HTTP/1.1\r\nHost: ${host}\r\n\r\n`], expect: [400], code: 'aos_bad_request', closes: true },
  // Node counts the request line in maxHeaderSize, so this is 431 rather than 414.
  {
    name: 'request line over maxHeaderBytes',
    send: (host) => [`GET /v1/${'a'.repeat(LIMITS.maxHeaderBytes + 100)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    expect: [431],
    code: 'aos_header_too_large',
    closes: true,
  },
  { name: 'dot segments', send: (host) => [`${POST(host, '/v1/../v1/chat/completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },
  { name: 'single dot segment', send: (host) => [`${POST(host, '/v1/./chat/completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },
  { name: 'percent-encoded dot segments', send: (host) => [`${POST(host, '/v1/%2e%2e/v1/chat/completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },
  {
    name: 'upper-case percent-encoded dot segments',
    send: (host) => [`${POST(host, '/v1/%2E%2E/v1/chat/completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`],
    expect: [400],
    code: 'aos_bad_request',
  },
  { name: 'backslashes', send: (host) => [`${POST(host, '/v1\\chat\\completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },
  { name: 'percent-encoded backslash', send: (host) => [`${POST(host, '/v1/%5c/chat/completions')}Content-Length: ${CHAT.length}\r\n\r\n${CHAT}`], expect: [400], code: 'aos_bad_request' },

  // Body limits.
  {
    name: 'declared Content-Length over maxBodyBytes, body never sent',
    send: (_, head) => [`${head}Content-Length: 10000000\r\n\r\n`],
    expect: [413],
    code: 'aos_payload_too_large',
    closes: true,
    within: [0, 500],
  },
  {
    name: 'chunked body growing past maxBodyBytes',
    send: (_, head) => [`${head}Transfer-Encoding: chunked\r\n\r\n`, ...Array.from({ length: 8 }, () => [{ wait: 20 }, `3e8\r\n${'a'.repeat(1000)}\r\n`]).flat()],
    expect: [413],
    code: 'aos_payload_too_large',
    closes: true,
  },

  // Slow and vanishing clients.
  {
    name: 'headers stall half way (slowloris)',
    send: (_, head) => [head],
    expect: [408],
    code: 'aos_request_timeout',
    closes: true,
    within: [LIMITS.headersTimeoutMs - 50, LIMITS.headersTimeoutMs * 2],
  },
  {
    name: 'headers trickle one line every 100 ms',
    send: (_, head) => [head, ...Array.from({ length: 25 }, (_, i) => [{ wait: 100 }, `X-Trickle-${i}: v\r\n`]).flat()],
    expect: [408],
    code: 'aos_request_timeout',
    closes: true,
    within: [LIMITS.headersTimeoutMs - 50, LIMITS.headersTimeoutMs * 2],
  },
  {
    name: 'headers complete, body stalls',
    send: (_, head) => [`${head}Content-Length: 100\r\n\r\n{"model":`],
    expect: [408],
    code: 'aos_request_timeout',
    closes: true,
    within: [LIMITS.requestTimeoutMs - 50, LIMITS.requestTimeoutMs * 2],
  },
  { name: 'connection opened, nothing sent', send: () => [], expect: [408], code: 'aos_request_timeout', closes: true, within: [LIMITS.headersTimeoutMs - 50, LIMITS.requestTimeoutMs * 2] },
  { name: 'half a body, then FIN', send: (_, head) => [`${head}Content-Length: 100\r\n\r\n{"model":`, { wait: 50 }, 'end'], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'half a body, then reset', send: (_, head) => [`${head}Content-Length: 100\r\n\r\n{"model":`, { wait: 50 }, 'reset'], expect: 'closed' },
  { name: 'headers, then FIN', send: (_, head) => [`${head}Content-Length: 100\r\n\r\n`, 'end'], expect: [400], code: 'aos_bad_request', closes: true },
  { name: 'headers, then reset', send: (_, head) => [`${head}Content-Length: 100\r\n\r\n`, { wait: 50 }, 'reset'], expect: 'closed' },

  // Pipelining: earlier valid requests are answered, in order, before the malformed one is refused.
  {
    name: 'pipelined: valid, then duplicate Content-Length',
    send: (host, head) => [`${LEGIT(host)}${head}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`],
    expect: [200, 400],
    code: 'aos_bad_request',
    closes: true,
    upstream: 1,
  },
  {
    name: 'pipelined: slow valid, then invalid method',
    send: (host) => [`${SLOW_LEGIT(host)}G@T / HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    expect: [200, 400],
    code: 'aos_bad_request',
    closes: true,
    upstream: 1,
  },
  {
    name: 'pipelined: two valid, then bad chunk size',
    send: (host, head) => [`${LEGIT(host) + LEGIT(host)}${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n`],
    expect: [200, 200, 400],
    code: 'aos_bad_request',
    closes: true,
    upstream: 2,
  },
  {
    name: 'pipelined: slow valid, then a half body, then reset',
    send: (host, head) => [`${SLOW_LEGIT(host)}${head}Content-Length: 100\r\n\r\n{"model":`, { wait: 100 }, 'reset'],
    expect: 'closed',
    upstream: 1,
  },
];

/** Waits until the gateway has no request in flight: no handler hangs on a broken connection. */
async function settled(h: Harness): Promise<number> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const inflight = (await h.gateway.metrics.inflight.get()).values[0]?.value ?? 0;
    if (inflight === 0 || Date.now() > deadline) return inflight;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A normal call through the gateway still works, and it is the only thing the upstream saw. */
async function servesNormally(t: Test, h: Harness): Promise<void> {
  const before = h.upstream.received.length;
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-case': 'health' },
    body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'still there?' }] }),
    signal: AbortSignal.timeout(READ_TIMEOUT_MS),
  });
  t.equal(res.status, 200, 'a normal request still succeeds');
  t.equal(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content, 'Echo: still there?');
  t.equal(h.upstream.received.length, before + 1, 'exactly the normal request reached the upstream');
}

/** What the upstream saw since `from` besides valid pipelined companions and health checks: must be nothing. */
const leaked = (h: Harness, from: number) => h.upstream.received.slice(from).filter((r) => r.headers['x-case'] !== 'legit' && r.headers['x-case'] !== 'health');

/** Plays one case: reads its answers, or up to the close when it must close or expects nothing. */
function run(h: Harness, c: Case, host: string): Promise<Exchange> {
  return exchange(h, c.send(host, POST(host)), c.expect === 'closed' ? 1 : c.expect.length, c.closes === true || c.expect === 'closed');
}

function checkError(t: Test, res: RawResponse, code: ErrorCode | undefined): void {
  t.match(res.headers['content-type'], /^application\/json\b/, 'JSON error body');
  let body: { error?: { code?: string } } | null = null;
  try {
    body = JSON.parse(res.body);
  } catch {
    t.fail(`error body is not JSON: ${res.body.slice(0, 200)}`);
    return;
  }
  t.ok(Object.hasOwn(ERRORS, body?.error?.code ?? ''), `error.code ${body?.error?.code} is in the aos_* registry`);
  t.equal(res.headers['x-aos-error-code'], body?.error?.code, 'X-Aos-Error-Code matches error.code');
  if (code !== undefined) t.equal(body?.error?.code, code);
  t.equal(res.status, ERRORS[body?.error?.code as ErrorCode]?.status, 'status matches the registry');
}

t.test('malformed HTTP is refused, never reaches the upstream, and the gateway keeps serving', async (t) => {
  const h = await startHarness(t, { limits: LIMITS });
  const { host } = new URL(h.gateway.addresses.proxy);
  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      const before = h.upstream.received.length;
      const r = await run(h, c, host);
      if (c.expect === 'closed') {
        t.same(r.responses, [], 'the client hung up: nothing was answered');
      } else {
        t.same(
          r.responses.map((x) => x.status),
          c.expect,
          `answered ${c.expect.join(', ')}`,
        );
        const last = r.responses.at(-1);
        if (last !== undefined && last.status >= 400) checkError(t, last, c.code);
        for (const x of r.responses.slice(0, -1)) t.equal(x.status, 200, 'an earlier pipelined request is answered normally');
        if (c.expect.length > 1)
          t.ok(
            r.responses.slice(0, -1).every((x) => JSON.parse(x.body).choices[0].message.content.startsWith('Echo: ')),
            'with its own answer',
          );
        if (c.closes) t.ok(r.closed, `the gateway closed the connection (after ${r.ms} ms)`);
      }
      if (c.within !== undefined) t.ok(r.ms >= c.within[0] && r.ms <= c.within[1], `answered or closed after ${r.ms} ms, within ${c.within.join('-')} ms`);
      t.equal(await settled(h), 0, 'no request left in flight');
      t.equal(h.upstream.received.length - before, c.upstream ?? 0, 'the upstream saw only the valid requests');
      t.same(leaked(h, before), [], 'nothing malformed reached the upstream');
      await servesNormally(t, h);
    });
  }
});

t.test('a concurrent burst of every malformed case leaves the gateway serving and the upstream untouched', async (t) => {
  const h = await startHarness(t, { limits: LIMITS });
  const { host } = new URL(h.gateway.addresses.proxy);
  const malformed = CASES.filter((c) => (c.upstream ?? 0) === 0);
  const runs = await Promise.all([0, 1, 2].flatMap(() => malformed.map((c) => run(h, c, host))));
  const answered = runs.flatMap((r) => r.responses);
  t.ok(
    answered.every((x) => x.status >= 400 && x.status < 500),
    `every answer is a 4xx (${answered.length} answers, ${runs.length - answered.length} closed without one)`,
  );
  t.ok(
    runs.every((r) => r.responses.length > 0 || r.closed),
    'every connection was answered or closed before the read timeout',
  );
  t.equal(await settled(h), 0, 'no request left in flight');
  t.equal(h.upstream.received.length, 0, 'the upstream received nothing');
  await servesNormally(t, h);
});
