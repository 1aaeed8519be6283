import type { DialectMetering, MeterState, Usage } from './dialect.js';

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

/**
 * Anthropic usage, normalized: Anthropic's `input_tokens` excludes cache reads and writes, so the
 * normalized input is input + cache read + cache creation (what OpenAI's prompt_tokens means).
 * `prev` carries what an earlier stream event said: a later one's fields replace it (running
 * totals, never added).
 */
export function anthropicUsage(u: unknown, prev: Usage | null = null): Usage | null {
  const o = obj(u);
  if (o === null) return prev;
  const pick = (key: string, before: number) => (typeof o[key] === 'number' ? num(o[key]) : before);
  const prevRead = prev?.cachedInputTokens ?? 0;
  const prevWrite = prev?.cacheWriteTokens ?? 0;
  const prevPlain = prev === null ? 0 : prev.inputTokens - prevRead - prevWrite;
  const plain = pick('input_tokens', prevPlain);
  const read = pick('cache_read_input_tokens', prevRead);
  const write = pick('cache_creation_input_tokens', prevWrite);
  return {
    inputTokens: plain + read + write,
    cachedInputTokens: read,
    cacheWriteTokens: write,
    outputTokens: pick('output_tokens', prev?.outputTokens ?? 0),
    reasoningTokens: 0,
    estimated: false,
  };
}

function contentText(content: unknown, out: string[]): void {
  if (typeof content === 'string') return void out.push(content);
  if (!Array.isArray(content)) return;
  for (const block of content) {
    const b = obj(block);
    if (b === null) continue;
    if (typeof b.text === 'string') out.push(b.text);
    else if (b.type === 'tool_use' && b.input !== undefined) out.push(JSON.stringify(b.input));
    else if (b.type === 'tool_result') contentText(b.content, out);
  }
}

export const anthropicMetering: DialectMetering = {
  metered: (operation) => operation.name === 'messages',
  promptText(_operation, body, out) {
    contentText(body.system, out);
    if (Array.isArray(body.messages)) for (const m of body.messages) contentText(obj(m)?.content, out);
    if (Array.isArray(body.tools) && body.tools.length > 0) out.push(JSON.stringify(body.tools));
    return Array.isArray(body.messages) ? body.messages.length : 1;
  },
  // Anthropic streams always report usage (message_start, message_delta).
  requestUsage: () => false,
  readJson(_operation, body, into) {
    const b = obj(body);
    if (b === null) return;
    const usage = anthropicUsage(b.usage);
    if (usage !== null) into.usage = usage;
    if (Array.isArray(b.content)) {
      for (const block of b.content) {
        const c = obj(block);
        if (c?.type === 'tool_use' && typeof c.name === 'string') addToolCall(into, c.name);
      }
    }
  },
  readEvent(_operation, event, data, into) {
    const d = obj(data);
    if (d === null) return event.raw;
    switch (d.type) {
      case 'message_start':
        into.usage = anthropicUsage(obj(d.message)?.usage, into.usage);
        break;
      case 'message_delta':
        into.usage = anthropicUsage(d.usage, into.usage);
        break;
      case 'content_block_start': {
        const block = obj(d.content_block);
        if (block?.type === 'tool_use' && typeof block.name === 'string') addToolCall(into, block.name);
        break;
      }
      case 'content_block_delta': {
        const delta = obj(d.delta);
        if (delta === null) break;
        if (typeof delta.text === 'string') into.text.push(delta.text);
        else if (typeof delta.partial_json === 'string') into.text.push(delta.partial_json);
        else if (typeof delta.thinking === 'string') into.text.push(delta.thinking);
        break;
      }
    }
    return event.raw;
  },
};

function addToolCall(into: MeterState, name: string): void {
  if (into.toolCalls === null) into.toolCalls = [];
  into.toolCalls.push(name);
}
