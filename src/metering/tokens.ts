import { createRequire } from 'node:module';

type Tokenizer = typeof import('gpt-tokenizer/encoding/o200k_base');

/**
 * The tokenizer is loaded on first use: its o200k_base tables take ~60 MB of memory and ~300 ms to
 * load (one stall, once per process). With `metering.countTokens: nearLimit` (the default) nothing
 * counts until a budget comes near its limit or a stream is cut short, so a sidecar whose budgets
 * stay far from their limits never holds it.
 */
let tokenizer: Tokenizer | null = null;
const load = (): Tokenizer => (tokenizer ??= createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as Tokenizer);

/** Loads the tokenizer now (`countTokens: always` counts every call: its first call must not wait). */
export function loadTokenizer(): void {
  load();
}

/** Whether the tokenizer has been loaded (tests, and the memory it holds). */
export function tokenizerLoaded(): boolean {
  return tokenizer !== null;
}

/** Tokens per message the chat formats add around each message's text (role, separators). */
export const MESSAGE_OVERHEAD = 4;

/**
 * Counts tokens with a real BPE tokenizer (o200k_base, what current OpenAI models use; other
 * providers' tokenizers differ by a few percent, which the reconciliation to real usage absorbs).
 */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : load().countTokens(text);
}

/**
 * An upper bound of the tokens of a prompt's texts, for the cost of a length lookup: a byte-level
 * BPE token is at least one byte, so tokens never outnumber UTF-8 bytes (ASCII text: the length).
 */
export function boundTokens(texts: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < texts.length; i++) n += Buffer.byteLength(texts[i], 'utf8');
  return n;
}

/** Texts shorter than this are counted every time (cheaper than remembering them). */
const CACHE_MIN = 64;
const CACHE_MAX = 4096;

/**
 * Counts the tokens of a prompt's texts. Agents resend the same system prompt and the earlier
 * turns of a conversation with every call, so the counts of longer texts are remembered (bounded;
 * a Map lookup hashes the string, far cheaper than tokenizing it).
 */
export function createPromptCounter() {
  const cache = new Map<string, number>();
  return (texts: readonly string[]): number => {
    let n = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      if (text.length < CACHE_MIN) {
        n += countTokens(text);
        continue;
      }
      let c = cache.get(text);
      if (c === undefined) {
        c = countTokens(text);
        if (cache.size >= CACHE_MAX) cache.clear();
        cache.set(text, c);
      }
      n += c;
    }
    return n;
  };
}
