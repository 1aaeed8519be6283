import { readFileSync } from 'node:fs';
import t from 'tap';
import { ConfigError } from '../src/config/load.js';
import {
  AdminUnreachableError,
  AosError,
  AuditQueryError,
  BudgetStoreLockedError,
  BundleError,
  ERRORS,
  type ErrorCode,
  errorHeaders,
  GatewayError,
  IdentityConfigError,
  INTERNAL_ERRORS,
  type InternalErrorCode,
  JwksError,
  KeyError,
  McpToolsListError,
  PolicyConfigError,
  PolicySourceError,
  renderError,
  renderStreamError,
  TarReadError,
  ToolDefinitionError,
  toGatewayError,
} from '../src/errors.js';

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
    const google = JSON.parse(renderError(err, 'google'));
    t.match(google, { error: { code: ERRORS[code].status, message: `message for ${code}`, status: /^[A-Z_]+$/, details: [{ reason: code, domain: 'aos-gateway' }] } }, `${code} google`);
    t.not(google.error.status, 'UNKNOWN', `${code}: a google.rpc.Code for its status`);
    t.same(JSON.parse(renderError(err, 'aws')), { message: `message for ${code}`, code }, `${code} aws`);
    t.match(errorHeaders(err, 'aws'), { 'x-amzn-errortype': /^[A-Za-z]+Exception:/ }, `${code}: an AWS exception for its status`);
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

