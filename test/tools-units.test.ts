/** Unit tables for the tool registry's pieces: path patterns, the tools/list tap, MCP message checks. */
import t from 'tap';
import { parseConfig } from '../src/config/load.js';
import { compilePathPattern, matchPathPattern, splitPath } from '../src/config/path-pattern.js';
import { checkMcpHeaders, parseMcpMessage } from '../src/providers/mcp.js';
import { createListChangedTap, createResultSizeTap, createToolsListTap } from '../src/tools/mcp-list-tap.js';
import { createSessionOwners } from '../src/tools/mcp-sessions.js';
import { tapData, tapEnd } from '../src/upstream/tap.js';

t.test('path patterns: literal and parameter segments, a final catch-all', async (t) => {
  const cases: [string, string, Record<string, string> | null][] = [
    ['/tickets', '/tickets', {}],
    ['/tickets', '/tickets/', null],
    ['/tickets', '/Tickets', null],
    ['/tickets/{id}', '/tickets/42', { id: '42' }],
    ['/tickets/{id}', '/tickets/', null],
    ['/tickets/{id}', '/tickets/4/2', null],
    ['/tickets/{id}', '/tickets/a%20b', { id: 'a b' }],
    ['/tickets/{id}', '/tickets/%zz', null],
    ['/tickets/{id}', '/tickets/1%2fcomments', null],
    ['/tickets/{id}', '/tickets/1%2Fcomments', null],
    ['/files/{path*}', '/files/a%2fb', { path: 'a/b' }],
    ['/repos/{owner}/{repo}/issues', '/repos/acme/web/issues', { owner: 'acme', repo: 'web' }],
    ['/files/{path*}', '/files/a/b/c.txt', { path: 'a/b/c.txt' }],
    ['/files/{path*}', '/files', null],
    ['/files/{path*}', '/files/a//b', null],
    ['/', '/', {}],
    ['/', '/x', null],
  ];
  for (const [pattern, path, want] of cases) t.same(matchPathPattern(compilePathPattern(pattern), splitPath(path)), want, `${pattern} ~ ${path}`);
  const bad: [string, RegExp][] = [
    ['tickets', /starts with \//],
    ['/a//b', /empty path segment/],
    ['/a/', /empty path segment/],
    ['/a/{id}/{id}', /appears twice/],
    ['/a/{rest*}/b', /must be the last/],
    ['/a/{x-y}', /bad parameter segment/],
    ['/a/x{id}', /bad parameter segment/],
    ['/a/../b', /dot segments/],
  ];
  for (const [pattern, message] of bad) t.throws(() => compilePathPattern(pattern), message, pattern);
});

const list = (id: number | string, tools: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id, result: { tools: tools.map((name) => ({ name, inputSchema: { type: 'object' } })), ...extra } });

function run(tap: ReturnType<typeof createToolsListTap>, status: number, headers: Record<string, string>, chunks: string[]): { headers: Record<string, string>; body: string } {
  const h = { ...headers };
  tap.onStart!(status, h);
  let body = '';
  for (const c of chunks) body += tapData([tap], Buffer.from(c))?.toString() ?? '';
  body += tapEnd([tap])?.toString() ?? '';
  return { headers: h, body };
}

