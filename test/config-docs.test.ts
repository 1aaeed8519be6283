import { readFileSync } from 'node:fs';
import t from 'tap';
import { agentRegistrySchema } from '../src/config/agents-schema.js';
import { renderConfigDocs } from '../src/config/docs.js';
import { priceTableSchema } from '../src/config/prices-schema.js';
import { configSchema } from '../src/config/schema.js';
import type { JsonSchema } from '../src/config/schema-builders.js';

t.test('docs/configuration.md is what the schema renders (run `npm run docs:config` after changing the schema)', async (t) => {
  const committed = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  t.equal(committed, renderConfigDocs(), 'docs/configuration.md is stale: run npm run docs:config');
});

const files: [string, JsonSchema][] = [
  ['config/aos.yaml', configSchema],
  ['config/agents.yaml', agentRegistrySchema],
  ['config/prices.yaml', priceTableSchema],
];

t.test('every key of every file schema has a description (it becomes the docs)', async (t) => {
  const missing: string[] = [];
  const walk = (schema: JsonSchema, path: string) => {
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      // A discriminator (`kind: http`) is described by its branch.
      if (typeof child.description !== 'string' && child.const === undefined) missing.push(`${path}${key}`);
      walk(child, `${path}${key}.`);
    }
    for (const sub of [schema.items, schema.additionalProperties, schema.then, schema.else]) {
      if (typeof sub === 'object' && sub !== null && !Array.isArray(sub)) walk(sub as JsonSchema, path);
    }
  };
  for (const [file, schema] of files) walk(schema, `${file}: `);
  t.same(missing, []);
});
