import { type CallInfo, field, type Operation, op, sessionOp, type WireDialect } from './dialect.js';
import { openaiMetering } from './openai-metering.js';
import { openaiReplay } from './replay.js';

const POST = ['POST'] as const;
const GET = ['GET'] as const;

/** The OpenAI-compatible wire dialect: OpenAI itself and every vendor that speaks it. */
export const openaiDialect: WireDialect = {
  name: 'openai',
  errors: 'openai',
  metering: openaiMetering,
  authHeader: 'authorization',
  operations: new Map<string, Operation>([
    ['/chat/completions', op('chat.completions', POST, true)],
    ['/responses', op('responses', POST, true)],
    ['/embeddings', op('embeddings', POST, true)],
    ['/completions', op('completions', POST, true)],
    ['/models', op('models.list', GET, false)],
    // The Realtime API: `GET /realtime?model=…` upgraded to a WebSocket.
    ['/realtime', sessionOp('realtime')],
  ]),
  maxTokensField(operation) {
    switch (operation.name) {
      // max_tokens is deprecated for chat and refused by reasoning models; compatible servers accept both.
      case 'chat.completions':
        return { set: 'max_completion_tokens', present: ['max_completion_tokens', 'max_tokens'] };
      case 'responses':
        return { set: 'max_output_tokens', present: ['max_output_tokens'] };
      case 'completions':
        return { set: 'max_tokens', present: ['max_tokens'] };
      default:
        return null;
    }
  },
  sessionModel: (_operation, query) => query.get('model'),
  replayStream: openaiReplay,
  describe(operation, body): CallInfo {
    const maxTokens = field(body, 'max_completion_tokens', 'number') ?? field(body, 'max_output_tokens', 'number') ?? field(body, 'max_tokens', 'number');
    return {
      kind: 'model',
      operation: operation.name,
      model: field(body, 'model', 'string'),
      stream: field(body, 'stream', 'boolean') === true,
      maxTokens,
    };
  },
};

/** The subprotocol a browser's Realtime client sends its key in (browsers cannot set headers): `openai-insecure-api-key.<key>`. */
const KEY_PROTOCOL = 'openai-insecure-api-key.';

/**
 * A Realtime client's `Sec-WebSocket-Protocol` offer: the agent token it carries in OpenAI's
 * key subprotocol (null when none), and the other protocols, which are offered to the upstream.
 * The key subprotocol is never forwarded.
 */
export function sessionProtocols(header: string | undefined): { token: string | null; forward: string[] } {
  const forward: string[] = [];
  let token: string | null = null;
  if (header === undefined) return { token, forward };
  for (const part of header.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    if (p.startsWith(KEY_PROTOCOL)) token ??= p.slice(KEY_PROTOCOL.length);
    else forward.push(p);
  }
  return { token, forward };
}
