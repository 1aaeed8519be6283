import type { Operation } from './dialect.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const data = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const event = (type: string, o: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;

/**
 * An OpenAI chat completion (a whole JSON answer) as the stream of chunks the API would have sent:
 * a role chunk, per choice its content and tool calls in one delta, a finish chunk, the usage chunk
 * when the request asked for it (`stream_options.include_usage`), `[DONE]`. Null for other operations.
 */
export function openaiReplay(operation: Operation, answer: unknown, request: Json): string | null {
  if (operation.name !== 'chat.completions' || !isObj(answer) || !Array.isArray(answer.choices)) return null;
  const base = { id: answer.id, object: 'chat.completion.chunk', created: answer.created, model: answer.model, system_fingerprint: answer.system_fingerprint ?? null };
  const withUsage = isObj(request.stream_options) && request.stream_options.include_usage === true;
  const u = withUsage ? { usage: null } : {};
  let out = '';
  for (const c of answer.choices as unknown[]) {
    if (!isObj(c) || !isObj(c.message)) continue;
    const m = c.message;
    const delta: Json = { role: m.role ?? 'assistant', content: m.content ?? null };
    if (m.refusal != null) delta.refusal = m.refusal;
    if (Array.isArray(m.tool_calls)) delta.tool_calls = m.tool_calls.map((t, index) => ({ index, ...(t as Json) }));
    out += data({ ...base, choices: [{ index: c.index ?? 0, delta, logprobs: null, finish_reason: null }], ...u });
    out += data({ ...base, choices: [{ index: c.index ?? 0, delta: {}, logprobs: null, finish_reason: c.finish_reason ?? 'stop' }], ...u });
  }
  if (withUsage && isObj(answer.usage)) out += data({ ...base, choices: [], usage: answer.usage });
  return `${out}data: [DONE]\n\n`;
}

/**
 * An Anthropic message (a whole JSON answer) as its event stream: message_start, each content block
 * (start, one delta with its whole text or input, stop), message_delta with the stop reason and
 * output tokens, message_stop. Null for other operations.
 */
export function anthropicReplay(operation: Operation, answer: unknown): string | null {
  if (operation.name !== 'messages' || !isObj(answer) || !Array.isArray(answer.content)) return null;
  const usage = isObj(answer.usage) ? answer.usage : {};
  const { content, stop_reason, stop_sequence, ...rest } = answer;
  let out = event('message_start', { message: { ...rest, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  (content as unknown[]).forEach((b, index) => {
    if (!isObj(b)) return;
    if (b.type === 'text') {
      out += event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: b.text ?? '' } });
    } else if (b.type === 'tool_use') {
      out += event('content_block_start', { index, content_block: { ...b, input: {} } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input ?? {}) } });
    } else if (b.type === 'thinking') {
      out += event('content_block_start', { index, content_block: { type: 'thinking', thinking: '' } });
      out += event('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: b.thinking ?? '' } });
      if (typeof b.signature === 'string') out += event('content_block_delta', { index, delta: { type: 'signature_delta', signature: b.signature } });
    } else {
      out += event('content_block_start', { index, content_block: b });
    }
    out += event('content_block_stop', { index });
  });
  out += event('message_delta', { delta: { stop_reason: stop_reason ?? 'end_turn', stop_sequence: stop_sequence ?? null }, usage: { output_tokens: usage.output_tokens ?? 0 } });
  out += event('message_stop', {});
  return out;
}