t.test('tools/list tap: JSON and SSE answers filtered, other events and fields untouched, learned unfiltered', async (t) => {
  const learned: string[] = [];
  const make = (id: number | null = 7, maxBytes = 1 << 20) =>
    createToolsListTap({ id, learn: (ts) => learned.push(...ts.map((x) => (x as { name: string }).name)), keep: (x) => !x.name.startsWith('secret'), maxBytes });
  const json = list(7, ['a', 'secret_b', 'c'], { nextCursor: 'p2' });
  const r1 = run(make(), 200, { 'content-type': 'application/json', 'content-length': String(json.length) }, [json.slice(0, 10), json.slice(10)]);
  t.same(JSON.parse(r1.body), JSON.parse(list(7, ['a', 'c'], { nextCursor: 'p2' })));
  t.equal(r1.headers['content-length'], undefined, 'content-length dropped');
  t.same(learned, ['a', 'secret_b', 'c']);

  const progress = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"tools":[]}}\n\n';
  const answer = `id: ev-9\nevent: message\ndata: ${list(7, ['secret_x', 'y'])}\n\n`;
  const sse = progress + answer;
  const r2 = run(make(), 200, { 'content-type': 'text/event-stream' }, [sse.slice(0, 50), sse.slice(50, 120), sse.slice(120)]);
  t.equal(r2.body, `${progress}id: ev-9\nevent: message\ndata: ${list(7, ['y'])}\n\n`, 'only the answer event rewritten, its id line kept');

  const other = list(8, ['secret_z']);
  t.equal(run(make(), 200, { 'content-type': 'application/json' }, [other]).body, other, 'an answer to another id passes');
  t.equal(run(make(null), 200, { 'content-type': 'application/json' }, [other]).body, list(8, []), 'with no id (a resumed stream) any tools result is filtered');
  t.equal(run(make(), 500, { 'content-type': 'application/json' }, [json]).body, json, 'an error status passes unchanged');
  t.equal(run(make(), 200, { 'content-type': 'application/json' }, ['{not json']).body, '{not json', 'unparseable passes unchanged');
  const big = run(make(7, 10), 200, { 'content-type': 'application/json' }, [json]);
  t.match(JSON.parse(big.body), { id: 7, error: { data: { code: 'aos_upstream_error' } } }, 'too large to filter: an error, never the unfiltered list');

  const resources = JSON.stringify({
    jsonrpc: '2.0',
    id: 3,
    result: {
      resources: [
        { uri: 'docs://a', name: 'a' },
        { uri: 'secret://k', name: 'k' },
      ],
    },
  });
  const rtap = createToolsListTap({ id: 3, list: 'resources', learn: () => {}, keep: (x) => !x.name.startsWith('secret'), maxBytes: 1 << 20 });
  t.same(JSON.parse(run(rtap, 200, { 'content-type': 'application/json' }, [resources]).body).result.resources, [{ uri: 'docs://a', name: 'a' }], 'resources/list filtered by URI');

  const target: { resultBytes?: number } = {};
  const size = createResultSizeTap(target);
  tapData([size], Buffer.from('12345'));
  tapEnd([size]);
  t.equal(target.resultBytes, 5);
});

t.test('JSON-RPC messages: classification and refusals', async (t) => {
  t.same(parseMcpMessage({ jsonrpc: '2.0', id: 1, method: 'ping' }), { type: 'request', id: 1, method: 'ping', params: null });
  t.same(parseMcpMessage({ jsonrpc: '2.0', method: 'notifications/initialized' }), { type: 'notification', method: 'notifications/initialized', params: null });
  t.same(parseMcpMessage({ jsonrpc: '2.0', id: 'x', result: {} }), { type: 'response', id: 'x' });
  t.same(parseMcpMessage({ jsonrpc: '2.0', id: null, error: { code: 1 } }), { type: 'response', id: null });
  const bad: [unknown, RegExp][] = [
    [[], /batches/],
    ['x', /one JSON-RPC message/],
    [{ id: 1, method: 'ping' }, /"jsonrpc" must be "2.0"/],
    [{ jsonrpc: '2.0', id: 1.5, method: 'ping' }, /string or an integer/],
    [{ jsonrpc: '2.0', id: null, method: 'ping' }, /string or an integer/],
    [{ jsonrpc: '2.0', id: 1, method: 'x', params: [1] }, /params of x must be an object/],
    [{ jsonrpc: '2.0', id: 1, method: 5 }, /method must be a string/],
    [{ jsonrpc: '2.0', id: 1 }, /needs a method/],
  ];
  for (const [msg, re] of bad) t.throws(() => parseMcpMessage(msg), re);
  const call = parseMcpMessage({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'docs://a' } });
  t.doesNotThrow(() => checkMcpHeaders({ 'mcp-method': 'resources/read', 'mcp-name': 'docs://a' }, call));
  t.throws(() => checkMcpHeaders({ 'mcp-name': 'docs://b' }, call), /Mcp-Name/);
  t.throws(() => checkMcpHeaders({ 'mcp-method': 'tools/call' }, call), /Mcp-Method/);
  t.throws(() => checkMcpHeaders({ 'mcp-method': 'x' }, parseMcpMessage({ jsonrpc: '2.0', id: 1, result: {} })), /on a JSON-RPC response/);
  t.doesNotThrow(() => checkMcpHeaders({ 'mcp-name': `=?base64?${Buffer.from('docs://a').toString('base64')}?=` }, call), 'the Base64 sentinel is decoded');
  const versioned = parseMcpMessage({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } });
  t.throws(() => checkMcpHeaders({ 'mcp-protocol-version': '2025-11-25' }, versioned), { code: 'aos_mcp_header_mismatch', message: /MCP-Protocol-Version/ });
  t.doesNotThrow(() => checkMcpHeaders({ 'mcp-protocol-version': '2026-07-28' }, versioned));
});

