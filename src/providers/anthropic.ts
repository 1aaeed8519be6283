import { anthropicMetering } from './anthropic-metering.js';
import { type CallInfo, field, type Operation, op, type WireDialect } from './dialect.js';
import { anthropicReplay } from './replay.js';

/** The Anthropic Messages wire dialect. */
export const anthropicDialect: WireDialect = {
  name: 'anthropic',
  errors: 'anthropic',
  claimsSharedPaths: true,
  metering: anthropicMetering,
  authHeader: 'x-api-key',
  operations: new Map<string, Operation>([
    ['/v1/messages', op('messages', ['POST'], true)],
    ['/v1/messages/count_tokens', op('messages.count_tokens', ['POST'], true)],
    ['/v1/models', op('models.list', ['GET'], false)],
  ]),
  replayStream: (operation, answer) => anthropicReplay(operation, answer),
  maxTokensField(operation) {
    return operation.name === 'messages' ? { set: 'max_tokens', present: ['max_tokens'] } : null;
  },
  describe(operation, body): CallInfo {
    return {
      kind: 'model',
      operation: operation.name,
      model: field(body, 'model', 'string'),
      stream: field(body, 'stream', 'boolean') === true,
      maxTokens: field(body, 'max_tokens', 'number'),
    };
  },
};
