import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS, GatewayError, renderError, renderStreamError, toGatewayError, type ErrorCode } from '../src/errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];

t.test('docs/errors.md lists exactly the registry, with the same statuses and types', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `(aos_[a-z_]+)` \| (\d+) \| (\w+) \| (\w+) \| (-?\d+) \| (yes|no) \|/gm)];
  t.same(rows.map((r) => r[1]).sort(), [...codes].sort(), 'same codes');
  for (const [, code, status, openai, anthropic, jsonrpc, retry] of rows) {
    const spec = ERRORS[code as ErrorCode];
    t.same([Number(status), openai, anthropic, Number(jsonrpc), retry === 'yes'], [spec.status, spec.openai, spec.anthropic, spec.jsonrpc, spec.retryable], code);
  }
});

t.test('every code renders in every dialect with its code, status and message', async (t) => {
  for (const code of codes) {
    const err = new GatewayError(code, `message for ${code}`);
    t.equal(err.status, ERRORS[code].status);
    const openai = JSON.parse(renderError(err, 'openai'));
    t.same(openai, { error: { message: `message for ${code}`, type: ERRORS[code].openai, code, param: null } }, `${code} openai`);
    const anthropic = JSON.parse(renderError(err, 'anthropic'));
    t.same(anthropic, { type: 'error', error: { type: ERRORS[code].anthropic, message: `message for ${code}`, code } }, `${code} anthropic`);
    const rpc = JSON.parse(renderError(err, 'jsonrpc', 7));
    t.same(rpc, { jsonrpc: '2.0', id: 7, error: { code: ERRORS[code].jsonrpc, message: `message for ${code}`, data: { code, status: ERRORS[code].status } } }, `${code} jsonrpc`);
  }
});

t.test('stream error events are framed as single SSE events', async (t) => {
  const err = new GatewayError('aos_upstream_error', 'upstream openai failed (ECONNRESET)');
  t.match(renderStreamError(err, 'openai'), /^data: \{"error":\{.*"code":"aos_upstream_error".*\}\}\n\n$/);
  t.match(renderStreamError(err, 'anthropic'), /^event: error\ndata: \{"type":"error".*\}\n\n$/);
});

t.test('anything that is not a GatewayError becomes an internal error without leaking its message', async (t) => {
  const e = toGatewayError(new Error('secret detail sk-123'));
  t.equal(e.code, 'aos_internal_error');
  t.notMatch(renderError(e, 'openai'), /sk-123/);
});
