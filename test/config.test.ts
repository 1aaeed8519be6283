import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../src/config/load.js';
import { startHarness } from './helpers.js';

const PROVIDERS = `providers:
  openai:
    dialect: openai
    baseUrl: https://api.openai.com/v1
routes:
  - prefix: /v1
    provider: openai
`;

const problems = (text: string, env: NodeJS.ProcessEnv = {}): string => {
  try {
    parseConfig(text, 'conf/aos.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'valid';
};

t.test('each invalid file is refused with file, line, key path and what was expected', async (t) => {
  const cases: [string, string, string][] = [
    ['wrong type', `listen:\n  port: eighty\n${PROVIDERS}`, 'conf/aos.yaml:2:9: listen.port: expected integer, got "eighty"'],
    ['out of range', `listen:\n  port: 70000\n${PROVIDERS}`, 'conf/aos.yaml:2:9: listen.port: expected <= 65535, got 70000'],
    [
      'unknown key (typo)',
      `limits:\n  maxBodyByte: 10\n${PROVIDERS}`,
      'conf/aos.yaml:2:3: limits.maxBodyByte: unknown key (expected one of: maxBodyBytes, maxHeaderBytes, maxHeaders, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, shutdownGraceMs)',
    ],
    [
      'unknown dialect',
      PROVIDERS.replace('dialect: openai', 'dialect: grpc'),
      'conf/aos.yaml:3:14: providers.openai.dialect: expected one of openai, azure-openai, anthropic, gemini, bedrock, got "grpc"',
    ],
    [
      'bad base URL',
      PROVIDERS.replace('https://api.openai.com/v1', 'ftp://example'),
      'conf/aos.yaml:4:14: providers.openai.baseUrl: expected an http(s) URL without query or fragment, got "ftp://example"',
    ],
    ['route prefix without slash', PROVIDERS.replace('prefix: /v1', 'prefix: v1'), 'conf/aos.yaml:6:13: routes[0].prefix: expected a path like /v1 or /anthropic (no trailing slash), got "v1"'],
    ['route to an unknown provider', PROVIDERS.replace('provider: openai', 'provider: opnai'), 'conf/aos.yaml:7:15: routes[0].provider: expected one of the providers (openai), got "opnai"'],
    ['missing providers', 'routes:\n  - prefix: /v1\n    provider: openai\n', 'conf/aos.yaml:1:1: (top level): missing required key "providers"'],
    ['no routes', PROVIDERS.replace(/routes:[\s\S]*/, 'routes: []\n'), 'conf/aos.yaml:5:9: routes: expected at least 1 entry, got []'],
    ['same prefix twice', `${PROVIDERS}  - prefix: /v1\n    provider: openai\n`, 'conf/aos.yaml:8:13: routes[1].prefix: prefix "/v1" is routed twice'],
    ['duplicate key', `listen: { port: 1 }\nlisten: { port: 2 }\n${PROVIDERS}`, 'conf/aos.yaml:2:1: invalid YAML: Map keys must be unique'],
    ['broken YAML', `providers: [\n`, 'conf/aos.yaml:2:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    [
      'unset environment variable',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
      PROVIDERS.replace('baseUrl: https://api.openai.com/v1', 'baseUrl: https://api.openai.com/v1\n    apiKey: ${AOS_TEST_NOPE}'),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
      'conf/aos.yaml:5:13: providers.openai.apiKey: environment variable AOS_TEST_NOPE is not set (write ${AOS_TEST_NOPE:-} to allow it empty)',
    ],
    [
      'two credentials',
      PROVIDERS.replace('baseUrl: https://api.openai.com/v1', 'baseUrl: https://api.openai.com/v1\n    apiKey: a\n    apiKeyFile: /nonexistent'),
      'conf/aos.yaml:6:17: providers.openai.apiKeyFile: set apiKey or apiKeyFile, not both',
    ],
    [
      'unreadable key file',
      PROVIDERS.replace('baseUrl: https://api.openai.com/v1', 'baseUrl: https://api.openai.com/v1\n    apiKeyFile: /nonexistent/key'),
      'conf/aos.yaml:5:17: providers.openai.apiKeyFile: cannot read the key file (ENOENT)',
    ],
  ];
  for (const [name, text, expected] of cases) t.equal(problems(text), expected, name);
});

t.test('every problem of a file is reported, one line each', async (t) => {
  const text = PROVIDERS.replace('dialect: openai', 'dialect: grpc').replace('prefix: /v1', 'prefix: v1');
  t.equal(problems(text).split('\n').length, 2);
});

t.test('environment substitution: set, default, empty default; never inside keys', async (t) => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
  const text = `${PROVIDERS.replace('baseUrl: https://api.openai.com/v1', 'baseUrl: ${BASE:-https://fallback.example/v1}\n    apiKey: ${KEY}')}log:\n  level: \${LEVEL:-warn}\n`;
  const a = parseConfig(text, 'x.yaml', { KEY: 'sk-1', BASE: 'http://127.0.0.1:1/v1' });
  t.equal(a.config.providers.openai.baseUrl, 'http://127.0.0.1:1/v1');
  t.equal(a.credentials.get('openai'), 'sk-1');
  t.equal(a.config.log.level, 'warn');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
  const b = parseConfig(text.replace('${KEY}', '${KEY:-}'), 'x.yaml', {});
  t.equal(b.config.providers.openai.baseUrl, 'https://fallback.example/v1');
  t.equal(b.credentials.has('openai'), false, 'an empty key injects nothing');
});

t.test('defaults fill every optional key, and the shipped config is valid', async (t) => {
  const { config } = parseConfig(PROVIDERS, 'x.yaml', {});
  t.same(config.listen, { host: '127.0.0.1', port: 8080, allowedOrigins: [] });
  t.equal(config.limits.maxBodyBytes, 10 * 1024 * 1024);
  t.equal(config.upstream.retries, 2);
  t.equal(config.routes[0].passthrough, false);
  const shipped = loadConfig(new URL('../config/aos.yaml', import.meta.url).pathname, {});
  t.same(
    shipped.config.routes.map((r) => r.prefix),
    ['/v1', '/openai/v1', '/anthropic', '/'],
  );
});

t.test('apiKeyFile is read and trimmed, relative to the config file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'openai.key'), 'sk-from-file\n');
  writeFileSync(join(dir, 'aos.yaml'), PROVIDERS.replace('baseUrl: https://api.openai.com/v1', 'baseUrl: https://api.openai.com/v1\n    apiKeyFile: openai.key'));
  t.equal(loadConfig(join(dir, 'aos.yaml'), {}).credentials.get('openai'), 'sk-from-file');
});

