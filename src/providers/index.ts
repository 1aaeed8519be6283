import type { DialectName } from '../config/schema.js';
import type { Dialect as ErrorDialect } from '../errors.js';
import { anthropicDialect } from './anthropic.js';
import type { WireDialect } from './dialect.js';
import { openaiDialect } from './openai.js';

export const dialects: Readonly<Record<DialectName, WireDialect>> = {
  openai: openaiDialect,
  anthropic: anthropicDialect,
};

/** The header every Anthropic SDK sends: it marks a request for the dialect that claims shared paths. */
export const CLAIM_HEADER = 'anthropic-version';

/** The error dialect of a path no mount claims: Anthropic's for a marked request or a Messages path, OpenAI's otherwise. */
export function unroutedErrors(path: string, marked: boolean): ErrorDialect {
  return marked || path.includes('/messages') ? anthropicDialect.errors : openaiDialect.errors;
}
