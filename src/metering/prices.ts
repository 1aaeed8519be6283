import { ConfigError } from '../config/config-error.js';
import { type ModelPriceFile, type PriceTableFile, priceTableSchema } from '../config/prices-schema.js';
import { loadYamlFile } from '../config/yaml-file.js';
import type { Usage } from '../providers/dialect.js';

/** USD per 1M tokens. */
export interface Price {
  input: number;
  cachedInput: number;
  cacheWrite: number;
  output: number;
  /** Audio tokens (the Realtime API); the text rates where the table gives none. */
  audioInput: number;
  cachedAudioInput: number;
  audioOutput: number;
}

export interface PriceTable {
  readonly file: string;
  /** The price of a model (the provider's own rates first), or null when it is not listed and unknown models are denied. */
  price(model: string | null, provider?: string): Price | null;
  /** True when the model is listed (not priced by the `unknown` default). */
  listed(model: string | null, provider?: string): boolean;
}

const toPrice = (p: ModelPriceFile): Price => {
  const cachedInput = p.cached_input ?? p.input;
  return {
    input: p.input,
    cachedInput,
    cacheWrite: p.cache_write ?? p.input,
    output: p.output,
    audioInput: p.audio_input ?? p.input,
    cachedAudioInput: p.cached_audio_input ?? cachedInput,
    audioOutput: p.audio_output ?? p.output,
  };
};

/** Loads and validates the price table (config/prices.yaml). Throws ConfigError. */
export function loadPrices(file: string, env: NodeJS.ProcessEnv = process.env): PriceTable {
  const { data: raw, where } = loadYamlFile<PriceTableFile>(file, priceTableSchema, 'price table', env);
  const unknown = raw.unknown;
  if (unknown.action === 'price' && (unknown.input === undefined || unknown.output === undefined)) {
    throw new ConfigError(file, [`${where(['unknown'])}: action price needs input and output rates`]);
  }
  const global = matcher(raw.models);
  const byProvider = new Map(Object.entries(raw.per_provider).map(([name, models]) => [name, matcher(models)] as const));
  const fallback = unknown.action === 'price' && unknown.input !== undefined && unknown.output !== undefined ? toPrice({ ...unknown, input: unknown.input, output: unknown.output }) : null;
  const lookup = (model: string, provider: string | undefined): Price | undefined => (provider === undefined ? undefined : byProvider.get(provider)?.(model)) ?? global(model);
  return {
    file,
    price: (model, provider) => (model === null ? fallback : (lookup(model, provider) ?? fallback)),
    listed: (model, provider) => model !== null && lookup(model, provider) !== undefined,
  };
}

/** Exact keys and `*` prefixes (the longest wins), memoized: a handful of models are called over and over (bounded by the table's size + 1000). */
function matcher(models: Record<string, ModelPriceFile>): (model: string) => Price | undefined {
  const exact = new Map<string, Price>();
  const prefixes: [string, Price][] = [];
  for (const [name, p] of Object.entries(models)) {
    if (name.endsWith('*')) prefixes.push([name.slice(0, -1), toPrice(p)]);
    else exact.set(name, toPrice(p));
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  const memo = new Map<string, Price | undefined>();
  return (model) => {
    if (memo.has(model)) return memo.get(model);
    let p = exact.get(model);
    if (p === undefined)
      for (const [prefix, price] of prefixes)
        if (model.startsWith(prefix)) {
          p = price;
          break;
        }
    if (memo.size < 1000) memo.set(model, p);
    return p;
  };
}

/** The cost of a usage in USD: uncached input, cache reads, cache writes and output at their rates; audio at the audio rates. */
export function costOf(usage: Usage, price: Price): number {
  const text =
    (Math.max(0, usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens) * price.input +
      usage.cachedInputTokens * price.cachedInput +
      usage.cacheWriteTokens * price.cacheWrite +
      usage.outputTokens * price.output) /
    1e6;
  const audioIn = usage.audioInputTokens;
  const audioOut = usage.audioOutputTokens;
  if (audioIn === undefined && audioOut === undefined) return text;
  // Audio tokens are among the input (cached) and output tokens above, at the text rates: add the difference.
  const cachedAudio = usage.cachedAudioInputTokens ?? 0;
  const plainAudio = Math.max(0, (audioIn ?? 0) - cachedAudio);
  return text + (plainAudio * (price.audioInput - price.input) + cachedAudio * (price.cachedAudioInput - price.cachedInput) + (audioOut ?? 0) * (price.audioOutput - price.output)) / 1e6;
}

/** Worst-case cost before the call: every input token uncached, every allowed output token used (at the dearest rates: audio where dearer). */
export function worstCase(inputTokens: number, maxOutputTokens: number, price: Price): number {
  return (inputTokens * Math.max(price.input, price.cacheWrite, price.audioInput) + maxOutputTokens * Math.max(price.output, price.audioOutput)) / 1e6;
}
