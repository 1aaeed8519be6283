import type { DialectMetering, MeterState, Operation, Usage } from './dialect.js';

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

/**
 * OpenAI usage, normalized. `prompt_tokens` / `input_tokens` already include cached tokens, which
 * is what Usage.inputTokens means; OpenAI reports no cache writes.
 */
export function openaiUsage(u: unknown): Usage | null {
  const o = obj(u);
  if (o === null) return null;
  const input = num(o.prompt_tokens) || num(o.input_tokens);
  const inputDetails = obj(o.prompt_tokens_details) ?? obj(o.input_tokens_details);
  const outputDetails = obj(o.completion_tokens_details) ?? obj(o.output_tokens_details);
  return {
    inputTokens: input,
    cachedInputTokens: Math.min(input, num(inputDetails?.cached_tokens)),
    cacheWriteTokens: 0,
    outputTokens: num(o.completion_tokens) || num(o.output_tokens),
    reasoningTokens: num(outputDetails?.reasoning_tokens),
    estimated: false,
  };
}

/**
 * Realtime usage (`response.done`'s `response.usage`), normalized: `input_tokens` includes cached
 * ones; `input_token_details` {cached_tokens, audio_tokens, cached_tokens_details.audio_tokens} and
 * `output_token_details.audio_tokens` give the audio shares, priced at the audio rates.
 */
export function realtimeUsage(u: unknown): Usage | null {
  const o = obj(u);
  if (o === null) return null;
  const input = num(o.input_tokens);
  const output = num(o.output_tokens);
  const inputDetails = obj(o.input_token_details);
  const cached = Math.min(input, num(inputDetails?.cached_tokens));
  const audioIn = Math.min(input, num(inputDetails?.audio_tokens));
  return {
    inputTokens: input,
    cachedInputTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: output,
    reasoningTokens: 0,
    estimated: false,
    audioInputTokens: audioIn,
    cachedAudioInputTokens: Math.min(cached, audioIn, num(obj(inputDetails?.cached_tokens_details)?.audio_tokens)),
    audioOutputTokens: Math.min(output, num(obj(o.output_token_details)?.audio_tokens)),
  };
}

const addTool = (into: MeterState, name: unknown) => {
  if (typeof name !== 'string' || name === '') return;
  if (into.toolCalls === null) into.toolCalls = [];
  into.toolCalls.push(name);
};

/** The text of message content: a string, or the text of its parts. */
function contentText(content: unknown, out: string[]): void {
  if (typeof content === 'string') out.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === 'string') out.push(part);
      else {
        const p = obj(part);
        if (p !== null && typeof p.text === 'string') out.push(p.text);
      }
    }
  }
}

function messagesText(messages: unknown, out: string[]): void {
  if (!Array.isArray(messages)) return;
  for (const m of messages) {
    const msg = obj(m);
    if (msg === null) continue;
    contentText(msg.content, out);
    if (Array.isArray(msg.tool_calls)) {
      for (const c of msg.tool_calls) {
        const f = obj(obj(c)?.function);
        if (typeof f?.arguments === 'string') out.push(f.arguments);
      }
    }
  }
}

/** Responses API input: a string, or items (messages with content, function call outputs). */
function responsesInput(input: unknown, out: string[]): void {
  if (typeof input === 'string') return void out.push(input);
  if (!Array.isArray(input)) return;
  for (const item of input) {
    const it = obj(item);
    if (it === null) continue;
    contentText(it.content, out);
    if (typeof it.output === 'string') out.push(it.output);
    if (typeof it.arguments === 'string') out.push(it.arguments);
  }
}

const USAGE_NULL = /,"usage":null/g;
const RESPONSE_DONE = Buffer.from('"response.done"');