// Internal errors: one row per class and code, as undici's test/errors.js does.
const internal: [ctor: new (...args: never[]) => AosError, args: unknown[], name: string, code: InternalErrorCode, message: string][] = [
  [AosError, ['AOS_ERR_TAR_READ', 'plain'], 'AosError', 'AOS_ERR_TAR_READ', 'plain'],
  [BundleError, ['AOS_ERR_BUNDLE_INVALID', 'no wasm'], 'BundleError', 'AOS_ERR_BUNDLE_INVALID', 'no wasm'],
  [BundleError, ['AOS_ERR_BUNDLE_UNSIGNED', 'unsigned'], 'BundleError', 'AOS_ERR_BUNDLE_UNSIGNED', 'unsigned'],
  [BundleError, ['AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bad'], 'BundleError', 'AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bad'],
  [BundleError, ['AOS_ERR_BUNDLE_FILES_MISMATCH', 'changed'], 'BundleError', 'AOS_ERR_BUNDLE_FILES_MISMATCH', 'changed'],
  [BundleError, ['AOS_ERR_BUNDLE_UNLOADABLE', 'no entrypoint'], 'BundleError', 'AOS_ERR_BUNDLE_UNLOADABLE', 'no entrypoint'],
  [TarReadError, ['not gzip'], 'TarReadError', 'AOS_ERR_TAR_READ', 'not gzip'],
  [PolicySourceError, ['AOS_ERR_POLICY_FETCH', 'HTTP 500'], 'PolicySourceError', 'AOS_ERR_POLICY_FETCH', 'HTTP 500'],
  [PolicySourceError, ['AOS_ERR_POLICY_BUILD', 'opa build failed'], 'PolicySourceError', 'AOS_ERR_POLICY_BUILD', 'opa build failed'],
  [PolicyConfigError, ['no source'], 'PolicyConfigError', 'AOS_ERR_POLICY_CONFIG', 'no source'],
  [KeyError, ['AOS_ERR_KEY_UNREADABLE', 'EACCES'], 'KeyError', 'AOS_ERR_KEY_UNREADABLE', 'EACCES'],
  [KeyError, ['AOS_ERR_KEY_INVALID', 'a private key'], 'KeyError', 'AOS_ERR_KEY_INVALID', 'a private key'],
  [JwksError, ['AOS_ERR_JWKS_FETCH', 'HTTP 404'], 'JwksError', 'AOS_ERR_JWKS_FETCH', 'HTTP 404'],
  [JwksError, ['AOS_ERR_JWKS_INVALID', 'no keys'], 'JwksError', 'AOS_ERR_JWKS_INVALID', 'no keys'],
  [IdentityConfigError, ['HS256 is not allowed'], 'IdentityConfigError', 'AOS_ERR_IDENTITY_CONFIG', 'HS256 is not allowed'],
  [
    ConfigError,
    ['/x/agents.yaml', [' cannot read the agent registry: ENOENT'], 'AOS_ERR_CONFIG_NOT_FOUND'],
    'ConfigError',
    'AOS_ERR_CONFIG_NOT_FOUND',
    '/x/agents.yaml: cannot read the agent registry: ENOENT',
  ],
  [
    ConfigError,
    ['/x/agents.yaml', [' cannot read the agent registry: EACCES'], 'AOS_ERR_CONFIG_UNREADABLE'],
    'ConfigError',
    'AOS_ERR_CONFIG_UNREADABLE',
    '/x/agents.yaml: cannot read the agent registry: EACCES',
  ],
  [ConfigError, ['/x/aos.yaml', [' 1:1: bad'], 'AOS_ERR_CONFIG_SYNTAX'], 'ConfigError', 'AOS_ERR_CONFIG_SYNTAX', '/x/aos.yaml: 1:1: bad'],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
  [ConfigError, ['/x/aos.yaml', [' 2:3: listen.port: ${PORT} is not set'], 'AOS_ERR_CONFIG_ENV_UNSET'], 'ConfigError', 'AOS_ERR_CONFIG_ENV_UNSET', '/x/aos.yaml: 2:3: listen.port: ${PORT} is not set'],
  [ConfigError, ['/x/aos.yaml', [' 2:3: listen.port: must be integer']], 'ConfigError', 'AOS_ERR_CONFIG_INVALID', '/x/aos.yaml: 2:3: listen.port: must be integer'],
  [BudgetStoreLockedError, ['in use by process 7', 7], 'BudgetStoreLockedError', 'AOS_ERR_BUDGET_STORE_LOCKED', 'in use by process 7'],
  [AuditQueryError, ['limit', 'expected a positive integer, got "0"'], 'AuditQueryError', 'AOS_ERR_AUDIT_QUERY', '--limit: expected a positive integer, got "0"'],
  [AuditQueryError, [null, 'expected a time'], 'AuditQueryError', 'AOS_ERR_AUDIT_QUERY', 'expected a time'],
  [McpToolsListError, ['tools/list answered HTTP 500'], 'McpToolsListError', 'AOS_ERR_MCP_TOOLS_LIST', 'tools/list answered HTTP 500'],
  [ToolDefinitionError, ['AOS_ERR_TOOL_PATH_PATTERN', 'dot segments are not allowed'], 'ToolDefinitionError', 'AOS_ERR_TOOL_PATH_PATTERN', 'dot segments are not allowed'],
  [ToolDefinitionError, ['AOS_ERR_TOOL_SCHEMA', 'a JSON Schema must be an object'], 'ToolDefinitionError', 'AOS_ERR_TOOL_SCHEMA', 'a JSON Schema must be an object'],
  [
    AdminUnreachableError,
    ['http://127.0.0.1:9901/admin/budgets', { cause: Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED 127.0.0.1:9901') }) }],
    'AdminUnreachableError',
    'AOS_ERR_ADMIN_UNREACHABLE',
    "cannot reach the gateway's admin listener at http://127.0.0.1:9901/admin/budgets: connect ECONNREFUSED 127.0.0.1:9901",
  ],
];

t.test('internal errors: each class has its name and a stable code from the registry', async (t) => {
  for (const [Ctor, args, name, code, message] of internal) {
    const err = new Ctor(...(args as never[]));
    t.ok(err instanceof Error, `${name} is an Error`);
    t.ok(err instanceof Ctor, `${name} is a ${Ctor.name}`);
    t.equal(err.name, name, `${name}: name`);
    t.equal(err.code, code, `${name}: code`);
    t.equal(err.message, message, `${name}: message`);
    t.ok(Object.hasOwn(INTERNAL_ERRORS, err.code), `${code} is in the registry`);
    t.match(err.stack, new RegExp(`^${name}: `), `${name}: stack names the class`);
  }
  t.ok(new ConfigError('/x', [' x']) instanceof AosError, 'a configuration error is an internal error with a code');
  t.ok(new BundleError('AOS_ERR_BUNDLE_INVALID', 'x') instanceof AosError);
});

t.test('every internal code is used by a class in the table, and is not an HTTP code', async (t) => {
  t.same([...new Set(internal.map((row) => row[3]))].sort(), Object.keys(INTERNAL_ERRORS).sort());
  for (const code of Object.keys(INTERNAL_ERRORS)) {
    t.match(code, /^AOS_ERR_[A-Z_]+$/, code);
    t.notOk(Object.hasOwn(ERRORS, code), `${code} is not a GatewayError code`);
  }
});

t.test('docs/errors.md lists exactly the internal codes', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `(AOS_ERR_[A-Z_]+)` \| /gm)].map((r) => r[1]);
  t.same(rows.sort(), Object.keys(INTERNAL_ERRORS).sort());
});

t.test('an internal error is never answered as such: it becomes an internal error without its message', async (t) => {
  const e = toGatewayError(new KeyError('AOS_ERR_KEY_INVALID', 'key file /secret/path: a private key'));
  t.equal(e.code, 'aos_internal_error');
  t.notMatch(renderError(e, 'anthropic'), /secret/);
});
