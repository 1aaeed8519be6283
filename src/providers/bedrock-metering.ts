import { anthropicMetering } from './anthropic-metering.js';
import type { DialectMetering, MeterState, Operation, StreamMessage, Usage } from './dialect.js';

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Json | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);

// The operations are compared by name and by the model kind bedrock.ts picked (kept apart by identity there).
const isConverse = (o: Operation) => o.name === 'converse' || o.name === 'converse-stream';
const isInvoke = (o: Operation) => o.name === 'invoke' || o.name === 'invoke-with-response-stream';

/**
 * Converse usage, normalized: `inputTokens` excludes cache reads and writes (as Anthropic's does),
 * so the normalized input adds them back.
 */
export function converseUsage(u: unknown): Usage | null {
  const o = obj(u);
  if (o === null) return null;
  const read = num(o.cacheReadInputTokens);
  const write = num(o.cacheWriteInputTokens);
  return { inputTokens: num(o.inputTokens) + read + write, cachedInputTokens: read, cacheWriteTokens: write, outputTokens: num(o.outputTokens), reasoningTokens: 0, estimated: false };
}

/** Bedrock's own count of an InvokeModel call: response headers, or `amazon-bedrock-invocationMetrics` in a stream's last chunk. */
function countsUsage(input: unknown, output: unknown, read: unknown = 0, write: unknown = 0): Usage | null {
  const i = typeof input === 'string' ? Number(input) : input;
  const o = typeof output === 'string' ? Number(output) : output;
  if (typeof i !== 'number' || typeof o !== 'number' || !Number.isFinite(i) || !Number.isFinite(o)) return null;
  const r = num(typeof read === 'string' ? Number(read) : read);
  const w = num(typeof write === 'string' ? Number(write) : write);
  return { inputTokens: num(i) + r + w, cachedInputTokens: r, cacheWriteTokens: w, outputTokens: num(o), reasoningTokens: 0, estimated: false };
}

function addTool(into: MeterState, name: unknown): void {
  if (typeof name !== 'string' || name === '') return;
  if (into.toolCalls === null) into.toolCalls = [];
  into.toolCalls.push(name);
}

/** Converse content blocks: text, tool uses and results, as text a tokenizer can count. */
function blocksText(blocks: unknown, out: string[]): void {
  if (!Array.isArray(blocks)) return;
  for (const block of blocks) {
    const b = obj(block);
    if (b === null) continue;
    if (typeof b.text === 'string') out.push(b.text);
    else if (b.toolUse !== undefined) out.push(JSON.stringify(obj(b.toolUse)?.input ?? {}));
    else if (b.toolResult !== undefined) blocksText(obj(b.toolResult)?.content, out);
  }
}

const NO_EVENT = { raw: '', event: null, data: '' };

export const bedrockMetering: DialectMetering = {
  metered: (operation) => isConverse(operation) || isInvoke(operation),
  promptText(operation, body, out) {
    if (isConverse(operation)) {
      blocksText(body.system, out);
      const messages = body.messages;
      if (Array.isArray(messages)) for (const m of messages) blocksText(obj(m)?.content, out);
      if (body.toolConfig !== undefined) out.push(JSON.stringify(body.toolConfig));
      return Array.isArray(messages) ? messages.length : 1;
    }
    if (typeof body.anthropic_version === 'string' || Array.isArray(body.messages)) return anthropicMetering.promptText(operation, body, out);
    // Other models' bodies: their prompt field (Llama, Mistral `prompt`; Titan `inputText`).
    for (const key of ['prompt', 'inputText']) if (typeof body[key] === 'string') out.push(body[key] as string);
    return 1;
  },
  requestUsage: () => false,
  readHeaders(_operation, headers, into) {
    const usage = countsUsage(
      headers['x-amzn-bedrock-input-token-count'],
      headers['x-amzn-bedrock-output-token-count'],
      headers['x-amzn-bedrock-cache-read-input-token-count'],
      headers['x-amzn-bedrock-cache-write-input-token-count'],
    );
    if (usage !== null) into.usage = usage;
  },
  readJson(operation, body, into) {
    const b = obj(body);
    if (b === null) return;
    if (isConverse(operation)) {
      const usage = converseUsage(b.usage);
      if (usage !== null) into.usage = usage;
      const content = obj(obj(b.output)?.message)?.content;
      if (Array.isArray(content)) for (const c of content) addTool(into, obj(obj(c)?.toolUse)?.name);
      return;
    }
    // InvokeModel: an Anthropic body's usage (with its cache fields) wins over the headers' counts.
    if (b.type === 'message') anthropicMetering.readJson(operation, b, into);
  },
  readEvent: (_operation, event) => event.raw,
  readMessage(operation, message: StreamMessage, into) {
    if (message.headers[':message-type'] !== 'event') return;
    const type = message.headers[':event-type'];
    let data: Json | null;
    try {
      data = obj(JSON.parse(Buffer.from(message.payload).toString('utf8')));
    } catch {
      return;
    }
    if (data === null) return;
    if (isConverse(operation)) {
      switch (type) {
        case 'metadata': {
          const usage = converseUsage(data.usage);
          if (usage !== null) into.usage = usage;
          break;
        }
        case 'contentBlockStart':
          addTool(into, obj(obj(data.start)?.toolUse)?.name);
          break;
        case 'contentBlockDelta': {
          const delta = obj(data.delta);
          if (typeof delta?.text === 'string') into.text.push(delta.text);
          else if (typeof obj(delta?.toolUse)?.input === 'string') into.text.push(obj(delta?.toolUse)?.input as string);
          else if (typeof obj(delta?.reasoningContent)?.text === 'string') into.text.push(obj(delta?.reasoningContent)?.text as string);
          break;
        }
      }
      return;
    }
    // InvokeModelWithResponseStream: each `chunk` carries the model's own stream event, base64.
    if (type !== 'chunk' || typeof data.bytes !== 'string') return;
    let chunk: Json | null;
    try {
      chunk = obj(JSON.parse(Buffer.from(data.bytes, 'base64').toString('utf8')));
    } catch {
      return;
    }
    if (chunk === null) return;
    if (typeof chunk.type === 'string') anthropicMetering.readEvent(operation, NO_EVENT, chunk, into, false);
    // The last chunk of any model carries Bedrock's own counts: used when the model's events gave none.
    const metrics = obj(chunk['amazon-bedrock-invocationMetrics']);
    if (metrics !== null && into.usage === null) {
      const usage = countsUsage(metrics.inputTokenCount, metrics.outputTokenCount, metrics.cacheReadInputTokenCount, metrics.cacheWriteInputTokenCount);
      if (usage !== null) into.usage = usage;
    }
    if (typeof chunk.generation === 'string') into.text.push(chunk.generation);
    else if (typeof chunk.outputText === 'string') into.text.push(chunk.outputText);
  },
};