t.test('reload: an invalid file is rejected and the last good config keeps serving', async (t) => {
  const h = await startHarness(t);
  const call = () =>
    fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) });
  t.equal((await call()).status, 200);
  writeFileSync(h.configFile, 'providers: {}\nroutes: nope\n');
  const r = await h.gateway.reload();
  t.equal(r.ok, false);
  t.match(h.logs.join(''), /config reload rejected; the last good config keeps serving/);
  t.equal((await call()).status, 200, 'still serving on the last good config');

  h.writeConfig({ routes: [{ prefix: '/gw/v1', provider: 'openai' }] });
  t.same(await h.gateway.reload(), { ok: true });
  t.equal((await call()).status, 404, 'the old route is gone');
  const moved = await fetch(`${h.url}/gw/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [] }) });
  t.equal(moved.status, 200, 'the new route serves');
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_config_reloads_total\{result="error"\} 1/);
  t.match(metrics, /aos_config_reloads_total\{result="ok"\} 1/);
});

t.test('reload on file change', async (t) => {
  const h = await startHarness(t, {}, { watchConfig: true });
  h.writeConfig({ routes: [{ prefix: '/watched/v1', provider: 'openai' }] });
  const deadline = Date.now() + 5000;
  let status = 0;
  while (Date.now() < deadline) {
    status = (await fetch(`${h.url}/watched/v1/models`)).status;
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(status, 200, 'the new route serves without a restart');
});