t.test('tools config errors name the key and the fix', async (t) => {
  const base = 'providers: { p: { dialect: openai, baseUrl: "http://x" } }\nroutes: [{ prefix: /v1, provider: p }]\n';
  const cases: [string, RegExp][] = [
    ['tools: { t: { kind: http, baseUrl: "http://x", operations: { a: { method: GET, path: "/a/{id}/{id}" } } } }', /tools\.t\.operations\.a\.path: parameter \{id\} appears twice/],
    [
      'tools: { t: { kind: http, baseUrl: "http://x", operations: { a: { method: GET, path: "/a/{x}" }, b: { method: GET, path: "/a/{y}" } } } }',
      /tools\.t\.operations\.b\.path: GET \/a\/\{y\} is already operation "a"/,
    ],
    ['tools: { t: { kind: http, baseUrl: "http://x", operations: { a: { method: POST, path: "/a", bodySchema: { type: 12 } } } } }', /tools\.t\.operations\.a\.bodySchema: not a valid JSON Schema/],
    ['tools: { t: { kind: http, baseUrl: "http://x", operations: {} } }', /tools\.t\.operations: expected at least 1 key/],
    ['tools: { t: { kind: http, baseUrl: "http://x", url: "http://y", operations: { a: { method: GET, path: "/" } } } }', /tools\.t\.url: unknown key/],
    ['tools: { t: { kind: mcp, url: "http://x", operations: {} } }', /tools\.t\.operations: unknown key/],
    ['tools: { t: { kind: mcp, url: "http://x", apiKey: a, apiKeyFile: b } }', /tools\.t\.apiKeyFile: set apiKey or apiKeyFile, not both/],
    ['tools: { t: { kind: mcp, url: "http://x", apiKeyFile: /nonexistent/key } }', /cannot read the key file \(ENOENT\)/],
    ['tools: { t: { kind: ftp } }', /tools\.t\.kind: expected one of http, mcp/],
    ['tools: { "a/b": { kind: mcp, url: "http://x" } }', /tools/],
  ];
  for (const [yaml, re] of cases) t.throws(() => parseConfig(base + yaml, 'aos.yaml', {}), re, yaml);
  const ok = parseConfig(`${base}tools: { gh: { kind: mcp, url: "http://x/mcp", apiKey: k, tools: { delete_repo: { sensitive: true } } } }`, 'aos.yaml', {});
  t.match(ok.config.tools.gh, { kind: 'mcp', schemaCacheSec: 300, headers: {}, tools: { delete_repo: { sensitive: true } } });
  t.equal(ok.toolCredentials.get('gh'), 'k');
});

t.test('session owners: claimed, ended, bounded (oldest forgotten)', async (t) => {
  const s = createSessionOwners(2);
  s.claim('a', 'agent-1');
  s.claim('b', '');
  t.equal(s.owner('a'), 'agent-1');
  t.equal(s.owner('b'), '', 'anonymous is an owner too');
  t.equal(s.owner('x'), undefined);
  s.claim('c', 'agent-2');
  t.equal(s.owner('a'), undefined, 'the oldest forgotten past the bound');
  t.equal(s.size(), 2);
  s.end('b');
  t.equal(s.owner('b'), undefined);
});

t.test('list_changed tap: found within a chunk and across chunk boundaries, bytes untouched', async (t) => {
  const event = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n';
  const cases: [string, string[], string, number][] = [
    ['one chunk', [event], 'text/event-stream', 1],
    ...[5, 40, 50, 60, 75].map((cut): [string, string[], string, number] => [`split at ${cut}`, [event.slice(0, cut), event.slice(cut)], 'text/event-stream', 1]),
    ['byte by byte', [...event], 'text/event-stream', 1],
    ['another notification', ['data: {"method":"notifications/progress"}\n\n'], 'text/event-stream', 0],
    ['a JSON answer is not watched', [event], 'application/json', 0],
  ];
  for (const [name, chunks, type, want] of cases) {
    let n = 0;
    const tap = createListChangedTap(() => n++);
    tap.onStart!(200, { 'content-type': type });
    let out = '';
    for (const c of chunks) out += tapData([tap], Buffer.from(c))!.toString();
    t.equal(n, want, name);
    t.equal(out, chunks.join(''), `${name}: passed unchanged`);
  }
});
