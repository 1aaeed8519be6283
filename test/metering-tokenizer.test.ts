/**
 * The tokenizer is loaded on first need (src/metering/tokens.ts): a gateway whose budgets are far
 * from their limits serves calls without it (its tables take ~60 MB); the first call that comes
 * near a limit loads it and is counted exactly. Its own file: the gateway runs in this process, so
 * nothing else here may count tokens through src/metering/tokens.ts first.
 */
import { fileURLToPath } from 'node:url';
// The same tokenizer through its ESM entry: a module instance of its own, so counting here to size
// the budget does not load the gateway's (which goes through the CommonJS entry).
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import t from 'tap';
import { loadPrices, worstCase } from '../src/metering/prices.js';
import { toNano } from '../src/metering/store.js';
import { MESSAGE_OVERHEAD, tokenizerLoaded } from '../src/metering/tokens.js';
import { startHarness } from './helpers.js';

const MINI = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url))).price('gpt-4o-mini')!;
const PROMPT = 'Summarise the nightly ingestion report for the payments team in two sentences, please.';
const MAX_TOKENS = 8;

t.test('calls far from every limit never load the tokenizer; the first near a limit does, and is counted exactly', async (t) => {
  // The tight budget fits the call on its exact token count, not on the byte bound of its prompt:
  // the call is served only if the gateway counted it.
  const exact = toNano(worstCase(countTokens(PROMPT) + MESSAGE_OVERHEAD, MAX_TOKENS, MINI));
  const bound = toNano(worstCase(Buffer.byteLength(PROMPT) + MESSAGE_OVERHEAD, MAX_TOKENS, MINI));
  t.ok(exact < bound, `the exact count's worst case (${exact} nano-USD) is below the bound's (${bound})`);
  const registry = `
templates:
  roomy: { version: 1, providers: [openai], models: ["*"], budget: { daily_usd: 1000 } }
  tight: { version: 1, providers: [openai], models: ["*"], budget: { daily_usd: ${(exact + bound) / 2 / 1e9} } }
agents:
  - { id: far, team: a, template: roomy }
  - { id: near, team: b, template: tight }
`;
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' } }, { files: { 'agents.yaml': registry } });
  const client = async (agent: string) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 }), maxRetries: 0 });

  const far = await client('far');
  for (let i = 0; i < 5; i++) await far.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: `${PROMPT} (${i})` }] });
  t.notOk(tokenizerLoaded(), 'five calls far from their budget: the tokenizer was never loaded');

  const near = await client('near');
  const r = await near.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: PROMPT }] });
  t.ok(r.choices.length > 0, 'the call that fits only on its exact count was served');
  t.ok(tokenizerLoaded(), 'the call near its budget loaded the tokenizer');
});
