import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CONFIG_ERRORS, ConfigError, type ConfigErrorCode } from '../src/config/config-error.js';
import { loadConfig } from '../src/config/load.js';
import { loadYamlFile } from '../src/config/yaml-file.js';
import { readKeyFile } from '../src/identity/key-files.js';
import { loadRegistry } from '../src/identity/registry.js';
import { loadPrices } from '../src/metering/prices.js';

const codeOf = (fn: () => unknown): ConfigErrorCode | 'none' => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.code;
    throw err;
  }
  return 'none';
};

t.test('every configuration file fails with a ConfigError whose code tells the cases apart', async (t) => {
  const dir = t.testdir({
    'broken.yaml': 'providers: [\n',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
    'env.yaml': 'templates: { a: { version: "${AOS_TEST_UNSET}" } }\n',
    'invalid.yaml': 'templates: {}\n',
    'not-json.jwk': '{ nope',
    'empty.pem': 'hello',
    folder: {},
  });
  const f = (name: string) => join(dir, name);
  const cases: [string, () => unknown, ConfigErrorCode, RegExp][] = [
    ['gateway config: missing', () => loadConfig(f('nope.yaml'), {}), 'AOS_ERR_CONFIG_NOT_FOUND', /nope\.yaml: cannot read the gateway config: ENOENT/],
    ['gateway config: a directory', () => loadConfig(f('folder'), {}), 'AOS_ERR_CONFIG_UNREADABLE', /folder: cannot read the gateway config: EISDIR/],
    ['gateway config: broken YAML', () => loadConfig(f('broken.yaml'), {}), 'AOS_ERR_CONFIG_SYNTAX', /broken\.yaml:2:1: invalid YAML/],
    ['agent registry: missing', () => loadRegistry(f('agents.yaml'), {}), 'AOS_ERR_CONFIG_NOT_FOUND', /agents\.yaml: cannot read the agent registry: ENOENT/],
    ['agent registry: unset variable', () => loadRegistry(f('env.yaml'), {}), 'AOS_ERR_CONFIG_ENV_UNSET', /environment variable AOS_TEST_UNSET is not set/],
    ['agent registry: invalid', () => loadRegistry(f('invalid.yaml'), {}), 'AOS_ERR_CONFIG_INVALID', /templates: expected at least 1 key/],
    ['price table: missing', () => loadPrices(f('prices.yaml'), {}), 'AOS_ERR_CONFIG_NOT_FOUND', /prices\.yaml: cannot read the price table: ENOENT/],
    ['price table: invalid', () => loadPrices(f('invalid.yaml'), {}), 'AOS_ERR_CONFIG_INVALID', /unknown key/],
    ['key file: missing', () => readKeyFile(f('k.pem')), 'AOS_ERR_CONFIG_NOT_FOUND', /k\.pem: cannot read the key file: ENOENT/],
    ['key file: not JSON', () => readKeyFile(f('not-json.jwk')), 'AOS_ERR_CONFIG_SYNTAX', /not-json\.jwk: not valid JSON/],
    ['key file: no key', () => readKeyFile(f('empty.pem')), 'AOS_ERR_CONFIG_INVALID', /empty\.pem: no public key found/],
  ];
  for (const [name, fn, code, message] of cases) {
    t.equal(codeOf(fn), code, name);
    t.throws(fn, { message }, name);
  }
  t.same(Object.keys(CONFIG_ERRORS).sort(), [...new Set(cases.map((c) => c[2]))].sort(), 'every code is reachable');
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: names the config's ${VAR} env substitution syntax
t.test('one loader: defaults filled, types coerced, ${ENV} substituted, positions in errors', async (t) => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: tests the config's ${VAR} env substitution syntax
  const dir = t.testdir({ 'x.yaml': 'n: ${N}\nlist: [a]\n' });
  const schema = {
    type: 'object',
    additionalProperties: false,
    properties: { n: { type: 'integer' }, list: { type: 'array', items: { type: 'string' } }, d: { type: 'string', default: 'x' } },
  };
  t.same(loadYamlFile(join(dir, 'x.yaml'), schema, 'test file', { N: '7' }).data, { n: 7, list: ['a'], d: 'x' });
  writeFileSync(join(dir, 'x.yaml'), 'n: seven\n');
  t.throws(() => loadYamlFile(join(dir, 'x.yaml'), schema, 'test file', {}), { message: /x\.yaml:1:4: n: expected integer, got "seven"/, code: 'AOS_ERR_CONFIG_INVALID' });
});

t.test('config/ is the lowest layer: it imports nothing from the rest of src/ but the error registry', async (t) => {
  const dir = new URL('../src/config/', import.meta.url);
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(new URL(name, dir), 'utf8');
    const upward = [...text.matchAll(/from '(\.\.\/[^']+)'/g)].map((m) => m[1]).filter((p) => p !== '../errors.js');
    t.same(upward, [], name);
  }
});
