import { countTokens as count } from 'gpt-tokenizer/encoding/o200k_base';

/** Tokens per message the chat formats add around each message's text (role, separators). */
export const MESSAGE_OVERHEAD = 4;

/**
 * Counts tokens with a real BPE tokenizer (o200k_base, what current OpenAI models use; other
 * providers' tokenizers differ by a few percent, which the reconciliation to real usage absorbs).
 */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : count(text);
}
