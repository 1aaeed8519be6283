import { bedrockMetering } from './bedrock-metering.js';
import { type CallInfo, field, getPath, type Operation, op, type PathMatch, type WireDialect } from './dialect.js';

const POST = ['POST'] as const;

export const CONVERSE = op('converse', POST, true);
export const CONVERSE_STREAM = op('converse-stream', POST, true);
/** InvokeModel of an Anthropic model: the body is Anthropic's Messages request (`anthropic_version`, `max_tokens`, …). */
export const INVOKE_ANTHROPIC = op('invoke', POST, true);
export const INVOKE_STREAM_ANTHROPIC = op('invoke-with-response-stream', POST, true);
/** InvokeModel of another model: its own body, metered from Bedrock's token-count headers. */
export const INVOKE_OTHER = op('invoke', POST, true);
export const INVOKE_STREAM_OTHER = op('invoke-with-response-stream', POST, true);
const COUNT_TOKENS = op('count-tokens', POST, true);

const MODEL = '/model/';

/** Whether a model id (or inference profile, `us.anthropic.…`; or its ARN) is one of Anthropic's. */
const isAnthropic = (modelId: string) => modelId.includes('anthropic.');

/**
 * AWS Bedrock Runtime: Converse and ConverseStream (Bedrock's own message format), InvokeModel and
 * InvokeModelWithResponseStream (the model's own body: Anthropic's Messages for Claude), at
 * `/model/{modelId}/<action>` relative to `https://bedrock-runtime.<region>.amazonaws.com`. Streams
 * are AWS event streams (binary). Requests are signed by the gateway (`auth: aws-sigv4`).
 */
export const bedrockDialect: WireDialect = {
  name: 'bedrock',
  errors: 'aws',
  metering: bedrockMetering,
  authHeader: 'authorization',
  operations: new Map<string, Operation>(),
  match(path): PathMatch | null {
    if (!path.startsWith(MODEL)) return null;
    const slash = path.lastIndexOf('/');
    if (slash <= MODEL.length) return null;
    let model: string;
    try {
      model = decodeURIComponent(path.slice(MODEL.length, slash));
    } catch {
      return null;
    }
    let operation: Operation;
    switch (path.slice(slash + 1)) {
      case 'converse':
        operation = CONVERSE;
        break;
      case 'converse-stream':
        operation = CONVERSE_STREAM;
        break;
      case 'invoke':
        operation = isAnthropic(model) ? INVOKE_ANTHROPIC : INVOKE_OTHER;
        break;
      case 'invoke-with-response-stream':
        operation = isAnthropic(model) ? INVOKE_STREAM_ANTHROPIC : INVOKE_STREAM_OTHER;
        break;
      case 'count-tokens':
        operation = COUNT_TOKENS;
        break;
      default:
        return null;
    }
    return { operation, model };
  },
  maxTokensField(operation) {
    if (operation === CONVERSE || operation === CONVERSE_STREAM) return { set: 'inferenceConfig.maxTokens', present: ['inferenceConfig.maxTokens'] };
    if (operation === INVOKE_ANTHROPIC || operation === INVOKE_STREAM_ANTHROPIC) return { set: 'max_tokens', present: ['max_tokens'] };
    return null;
  },
  describe(operation, body, pathModel): CallInfo {
    let maxTokens: number | null = null;
    if (operation === CONVERSE || operation === CONVERSE_STREAM) {
      const v = getPath(body, 'inferenceConfig.maxTokens');
      maxTokens = typeof v === 'number' ? v : null;
    } else if (operation === INVOKE_ANTHROPIC || operation === INVOKE_STREAM_ANTHROPIC) maxTokens = field(body, 'max_tokens', 'number');
    return {
      kind: 'model',
      operation: operation.name,
      model: pathModel ?? null,
      stream: operation === CONVERSE_STREAM || operation === INVOKE_STREAM_ANTHROPIC || operation === INVOKE_STREAM_OTHER,
      maxTokens,
    };
  },
};
