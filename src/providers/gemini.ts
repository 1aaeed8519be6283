import { type CallInfo, getPath, type Operation, op, type PathMatch, type WireDialect } from './dialect.js';
import { geminiMetering } from './gemini-metering.js';

const POST = ['POST'] as const;

/** Methods of a model (`models/{model}:<method>`), as operations. */
const METHODS = new Map<string, Operation>([
  ['generateContent', op('generateContent', POST, true)],
  ['streamGenerateContent', op('streamGenerateContent', POST, true)],
  ['countTokens', op('countTokens', POST, true)],
  ['embedContent', op('embedContent', POST, true)],
  ['batchEmbedContents', op('batchEmbedContents', POST, true)],
]);
const MODELS_GET = op('models.get', ['GET'], false);
const MODELS_LIST = op('models.list', ['GET'], false);

/**
 * A model's path: the Gemini API's `/v1beta/models/{model}:method`, Vertex AI's
 * `/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:method`, and Vertex's express
 * form `/v1/publishers/google/models/{model}:method`. No method: `GET` of the model itself.
 */
const MODEL_PATH = /^\/v1(?:beta1?|alpha)?(?:\/projects\/[^/]+\/locations\/[^/]+)?(?:\/publishers\/[^/]+)?\/models\/([^/:]+)(?::([A-Za-z]+))?$/;

/**
 * Google's Gemini wire (the Gemini API and Vertex AI): the model is in the path, streaming is its
 * own method (`:streamGenerateContent`, server-sent events with `?alt=sse`, else a JSON array), the
 * output cap is `generationConfig.maxOutputTokens`, usage is `usageMetadata`. The key goes in
 * `x-goog-api-key`; Vertex AI takes a service account's token (`auth: google-service-account`).
 */
export const geminiDialect: WireDialect = {
  name: 'gemini',
  errors: 'google',
  metering: geminiMetering,
  authHeader: 'x-goog-api-key',
  operations: new Map<string, Operation>([
    ['/v1beta/models', MODELS_LIST],
    ['/v1/models', MODELS_LIST],
  ]),
  match(path): PathMatch | null {
    const m = MODEL_PATH.exec(path);
    if (m === null) return null;
    const operation = m[2] === undefined ? MODELS_GET : METHODS.get(m[2]);
    if (operation === undefined) return null;
    let model: string;
    try {
      model = decodeURIComponent(m[1]);
    } catch {
      return null;
    }
    return { operation, model };
  },
  maxTokensField(operation) {
    const n = operation.name;
    return n === 'generateContent' || n === 'streamGenerateContent' ? { set: 'generationConfig.maxOutputTokens', present: ['generationConfig.maxOutputTokens'] } : null;
  },
  describe(operation, body, pathModel): CallInfo {
    const max = getPath(body, 'generationConfig.maxOutputTokens');
    return {
      kind: 'model',
      operation: operation.name,
      model: pathModel ?? null,
      stream: operation.name === 'streamGenerateContent',
      maxTokens: typeof max === 'number' ? max : null,
    };
  },
};
