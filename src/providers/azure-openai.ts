import type { CallInfo, Operation, PathMatch, WireDialect } from './dialect.js';
import { openaiDialect } from './openai.js';

const openaiOp = (path: string): Operation => openaiDialect.operations.get(path)!;

/** Operations addressed by deployment: `/deployments/{deployment}/<operation>`. */
const BY_DEPLOYMENT = new Map<string, Operation>([
  ['chat/completions', openaiOp('/chat/completions')],
  ['completions', openaiOp('/completions')],
  ['embeddings', openaiOp('/embeddings')],
]);

const DEPLOYMENTS = '/deployments/';

/**
 * Azure OpenAI: the OpenAI wire (bodies, streams, usage, errors) at Azure's paths, relative to
 * `https://<resource>.openai.azure.com/openai`: deployment-style paths with `?api-version=…`
 * (`/deployments/{deployment}/chat/completions`, `completions`, `embeddings`), and the v1 API
 * (`/v1/chat/completions`, …) where `model` is the deployment name. The key goes in `api-key`.
 */
export const azureOpenaiDialect: WireDialect = {
  name: 'azure-openai',
  errors: 'openai',
  metering: openaiDialect.metering!,
  authHeader: 'api-key',
  operations: new Map<string, Operation>([
    ['/v1/chat/completions', openaiOp('/chat/completions')],
    ['/v1/responses', openaiOp('/responses')],
    ['/v1/embeddings', openaiOp('/embeddings')],
    ['/v1/completions', openaiOp('/completions')],
    ['/v1/models', openaiOp('/models')],
    ['/responses', openaiOp('/responses')],
    ['/models', openaiOp('/models')],
    // Realtime: `/realtime?api-version=…&deployment=…` (preview) and `/v1/realtime?model=…` (GA, the deployment name).
    ['/realtime', openaiOp('/realtime')],
    ['/v1/realtime', openaiOp('/realtime')],
  ]),
  match(path): PathMatch | null {
    if (!path.startsWith(DEPLOYMENTS)) return null;
    const slash = path.indexOf('/', DEPLOYMENTS.length);
    if (slash === -1 || slash === DEPLOYMENTS.length) return null;
    const operation = BY_DEPLOYMENT.get(path.slice(slash + 1));
    if (operation === undefined) return null;
    let deployment: string;
    try {
      deployment = decodeURIComponent(path.slice(DEPLOYMENTS.length, slash));
    } catch {
      return null;
    }
    return { operation, model: deployment };
  },
  maxTokensField: (operation) => openaiDialect.maxTokensField(operation),
  sessionModel: (_operation, query) => query.get('deployment') ?? query.get('model'),
  describe(operation, body, pathModel): CallInfo {
    const call = openaiDialect.describe(operation, body);
    // A deployment path names the model; a `model` in such a body is ignored by Azure.
    if (pathModel !== undefined && pathModel !== null) call.model = pathModel;
    return call;
  },
};
