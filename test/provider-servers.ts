/**
 * Real HTTP servers playing the cloud providers' wire formats, for the provider tests: Azure OpenAI
 * (deployment paths, api-version, `api-key` or an Entra bearer token) with an OAuth2 token endpoint.
 * Answers come from the sample upstream (examples/sample-upstream.ts) behind them, so bodies,
 * streams and usage are OpenAI's own shapes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestServer {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

/** A loopback server that records every request (body read whole) before its handler runs. */
export async function startServer(handler: Handler): Promise<{ server: Server } & TestServer> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      Promise.resolve(handler(req, res, body)).catch((err) => res.destroy(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Forwards a request to the sample upstream at `path` with `body`, streaming its answer back. */
async function relay(res: ServerResponse, sampleUrl: string, path: string, body: unknown): Promise<void> {
  const answer = await fetch(`${sampleUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
  if (answer.body !== null) for await (const chunk of answer.body) res.write(chunk);
  res.end();
}

export interface TokenEndpoint extends TestServer {
  /** Tokens issued, in order. */
  readonly issued: string[];
  /** Tokens still valid at `now`. */
  valid(token: string): boolean;
  /** Seconds each token lives (changeable between calls). */
  lifetimeSec: number;
  /** Milliseconds the endpoint waits before answering. */
  delayMs: number;
}

/** An OAuth2 token endpoint (client credentials grant) at `/tenant/oauth2/v2.0/token`, as Microsoft Entra ID answers. */
export async function startTokenEndpoint(client: { id: string; secret: string; scope: string }): Promise<TokenEndpoint> {
  const expiry = new Map<string, number>();
  const issued: string[] = [];
  const ep = {
    issued,
    lifetimeSec: 3600,
    delayMs: 0,
    valid: (token: string) => (expiry.get(token) ?? 0) > Date.now(),
  };
  const s = await startServer(async (req, res, body) => {
    if (req.method !== 'POST' || req.url !== '/tenant/oauth2/v2.0/token') return json(res, 404, { error: 'not_found' });
    const form = new URLSearchParams(body);
    if (ep.delayMs > 0) await new Promise((r) => setTimeout(r, ep.delayMs));
    if (form.get('grant_type') !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
    if (form.get('client_id') !== client.id || form.get('client_secret') !== client.secret) {
      return json(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
    }
    if (form.get('scope') !== client.scope) return json(res, 400, { error: 'invalid_scope' });
    const token = `entra-token-${issued.length + 1}`;
    issued.push(token);
    expiry.set(token, Date.now() + ep.lifetimeSec * 1000);
    json(res, 200, { token_type: 'Bearer', expires_in: ep.lifetimeSec, ext_expires_in: ep.lifetimeSec, access_token: token });
  });
  return Object.assign(ep, { url: s.url, received: s.received, close: s.close });
}

export interface AzureServer extends TestServer {}

/**
 * Azure OpenAI at `/openai`: `/openai/deployments/{deployment}/{chat/completions,completions,embeddings}?api-version=…`
 * and the v1 API (`/openai/v1/chat/completions`, `model` = deployment). Authenticates `api-key`
 * against `apiKey`, or a bearer token against the token endpoint; answers 404 DeploymentNotFound
 * for a deployment it does not have. The sample upstream answers with the deployment's model.
 */
export async function startAzureServer(opts: { sampleUrl: string; deployments: Record<string, string>; apiKey?: string; tokens?: TokenEndpoint }): Promise<AzureServer> {
  return startServer(async (req, res, raw) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    const authorized = opts.tokens !== undefined ? bearer !== undefined && opts.tokens.valid(bearer) : req.headers['api-key'] === opts.apiKey;
    if (!authorized) return json(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint.' } });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return json(res, 400, { error: { code: 'BadRequest', message: 'invalid JSON' } });
    }
    const dep = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(url.pathname);
    const v1 = /^\/openai\/v1\/(chat\/completions|responses|embeddings)$/.exec(url.pathname);
    if (dep === null && v1 === null) return json(res, 404, { error: { code: '404', message: 'Resource not found' } });
    if (dep !== null && !url.searchParams.get('api-version')) return json(res, 404, { error: { code: '404', message: 'Resource not found' } });
    const deployment = dep !== null ? decodeURIComponent(dep[1]) : String(body.model);
    const model = opts.deployments[deployment];
    if (model === undefined) {
      return json(res, 404, { error: { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist.' } });
    }
    await relay(res, opts.sampleUrl, `/v1/${dep?.[2] ?? v1![1]}`, { ...body, model });
  });
}

export const GEMINI_USAGE = { promptTokenCount: 10, cachedContentTokenCount: 4, candidatesTokenCount: 5, thoughtsTokenCount: 3, totalTokenCount: 18 };

/**
 * The Gemini API (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
 * `:countTokens`, key in `x-goog-api-key`) and Vertex AI (`/v1beta1/projects/{p}/locations/{l}/publishers/google/models/…`,
 * a bearer token the token endpoint issued). Answers echo the last user text in three streamed
 * parts, with GEMINI_USAGE (running totals in the stream, as Gemini sends them).
 */
export async function startGeminiServer(opts: { apiKey?: string; tokens?: { valid(token: string): boolean } }): Promise<TestServer> {
  return startServer(async (req, res, raw) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    const authorized = opts.tokens !== undefined ? bearer !== undefined && opts.tokens.valid(bearer) : req.headers['x-goog-api-key'] === opts.apiKey;
    const error = (code: number, status: string, message: string) => json(res, code, { error: { code, message, status } });
    if (!authorized) return error(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    const m = /^\/(v1beta|v1beta1|v1)(\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google)?\/models\/([^/:]+):(\w+)$/.exec(url.pathname);
    if (m === null) return error(404, 'NOT_FOUND', `no ${url.pathname}`);
    let body: { contents?: { parts?: { text?: string }[] }[] };
    try {
      body = JSON.parse(raw);
    } catch {
      return error(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const text = `Echo: ${
      body.contents
        ?.at(-1)
        ?.parts?.map((p) => p.text ?? '')
        .join('') ?? ''
    }`;
    if (m[4] === 'countTokens') return json(res, 200, { totalTokens: GEMINI_USAGE.promptTokenCount });
    const model = decodeURIComponent(m[3]);
    const answer = (parts: string, usage: Record<string, number>, finish?: string) => ({
      candidates: [{ content: { role: 'model', parts: [{ text: parts }] }, index: 0, ...(finish ? { finishReason: finish } : {}) }],
      usageMetadata: usage,
      modelVersion: model,
      responseId: 'resp-1',
    });
    if (m[4] === 'generateContent') return json(res, 200, answer(text, GEMINI_USAGE, 'STOP'));
    if (m[4] !== 'streamGenerateContent') return error(404, 'NOT_FOUND', `no method ${m[4]}`);
    const third = Math.ceil(text.length / 3);
    const pieces = [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)];
    const running = (i: number) => (i < 2 ? { promptTokenCount: GEMINI_USAGE.promptTokenCount, totalTokenCount: GEMINI_USAGE.promptTokenCount } : GEMINI_USAGE);
    if (url.searchParams.get('alt') !== 'sse')
      return json(
        res,
        200,
        pieces.map((p, i) => answer(p, running(i), i === 2 ? 'STOP' : undefined)),
      );
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 3; i++) {
      res.write(`data: ${JSON.stringify(answer(pieces[i], running(i), i === 2 ? 'STOP' : undefined))}\r\n\r\n`);
      await new Promise(setImmediate);
    }
    res.end();
  });
}

/**
 * A Google OAuth2 token endpoint for service accounts (the key file's `token_uri`): checks the JWT
 * bearer assertion's signature with the account's public key, its issuer, audience and scope.
 */
export async function startGoogleTokenEndpoint(account: { email: string; publicKey: import('node:crypto').KeyObject; scope: string }): Promise<TokenEndpoint> {
  const { jwtVerify } = await import('jose');
  const expiry = new Map<string, number>();
  const issued: string[] = [];
  const ep = { issued, lifetimeSec: 3600, delayMs: 0, valid: (token: string) => (expiry.get(token) ?? 0) > Date.now() };
  let url = '';
  const s = await startServer(async (req, res, body) => {
    const form = new URLSearchParams(body);
    if (req.method !== 'POST' || form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return json(res, 400, { error: 'unsupported_grant_type' });
    try {
      const { payload } = await jwtVerify(form.get('assertion') ?? '', account.publicKey, { issuer: account.email, audience: `${url}/token`, algorithms: ['RS256'] });
      if (payload.scope !== account.scope) return json(res, 400, { error: 'invalid_scope' });
    } catch (err) {
      return json(res, 400, { error: 'invalid_grant', error_description: `Invalid JWT Signature. (${(err as Error).message})` });
    }
    const token = `ya29.vertex-token-${issued.length + 1}`;
    issued.push(token);
    expiry.set(token, Date.now() + ep.lifetimeSec * 1000);
    json(res, 200, { access_token: token, expires_in: ep.lifetimeSec, token_type: 'Bearer' });
  });
  url = s.url;
  return Object.assign(ep, { url: s.url, received: s.received, close: s.close });
}

export const BEDROCK_CREDENTIALS = { accessKeyId: 'AKIAGATEWAYEXAMPLE', secretAccessKey: 'gateway-secret-access-key-example' };
export const BEDROCK_REGION = 'us-east-1';
export const CONVERSE_USAGE = { inputTokens: 12, outputTokens: 6, cacheReadInputTokens: 4, cacheWriteInputTokens: 0, totalTokens: 22 };

export interface BedrockServer extends TestServer {
  /** Requests whose signature did not verify (answered 403), with why. */
  readonly badSignatures: string[];
}

/** AWS credentials as a server that checks signatures knows them; `expiresAt` (ms) for temporary ones. */
export interface KnownAwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: number;
}

/**
 * Checks a request's SigV4 signature by signing it again with the same signer
 * (`@smithy/signature-v4`) and the credentials `lookup` knows for its access key id: null when it
 * verifies, else why not. Temporary credentials must come with their session token (signed) and be
 * unexpired.
 */
export async function verifySigV4(req: IncomingMessage, raw: string, service: string, lookup: (accessKeyId: string) => KnownAwsCredentials | undefined): Promise<string | null> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Hash } = await import('@smithy/core/serde');
  const auth = req.headers.authorization ?? '';
  const m = new RegExp(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\\d{8}/([^/]+)/${service}/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$`).exec(auth);
  if (m === null) return 'no SigV4 authorization';
  const creds = lookup(m[1]);
  if (creds === undefined) return `unknown access key ${m[1]}`;
  if (creds.expiresAt !== undefined && creds.expiresAt <= Date.now()) return `expired credentials ${m[1]}`;
  if (creds.sessionToken !== undefined && req.headers['x-amz-security-token'] !== creds.sessionToken) return `wrong session token for ${m[1]}`;
  const signer = new SignatureV4({ service, region: m[2], credentials: creds, sha256: Hash.bind(null, 'sha256') as never, uriEscapePath: true, applyChecksum: false });
  const url = new URL(req.url ?? '/', 'http://x');
  const headers: Record<string, string> = {};
  for (const name of m[3].split(';')) headers[name] = String(req.headers[name] ?? '');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const again = await signer.sign({ method: req.method ?? 'POST', protocol: 'https:', hostname: headers.host, path: (req.url ?? '/').split('?')[0], query, headers, body: raw }, { signingDate: date });
  return (again.headers as Record<string, string>).authorization === auth ? null : `signature mismatch for ${m[1]}`;
}

/**
 * Bedrock Runtime: Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream (Claude
 * bodies) at `/model/{modelId}/…`. Every request must carry a SigV4 signature by
 * BEDROCK_CREDENTIALS, or by the credentials `credentials` knows (temporary ones from a fake STS),
 * checked by verifySigV4. Streams are AWS event streams; model `corrupt-stream` sends a message
 * with a bad CRC.
 */
export async function startBedrockServer(opts: { credentials?: (accessKeyId: string) => KnownAwsCredentials | undefined } = {}): Promise<BedrockServer> {
  const { EventStreamCodec } = await import('@smithy/core/event-streams');
  const { toUtf8, fromUtf8 } = await import('@smithy/core/serde');
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const lookup = opts.credentials ?? ((id: string) => (id === BEDROCK_CREDENTIALS.accessKeyId ? BEDROCK_CREDENTIALS : undefined));
  const badSignatures: string[] = [];
  const exception = (res: ServerResponse, status: number, type: string, message: string) =>
    json(res, status, { message }, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
  const message = (eventType: string, payload: unknown) =>
    Buffer.from(
      codec.encode({
        headers: {
          ':event-type': { type: 'string', value: eventType },
          ':content-type': { type: 'string', value: 'application/json' },
          ':message-type': { type: 'string', value: 'event' },
        },
        body: Buffer.from(JSON.stringify(payload)),
      }),
    );
  const s = await startServer(async (req, res, raw) => {
    const bad = await verifySigV4(req, raw, 'bedrock', lookup);
    if (bad !== null) {
      badSignatures.push(`${req.url ?? ''}: ${bad}`);
      return exception(res, 403, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
    }
    const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec((req.url ?? '/').split('?')[0]);
    if (m === null) return exception(res, 404, 'UnknownOperationException', 'unknown operation');
    const model = decodeURIComponent(m[1]);
    let body: { messages?: { content?: ({ text?: string } | string)[] | string }[] };
    try {
      body = JSON.parse(raw);
    } catch {
      return exception(res, 400, 'ValidationException', 'Malformed input request');
    }
    const last = body.messages?.at(-1)?.content;
    const said = typeof last === 'string' ? last : (last ?? []).map((c) => (typeof c === 'string' ? c : (c.text ?? ''))).join('');
    const text = `Echo: ${said}`;
    const pieces = [text.slice(0, 6), text.slice(6)];
    switch (m[2]) {
      case 'converse':
        return json(res, 200, { output: { message: { role: 'assistant', content: [{ text }] } }, stopReason: 'end_turn', usage: CONVERSE_USAGE, metrics: { latencyMs: 3 } });
      case 'invoke':
        return json(
          res,
          200,
          { id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', usage: { input_tokens: 12, output_tokens: 6 } },
          { 'x-amzn-bedrock-input-token-count': '12', 'x-amzn-bedrock-output-token-count': '6' },
        );
    }
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'req-1' });
    const frames: Buffer[] = [];
    if (m[2] === 'converse-stream') {
      frames.push(message('messageStart', { role: 'assistant' }));
      for (const p of pieces) frames.push(message('contentBlockDelta', { contentBlockIndex: 0, delta: { text: p } }));
      frames.push(message('contentBlockStop', { contentBlockIndex: 0 }), message('messageStop', { stopReason: 'end_turn' }), message('metadata', { usage: CONVERSE_USAGE, metrics: { latencyMs: 3 } }));
      if (model === 'corrupt-stream') frames[1][frames[1].length - 1] ^= 0xff;
    } else {
      const chunk = (event: unknown) => message('chunk', { bytes: Buffer.from(JSON.stringify(event)).toString('base64') });
      frames.push(chunk({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], usage: { input_tokens: 12, output_tokens: 1 } } }));
      frames.push(chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
      for (const p of pieces) frames.push(chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }));
      frames.push(chunk({ type: 'content_block_stop', index: 0 }), chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 6 } }));
      frames.push(chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 12, outputTokenCount: 6, invocationLatency: 3, firstByteLatency: 1 } }));
    }
    // Split across writes at odd offsets: the gateway must reassemble messages across chunks.
    const all = Buffer.concat(frames);
    for (let i = 0; i < all.length; i += 37) {
      res.write(all.subarray(i, i + 37));
      await new Promise(setImmediate);
    }
    res.end();
  });
  return Object.assign(s, { badSignatures });
}

