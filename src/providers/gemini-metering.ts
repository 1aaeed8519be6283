import type { DialectMetering, MeterState, Usage } from './dialect.js';

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

/**
 * Gemini `usageMetadata`, normalized: `promptTokenCount` includes the cached tokens
 * (`cachedContentTokenCount`); tool-use prompt tokens are input too; thinking tokens
 * (`thoughtsTokenCount`) are billed as output, so they are output and reasoning.
 */
export function geminiUsage(u: unknown): Usage | null {
  const o = obj(u);
  if (o === null) return null;
  const input = num(o.promptTokenCount) + num(o.toolUsePromptTokenCount);
  const thoughts = num(o.thoughtsTokenCount);
  return {
    inputTokens: input,
    cachedInputTokens: Math.min(input, num(o.cachedContentTokenCount)),
    cacheWriteTokens: 0,
    outputTokens: num(o.candidatesTokenCount) + thoughts,
    reasoningTokens: thoughts,
    estimated: false,
  };
}

/** Texts of `parts` (text, function calls and responses as JSON). */
function partsText(parts: unknown, out: string[]): void {
  if (!Array.isArray(parts)) return;
  for (const part of parts) {
    const p = obj(part);
    if (p === null) continue;
    if (typeof p.text === 'string') out.push(p.text);
    else if (p.functionCall !== undefined) out.push(JSON.stringify(p.functionCall));
    else if (p.functionResponse !== undefined) out.push(JSON.stringify(p.functionResponse));
  }
}

/** One response (or stream chunk): its usage (each chunk carries the running total) and what its candidates say. */
function readResponse(r: unknown, into: MeterState, streamed: boolean): void {
  const o = obj(r);
  if (o === null) return;
  const usage = geminiUsage(o.usageMetadata);
  if (usage !== null) into.usage = usage;
  if (!Array.isArray(o.candidates)) return;
  for (const c of o.candidates) {
    const parts = obj(obj(c)?.content)?.parts;
    if (!Array.isArray(parts)) continue;
    for (const part of parts) {
      const p = obj(part);
      if (p === null) continue;
      const call = obj(p.functionCall);
      if (call !== null && typeof call.name === 'string') {
        if (into.toolCalls === null) into.toolCalls = [];
        into.toolCalls.push(call.name);
        if (streamed) into.text.push(JSON.stringify(call.args ?? {}));
      } else if (streamed && typeof p.text === 'string') into.text.push(p.text);
    }
  }
}

export const geminiMetering: DialectMetering = {
  metered: (operation) => operation.name === 'generateContent' || operation.name === 'streamGenerateContent',
  promptText(_operation, body, out) {
    partsText(obj(body.systemInstruction)?.parts, out);
    const contents = body.contents;
    if (typeof contents === 'string') out.push(contents);
    else if (Array.isArray(contents)) for (const c of contents) partsText(obj(c)?.parts, out);
    if (Array.isArray(body.tools) && body.tools.length > 0) out.push(JSON.stringify(body.tools));
    return Array.isArray(contents) ? contents.length : 1;
  },
  // Gemini reports usage in every response and stream chunk.
  requestUsage: () => false,
  readJson(_operation, body, into) {
    // `:streamGenerateContent` without `alt=sse` answers a JSON array of chunks.
    if (Array.isArray(body)) for (const chunk of body) readResponse(chunk, into, true);
    else readResponse(body, into, false);
  },
  readEvent(_operation, event, data, into) {
    readResponse(data, into, true);
    return event.raw;
  },
};
