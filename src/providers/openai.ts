import { field, op, type CallInfo, type Operation, type WireDialect } from './dialect.js';

const POST = ['POST'] as const;
const GET = ['GET'] as const;

/** The OpenAI-compatible wire dialect: OpenAI itself and every vendor that speaks it. */
export const openaiDialect: WireDialect = {
  name: 'openai',
  errors: 'openai',
  authHeader: 'authorization',
  operations: new Map<string, Operation>([
    ['/chat/completions', op('chat.completions', POST, true)],
    ['/responses', op('responses', POST, true)],
    ['/embeddings', op('embeddings', POST, true)],
    ['/completions', op('completions', POST, true)],
    ['/models', op('models.list', GET, false)],
  ]),
  describe(operation, body): CallInfo {
    const maxTokens =
      field(body, 'max_completion_tokens', 'number') ?? field(body, 'max_output_tokens', 'number') ?? field(body, 'max_tokens', 'number');
    return {
      kind: 'model',
      operation: operation.name,
      model: field(body, 'model', 'string'),
      stream: field(body, 'stream', 'boolean') === true,
      maxTokens,
    };
  },
};