export interface StsServer extends TestServer {
  /** Temporary credentials issued, in order, with the action that issued them and when (ms). */
  readonly issued: (KnownAwsCredentials & { expiresAt: number; action: string; roleArn: string; at: number })[];
  /** The issued credentials with this access key id. */
  credentials(accessKeyId: string): KnownAwsCredentials | undefined;
  /** The web identity token AssumeRoleWithWebIdentity accepts (changeable: a rotated token). */
  webIdentityToken: string;
  /** Seconds each issued credential lives (changeable between calls). */
  lifetimeSec: number;
  /** Milliseconds the endpoint waits before answering. */
  delayMs: number;
}

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * AWS STS's Query API (form-encoded POST, XML answers) for AssumeRoleWithWebIdentity (checks the
 * token and the role) and AssumeRole (checks the caller's SigV4 signature, service `sts`, by
 * `callers`: base keys or credentials this server issued; and the external id if `externalId`),
 * issuing short-lived credentials. Errors as STS sends them (`ErrorResponse`, 400/403).
 */
export async function startStsServer(opts: {
  roles: readonly string[];
  webIdentityToken?: string;
  callers?: (accessKeyId: string) => KnownAwsCredentials | undefined;
  externalId?: string;
}): Promise<StsServer> {
  const issued: StsServer['issued'] = [];
  const byKey = new Map<string, KnownAwsCredentials>();
  const ep = {
    issued,
    credentials: (id: string) => byKey.get(id),
    webIdentityToken: opts.webIdentityToken ?? '',
    lifetimeSec: 3600,
    delayMs: 0,
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    const xml = `<ErrorResponse xmlns="${STS_NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-${issued.length}</RequestId></ErrorResponse>`;
    res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
  };
  const s = await startServer(async (req, res, raw) => {
    const form = new URLSearchParams(raw);
    const action = form.get('Action') ?? '';
    if (ep.delayMs > 0) await new Promise((r) => setTimeout(r, ep.delayMs));
    if (req.method !== 'POST' || form.get('Version') !== '2011-06-15') return fail(res, 400, 'InvalidAction', 'not an STS Query API request');
    const roleArn = form.get('RoleArn') ?? '';
    if (action === 'AssumeRoleWithWebIdentity') {
      if (form.get('WebIdentityToken') !== ep.webIdentityToken) return fail(res, 400, 'InvalidIdentityToken', 'Couldn&apos;t retrieve verification key from your identity provider');
    } else if (action === 'AssumeRole') {
      const bad = await verifySigV4(req, raw, 'sts', (id) => opts.callers?.(id) ?? byKey.get(id));
      if (bad !== null) return fail(res, 403, 'SignatureDoesNotMatch', `The request signature we calculated does not match (${bad})`);
      if (opts.externalId !== undefined && form.get('ExternalId') !== opts.externalId) return fail(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRole (external id)');
    } else return fail(res, 400, 'InvalidAction', `unknown action ${action}`);
    if (!opts.roles.includes(roleArn)) return fail(res, 403, 'AccessDenied', `Not authorized to perform ${action} on ${roleArn}`);
    const n = issued.length + 1;
    const at = Date.now();
    const creds = {
      accessKeyId: `ASIATEMPORARY${String(n).padStart(4, '0')}`,
      secretAccessKey: `temporary-secret-${n}`,
      sessionToken: `session-token-${n}-${'x'.repeat(40)}`,
      expiresAt: at + ep.lifetimeSec * 1000,
    };
    issued.push({ ...creds, action, roleArn, at });
    byKey.set(creds.accessKeyId, creds);
    const session = form.get('RoleSessionName') ?? '';
    const xml = `<${action}Response xmlns="${STS_NS}"><${action}Result>${action === 'AssumeRoleWithWebIdentity' ? '<SubjectFromWebIdentityToken>system:serviceaccount:agents:gateway</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>' : ''}<AssumedRoleUser><AssumedRoleId>AROATEST:${session}</AssumedRoleId><Arn>${roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${session}</Arn></AssumedRoleUser><Credentials><AccessKeyId>${creds.accessKeyId}</AccessKeyId><SecretAccessKey>${creds.secretAccessKey}</SecretAccessKey><SessionToken>${creds.sessionToken}</SessionToken><Expiration>${new Date(creds.expiresAt).toISOString()}</Expiration></Credentials></${action}Result><ResponseMetadata><RequestId>r-${n}</RequestId></ResponseMetadata></${action}Response>`;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
  });
  return Object.assign(ep, { url: s.url, received: s.received, close: s.close });
}
