import type { DialectName } from '../config/schema.js';
import { anthropicDialect } from './anthropic.js';
import type { WireDialect } from './dialect.js';
import { openaiDialect } from './openai.js';

export const dialects: Readonly<Record<DialectName, WireDialect>> = {
  openai: openaiDialect,
  anthropic: anthropicDialect,
};
