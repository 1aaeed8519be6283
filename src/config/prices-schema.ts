/**
 * The price table (config/prices.yaml), written once: the JSON Schema it is validated against
 * (TypeBox), the types of the file derived from it, and its section of docs/configuration.md.
 * src/metering/prices.ts loads it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Dict, Enum, fileSchema, Obj } from './schema-builders.js';

/** USD per 1M tokens. */
const Rate = (description: string) => Type.Number({ description, minimum: 0 });

const rates = {
  input: Rate('USD per 1M uncached input tokens.'),
  cached_input: Type.Optional(Rate("USD per 1M input tokens read from the provider's prompt cache (default: input).")),
  cache_write: Type.Optional(Rate('USD per 1M input tokens written to the prompt cache (Anthropic; default: input).')),
  output: Rate('USD per 1M output tokens, reasoning included.'),
  audio_input: Type.Optional(Rate('USD per 1M audio input tokens (the Realtime API; default: input).')),
  cached_audio_input: Type.Optional(Rate('USD per 1M audio input tokens read from the prompt cache (default: cached_input).')),
  audio_output: Type.Optional(Rate('USD per 1M audio output tokens (default: output).')),
};

const ModelPriceSchema = Obj(rates, { description: 'The rates of a model.' });

const UnknownModelSchema = Obj(
  {
    action: Enum(['price', 'deny'], { description: '`price`: at the rates below (input and output required). `deny`: 403 `aos_model_unpriced`.', default: 'deny' }),
    input: Type.Optional(rates.input),
    cached_input: rates.cached_input,
    cache_write: rates.cache_write,
    output: Type.Optional(rates.output),
    audio_input: rates.audio_input,
    cached_audio_input: rates.cached_audio_input,
    audio_output: rates.audio_output,
  },
  { description: 'A model that matches no key of `models`: priced at these rates, or denied.', default: { action: 'deny' } },
);

export const PriceTableSchema = Obj(
  {
    currency: Enum(['USD'], { description: 'The currency of every rate.', default: 'USD' }),
    models: Dict(ModelPriceSchema, {
      description: 'Rates by model name: a key matches a model exactly, or as a prefix when it ends in `*` (the longest wins), so dated snapshots find their family.',
      default: {},
    }),
    per_provider: Dict(Dict(ModelPriceSchema, { description: "Rates by model name for this provider's calls, matched like `models`." }), {
      description:
        'Rates that apply to one provider only (a key of `providers` in the gateway config), looked up before `models`: a self-hosted server at zero or internal chargeback rates, a vendor whose model names another one shares.',
      default: {},
    }),
    unknown: UnknownModelSchema,
  },
  { description: 'The price table (config/prices.yaml): USD per 1M tokens, by model.' },
);

/** The JSON Schema a price table file is validated against (keys with a default not required). */
export const priceTableSchema = fileSchema(PriceTableSchema);

// ---- the types, derived -----------------------------------------------------------------------

/** The price table file, validated (defaults filled in). */
export type PriceTableFile = Static<typeof PriceTableSchema>;
/** The rates of a model as written in the file (snake_case, cache rates optional). */
export type ModelPriceFile = Static<typeof ModelPriceSchema>;