export const openaiMetering: DialectMetering = {
  metered(operation: Operation) {
    const n = operation.name;
    return n === 'chat.completions' || n === 'responses' || n === 'embeddings' || n === 'completions' || n === 'realtime';
  },
  promptText(operation, body, out) {
    // A session has no request body: its prompt comes later, in events; each response is reserved as it comes.
    if (operation.upgrade === true) return 0;
    switch (operation.name) {
      case 'chat.completions':
        messagesText(body.messages, out);
        break;
      case 'responses':
        if (typeof body.instructions === 'string') out.push(body.instructions);
        responsesInput(body.input, out);
        break;
      case 'embeddings':
      case 'completions': {
        const input = operation.name === 'embeddings' ? body.input : body.prompt;
        if (typeof input === 'string') out.push(input);
        else if (Array.isArray(input)) for (const s of input) if (typeof s === 'string') out.push(s);
        break;
      }
    }
    // Tool definitions are sent to the model as tokens too.
    if (Array.isArray(body.tools) && body.tools.length > 0) out.push(JSON.stringify(body.tools));
    return Array.isArray(body.messages) ? body.messages.length : 1;
  },
  requestUsage(operation, body) {
    if ((operation.name !== 'chat.completions' && operation.name !== 'completions') || body.stream !== true) return false;
    const options = obj(body.stream_options);
    if (options?.include_usage === true) return false;
    body.stream_options = { ...options, include_usage: true };
    return true;
  },
  readJson(operation, body, into) {
    const b = obj(body);
    if (b === null) return;
    const usage = openaiUsage(b.usage);
    if (usage !== null) into.usage = usage;
    if (operation.name === 'chat.completions' && Array.isArray(b.choices)) {
      for (const c of b.choices) {
        const calls = obj(obj(c)?.message)?.tool_calls;
        if (Array.isArray(calls)) for (const call of calls) addTool(into, obj(obj(call)?.function)?.name);
      }
    } else if (operation.name === 'responses' && Array.isArray(b.output)) {
      for (const item of b.output) {
        const it = obj(item);
        if (it?.type === 'function_call') addTool(into, it.name);
      }
    }
  },
  sessionUsage(message) {
    // Audio deltas are most of a session's bytes: only a message naming `"response.done"` is parsed
    // (in a JSON string the name would be escaped, `\"response.done\"`, and not match).
    if (message.indexOf(RESPONSE_DONE) === -1) return null;
    let event: Json | null;
    try {
      event = obj(JSON.parse(message.toString('utf8')));
    } catch {
      return null;
    }
    return event?.type === 'response.done' ? realtimeUsage(obj(event.response)?.usage) : null;
  },
  readEvent(operation, event, data, into, injected) {
    const d = obj(data);
    if (d === null) return event.raw;
    if (operation.name === 'responses') {
      const type = d.type;
      if (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta' || type === 'response.refusal.delta') {
        if (typeof d.delta === 'string') into.text.push(d.delta);
      } else if (type === 'response.output_item.added') {
        const item = obj(d.item);
        if (item?.type === 'function_call') addTool(into, item.name);
      } else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
        const usage = openaiUsage(obj(d.response)?.usage);
        if (usage !== null) into.usage = usage;
      }
      return event.raw;
    }
    // Chat (and legacy) completion chunks.
    const choices = d.choices;
    if (Array.isArray(choices)) {
      for (const c of choices) {
        const ch = obj(c);
        if (ch === null) continue;
        if (typeof ch.text === 'string') into.text.push(ch.text);
        const delta = obj(ch.delta);
        if (delta === null) continue;
        if (typeof delta.content === 'string') into.text.push(delta.content);
        if (Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls) {
            const f = obj(obj(call)?.function);
            if (f === null) continue;
            addTool(into, f.name);
            if (typeof f.arguments === 'string') into.text.push(f.arguments);
          }
        }
      }
    }
    const usage = d.usage === null || d.usage === undefined ? null : openaiUsage(d.usage);
    if (usage !== null) {
      into.usage = usage;
      // The usage-only chunk the gateway asked for: the client did not, so it never sees it.
      if (injected && Array.isArray(choices) && choices.length === 0) return null;
    }
    // With include_usage every other chunk carries `"usage":null`; without it, none does.
    return injected && d.usage === null ? event.raw.replace(USAGE_NULL, '') : event.raw;
  },
};
