/**
 * The gateway configuration, written once: the JSON Schema files are validated against (TypeBox),
 * the TypeScript types derived from it, and docs/configuration.md generated from its descriptions
 * (`npm run docs:config`; a test fails when the committed page is stale).
 *
 * The types describe a config after validation: a key with a `default` is always present. In the
 * file it is optional: `configSchema` is this schema with such keys dropped from `required`
 * (schema-builders.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { JWT_ALGORITHMS } from './algorithms.js';
import { MemorySchema } from './memory-schema.js';
import { Bool, Const, Dict, Enum, fileSchema, Int, Obj, Str } from './schema-builders.js';

// ---- building blocks (the shared ones are in schema-builders.ts) ------------------------------

const Headers = (description: string) => Dict(Type.String(), { description, default: {} });

const HTTP_URL = { pattern: '^https?://[^/?#]+(/[^?#]*)?$', title: 'an http(s) URL without query or fragment' };

/** Names that are one path segment: `/tools/<name>`, `/mcp/<name>`. */
const TOOL_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

// ---- listeners, limits, upstream, log ---------------------------------------------------------

const listen = (port: number, description: string) =>
  Obj(
    {
      host: Str('Address to listen on (`0.0.0.0` for every interface).', { minLength: 1, default: '127.0.0.1' }),
      port: Int(0, port, 'TCP port (0: any free port).', 65535),
      allowedHosts: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          description:
            'Host header names (without port) requests may carry, against DNS rebinding; `*` allows any. Default: `localhost`, `127.0.0.1` and `[::1]` when `host` is a loopback address, any host otherwise. Others: 403 `aos_host_not_allowed`.',
        }),
      ),
      allowedOrigins: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          description:
            'Origins (`scheme://host[:port]`) a browser request (one with an `Origin` header) may come from; `*` allows any. Loopback origins are allowed when `host` is a loopback address. Others: 403 `aos_origin_not_allowed`. Requests without `Origin` (SDKs, agents) are not affected.',
          default: [],
        }),
      ),
    },
    { description, default: {} },
  );

const ListenSchema = listen(8080, 'Where agents connect.');

const LimitsSchema = Obj(
  {
    maxBodyBytes: Int(1, 10 * 1024 * 1024, 'Larger request bodies are refused: 413 `aos_payload_too_large`.'),
    maxHeaderBytes: Int(1024, 16 * 1024, 'Request line and headers; larger: 431 `aos_header_too_large`.', 1024 * 1024),
    maxHeaders: Int(1, 100, 'More header lines: 431 `aos_header_too_large`.', 1000),
    headersTimeoutMs: Int(1, 10_000, 'Time for a client to send its headers (slowloris): 408 `aos_request_timeout`.'),
    requestTimeoutMs: Int(1, 60_000, 'Time for a client to send its whole request: 408 `aos_request_timeout`.'),
    keepAliveTimeoutMs: Int(1, 65_000, 'Idle client connections are closed after this.'),
    shutdownGraceMs: Int(0, 30_000, 'On SIGTERM, how long in-flight requests and streams may finish.'),
  },
  { description: 'Limits on what clients send (apply on restart).', default: {} },
);

const UpstreamSchema = Obj(
  {
    connections: Int(1, 256, 'Connections per provider pool (undici `Pool`, keep-alive).'),
    connectTimeoutMs: Int(1, 5_000, 'TCP/TLS connect: 504 `aos_upstream_timeout`.'),
    headersTimeoutMs: Int(1, 300_000, "Until the upstream's response headers (time to first byte)."),
    bodyTimeoutMs: Int(1, 120_000, 'Longest silence between two chunks of a response.'),
    keepAliveTimeoutMs: Int(1, 30_000, 'Idle upstream connections are closed after this.'),
    retries: Int(0, 2, 'Retries, only for connection failures before any byte was sent.', 10),
  },
  { description: 'Connections to providers and tools.', default: {} },
);

const LogSchema = Obj(
  { level: Enum(['debug', 'info', 'warn', 'error', 'silent'], { description: 'JSON lines on stderr from this level up.', default: 'info' }) },
  { description: 'The gateway log.', default: {} },
);

// ---- identity ---------------------------------------------------------------------------------

const IssuerSchema = Obj(
  {
    issuer: Str('The `iss` claim value.', { minLength: 1 }),
    jwksUrl: Type.Optional(Str("JWKS endpoint; when absent and `discovery` is on, read from the issuer's OIDC discovery document.", { pattern: '^https?://', title: 'an http(s) URL' })),
    discovery: Bool(false, "Read `jwks_uri` from the issuer's `/.well-known/openid-configuration`."),
    keyFiles: Type.Array(Str('A key file', { minLength: 1 }), { description: 'Static keys: PEM (SPKI public key or certificate) or JWK / JWKS JSON files, relative to the config file.', default: [] }),
    audience: Type.Optional(Str('Expected `aud`; defaults to identity.audience.', { minLength: 1 })),
    kubernetes: Bool(false, 'Kubernetes projected ServiceAccount tokens: map the kubernetes.io claims onto the agent.'),
    requiredClaims: Type.Array(Str('A claim name', { minLength: 1 }), { description: 'Claims every token of this issuer must carry.', default: ['sub'] }),
    jwksCacheSec: Int(1, 300, 'How long fetched keys are trusted before they are fetched again.'),
    jwksRefreshMinSec: Int(0, 30, 'Least time between two JWKS fetches triggered by an unknown `kid`.'),
    jwksTimeoutMs: Int(1, 2_000, 'Timeout of a discovery or JWKS fetch.'),
    caFile: Type.Optional(Str("Extra CA certificates (PEM) for the issuer's HTTPS, e.g. the in-cluster API server's.", { minLength: 1 })),
    tokenFile: Type.Optional(Str('A bearer token file sent with discovery/JWKS fetches, re-read each time (a projected token).', { minLength: 1 })),
  },
  { description: 'A trusted token issuer.' },
);

const IdentitySchema = Obj(
  {
    mode: Enum(['required', 'off'], { description: '`required`: every proxied call needs a valid agent token. `off`: calls are anonymous.', default: 'required' }),
    audience: Str('`aud` agent tokens must carry.', { minLength: 1, default: 'aos-gateway' }),
    adminAudience: Str('`aud` admin tokens must carry (a separate audience, so an agent token is never an admin one).', { minLength: 1, default: 'aos-admin' }),
    adminRole: Str('Value of the roles claim that grants the admin API.', { minLength: 1, default: 'admin' }),
    // Asymmetric algorithms only: never `none`, never an HMAC secret that could be a public key.
    algorithms: Type.Array(Type.Unsafe<string>({ enum: JWT_ALGORITHMS }), {
      description: 'Allow-list of token signature algorithms, asymmetric only.',
      minItems: 1,
      uniqueItems: true,
      default: JWT_ALGORITHMS,
    }),
    clockSkewSec: Int(0, 30, 'Tolerance for `exp` / `nbf`.', 600),
    maxTokenBytes: Int(256, 8192, 'Larger tokens are refused before parsing.', 65536),
    cacheSize: Int(0, 10_000, 'Verified tokens remembered (bounded; an entry never outlives its `exp`; 0: off).'),
    localIssuer: Obj(
      {
        enabled: Bool(true, 'Generate the key on first start and trust it.'),
        issuer: Str('The `iss` of locally minted tokens.', { minLength: 1, default: 'aos-local' }),
      },
      { description: 'A signing key generated in dataDir on first start and trusted, for local development.', default: {} },
    ),
    issuers: Type.Array(IssuerSchema, { description: 'Trusted token issuers.', default: [] }),
    delegation: Type.Optional(
      Obj(
        {
          keyFile: Type.Optional(
            Str(
              'The Ed25519 private key (PKCS#8 PEM or a private JWK) this gateway signs delegation tokens with, relative to this config file: the same file on every gateway of a fleet (a mounted Secret). Absent: the local key in dataDir signs.',
              { minLength: 1 },
            ),
          ),
          trust: Type.Array(Str('A key file', { minLength: 1 }), {
            description:
              'More Ed25519 public keys delegation tokens are accepted from: PEM (SPKI public key or certificate) or JWK / JWKS JSON files, relative to the config file. The previous key during a rotation, or the keys of gateways that sign with their own. A private key here is refused.',
            default: [],
          }),
        },
        {
          description:
            "A2A delegation tokens across gateways (docs/coordination.md): the key they are signed with and the keys they are accepted from, picked by the token's `kid` (the key's RFC 7638 thumbprint). Absent: the gateway's local key does both, so only the gateway that signed a token accepts it. Read at start and when `identity` changes.",
        },
      ),
    ),
    registry: Str('The agent registry file, relative to this config file.', { minLength: 1, default: 'agents.yaml' }),
    workloadToken: Type.Optional(
      Obj(
        {
          file: Str("The token file, relative to this config file: in a sidecar, the pod's projected ServiceAccount token (`/var/run/secrets/aos/token`).", { minLength: 1 }),
          reloadCheckMs: Int(10, 1000, 'How often the file is checked (a stat) for a rotated token; calls never read it.', 60_000),
        },
        {
          description:
            "Sidecar mode: a call without an agent JWT (no credential, or a key that is not a JWT, such as the injector's placeholder) is authenticated as the workload whose token is in this file, verified like any agent token and used until its `exp`. An agent JWT still wins. Only with `listen.host` on loopback.",
        },
      ),
    ),
  },
  { description: 'Agent identity: which tokens are trusted and who they stand for.', default: {} },
);

// ---- policy -----------------------------------------------------------------------------------

const PolicySchema = Obj(
  {
    mode: Enum(['enforce', 'off'], { description: '`enforce`: every call is decided by the policy. `off`: no policy stage at all.', default: 'enforce' }),
    bundle: Obj(
      {
        file: Type.Optional(Str('A bundle file (.tar.gz), relative to the config file.', { minLength: 1 })),
        directory: Type.Optional(Str('A policies directory, built on load (development).', { minLength: 1 })),
        url: Type.Optional(Str('An HTTP(S) bundle URL, polled with ETags.', { pattern: '^https?://', title: 'an http(s) URL' })),
      },
      {
        description: 'Exactly one source: a bundle file, a policies directory (development), or an HTTP(S) bundle URL.',
        minProperties: 1,
        maxProperties: 1,
        default: { file: '../policies/bundle.tar.gz' },
      },
    ),
    pollIntervalSec: Int(1, 30, 'How often a URL source is polled (ETag / If-None-Match).'),
    token: Type.Optional(Str('Bearer token sent to the bundle server, if it needs one.')),
    verification: Type.Optional(
      Obj(
        {
          keyFile: Str('PEM public key or JWK file, relative to the config file.', { minLength: 1 }),
          keyId: Type.Optional(Str('The `kid` of the signing key, when the file holds several.', { minLength: 1 })),
          scope: Type.Optional(Str('The `scope` the signature must carry.', { minLength: 1 })),
          algorithm: Type.Optional(Str('Pin the signature algorithm.', { minLength: 1 })),
        },
        { description: 'When set, bundles must carry a valid .signatures.json signed by this key.' },
      ),
    ),
    maxMemoryPages: Int(2, 512, 'Cap on the Wasm memory (64 KiB pages, 512 = 32 MiB); exhausting it denies the call.', 65536),
    maxInputBytes: Int(1024, 262_144, 'Serialized policy input larger than this is denied without evaluation.'),
  },
  { description: 'The policy (OPA, compiled to Wasm) that decides every call.', default: {} },
);

// ---- audit and telemetry ----------------------------------------------------------------------

const AuditSchema = Obj(
  {
    mode: Enum(['on', 'off'], { description: '`on`: every call is recorded. `off`: no audit stage, no audit file.', default: 'on' }),
    file: Str('The database file, in dataDir.', { pattern: '^[A-Za-z0-9._-]+$', title: 'a file name (in dataDir)', default: 'audit.db' }),
    flushMs: Int(1, 50, "Group commit: at most this many milliseconds between a call's end and its commit.", 10_000),
    batchSize: Int(1, 512, 'Group commit: a batch of this many events commits at once, without waiting for flushMs.', 100_000),
    maxQueue: Int(1, 100_000, 'Events waiting for their commit beyond which new ones stay in the intent journal only (recovered at the next start).'),
    hashBodies: Bool(true, 'SHA-256 of request and response bodies (sizes are always recorded).'),
    retention: Obj(
      {
        maxAgeDays: Int(0, 90, 'Events older than this are deleted (0: kept forever).'),
        maxSizeMb: Int(0, 0, 'Oldest events are deleted past this database size (0: no limit).'),
        intervalSec: Int(1, 3600, 'How often retention runs.'),
      },
      { description: 'How long the trail is kept.', default: {} },
    ),
  },
  { description: 'The audit trail: one hash-chained event per call in its own SQLite file.', default: {} },
);

const OtelSchema = Obj(
  {
    endpoint: Type.Optional(
      Str('OTLP/HTTP base URL (traces go to /v1/traces, logs to /v1/logs); absent: no export.', { pattern: HTTP_URL.pattern, title: 'an http(s) URL, e.g. http://127.0.0.1:4318' }),
    ),
    serviceName: Str('`service.name` of the exported resource.', { minLength: 1, default: 'aos-gateway' }),
    headers: Headers('Headers sent with every export (e.g. an API key of the collector).'),
    traces: Bool(true, 'Export a span per call.'),
    logs: Bool(true, 'Audit events as OTel log records.'),
    maxQueue: Int(1, 4096, 'Spans/log records held for export; beyond it they are dropped and counted.'),
    batchSize: Int(1, 512, 'Records per export request.'),
    scheduledDelayMs: Int(1, 1000, 'Longest wait before a partial batch is exported.'),
    exportTimeoutMs: Int(1, 5000, 'Timeout of an export request.'),
  },
  { description: 'OpenTelemetry export: absent unless an endpoint is configured.', default: {} },
);

// ---- metering ---------------------------------------------------------------------------------

const MeteringSchema = Obj(
  {
    mode: Enum(['enforce', 'off'], { description: '`enforce`: usage and cost of every call, budgets and rate limits. `off`: no metering stage at all.', default: 'enforce' }),
    prices: Type.Optional(Str('The price table, relative to this config file (default: the packaged config/prices.yaml).', { minLength: 1 })),
    store: Enum(['sqlite', 'redis'], { description: 'Where budget counters live: `sqlite` (embedded, one gateway) or `redis` (a fleet shares them; applies on restart).', default: 'sqlite' }),
    redis: Obj(
      {
        url: Str('The Redis server.', { pattern: '^rediss?://', title: 'a redis:// or rediss:// URL', default: 'redis://127.0.0.1:6379' }),
        keyPrefix: Str('Prefix of every key (one hash tag, so the scripts also run on Redis Cluster).', { pattern: '^[A-Za-z0-9_.:-]+$', title: 'letters, digits, _ . : -', default: 'aos' }),
        failMode: Enum(['closed', 'local'], { description: 'Redis unreachable: `closed` denies (503 `aos_budget_unavailable`); `local` keeps a conservative local limit.', default: 'closed' }),
        localFraction: Type.Number({ description: 'In `local` mode, the share of each limit this gateway may spend on its own while Redis is away.', exclusiveMinimum: 0, maximum: 1, default: 0.1 }),
        commandTimeoutMs: Int(1, 250, 'A slower Redis answer counts as unreachable.'),
        leaseSyncMs: Int(
          0,
          100,
          "How often this gateway pushes the spend of calls it admitted against its budget leases and renews them (a busy counter's calls are then decided without a round trip; spend reaches Redis within this time). 0: no leases, every call is a round trip.",
          10_000,
        ),
        leaseShare: Type.Number({ description: "The most of a limit's remaining room one gateway may hold as a lease.", exclusiveMinimum: 0, maximum: 1, default: 0.05 }),
      },
      { description: 'The shared budget store of a fleet.', default: {} },
    ),
    softThreshold: Type.Number({ description: "Share of a limit past which a call is flagged `budget_soft_limit` (a budget's `soft_ratio` wins).", minimum: 0, maximum: 1, default: 0.8 }),
    reservationTtlSec: Int(1, 900, 'A reservation not settled by then (a crashed or hung call) expires.'),
    defaultMaxOutputTokens: Int(1, 4096, 'Output cap assumed for the worst case when neither the request nor the template sets one.'),
    snapshotIntervalMs: Int(10, 1000, 'SQLite store: how often the in-memory counters are snapshotted into budgets.db (the append log covers the rest).'),
    agentMetrics: Bool(false, 'Add an `agent` label to the spend and token metrics (registered agents only, so it stays bounded).'),
    countTokens: Enum(['always', 'nearLimit'], {
      description:
        "When a prompt is tokenized: `always`, or `nearLimit` (only once a USD budget or a tokens-per-minute limit has room for fewer than 64 calls of its upper bound, the prompt's UTF-8 bytes, before its soft threshold, or the Redis store has not seen the counter yet). Until then the bound is reserved, and is `est_input_tokens` in the policy input; calls are settled at their real usage either way.",
      default: 'nearLimit',
    }),
    policyBudget: Enum(['always', 'nearLimit'], {
      description:
        "When the policy input carries the budget: `always`, or `nearLimit` (only once this call would take a budget past its soft threshold). Budget figures change with every call, so `always` defeats the policy's decision cache; the store enforces hard limits either way.",
      default: 'nearLimit',
    }),
  },
  { description: 'Usage, cost, budgets and rate limits.', default: {} },
);

// ---- coordination: the response cache and workflows -------------------------------------------

export const CACHE_SCOPES = ['agent', 'team', 'template', 'org'] as const;

const CacheSchema = Obj(
  {
    mode: Enum(['on', 'off'], {
      description:
        '`on`: model calls that are deterministic by their request (temperature 0, or the header `x-aos-cache: on`) are answered from an exact-match cache after the policy and budget checks (docs/coordination.md). `off`: no cache stage at all (applies on restart).',
      default: 'off',
    }),
    store: Enum(['sqlite', 'redis'], { description: '`sqlite`: dataDir/cache.db, one gateway. `redis`: a fleet shares the entries (applies on restart).', default: 'sqlite' }),
    scope: Enum(CACHE_SCOPES, { description: 'Who shares an entry: the same `agent`, `team`, `template`, or the whole `org`. A template may narrow or widen it.', default: 'team' }),
    ttlSeconds: Int(1, 3600, 'How long an entry answers (a template may set its own).', 30 * 86_400),
    maxEntryBytes: Int(1024, 1024 * 1024, 'A response larger than this is not stored.', 64 * 1024 * 1024),
    maxTotalBytes: Int(
      1024 * 1024,
      256 * 1024 * 1024,
      'SQLite store: total size of the entries; the least recently used ones are evicted past it (Redis: bound by its `maxmemory` and eviction policy).',
      2 ** 40,
    ),
    chargeFraction: Type.Number({
      description: 'Share of the cost of the answer charged to the budgets for a hit (0: a hit is free; the full cost is counted as saved).',
      minimum: 0,
      maximum: 1,
      default: 0,
    }),
    redis: Obj(
      {
        url: Str('The Redis server.', { pattern: '^rediss?://', title: 'a redis:// or rediss:// URL', default: 'redis://127.0.0.1:6379' }),
        keyPrefix: Str('Prefix of every key.', { pattern: '^[A-Za-z0-9_.:-]+$', title: 'letters, digits, _ . : -', default: 'aos' }),
        commandTimeoutMs: Int(1, 100, 'A slower Redis answer is a miss (the call is forwarded).'),
      },
      { description: 'The shared cache of a fleet.', default: {} },
    ),
  },
  { description: 'The shared response cache (docs/coordination.md).', default: {} },
);

const WorkflowsSchema = Obj(
  {
    start: Bool(
      true,
      "A call that names no workflow (`x-aos-workflow-id`, baggage `aos.workflow_id`) starts one: its id (the call's trace id) is returned in `x-aos-workflow-id` and sent upstream in `baggage`. false: only workflows the agents name are recorded.",
    ),
  },
  { description: 'Workflow ids on calls, tools and the audit trail (docs/coordination.md).', default: {} },
);

// ---- providers and routes ---------------------------------------------------------------------

const ProviderAuthSchema = Obj(
  {
    kind: Enum(['client-credentials', 'google-service-account', 'aws-sigv4'], {
      description:
        '`client-credentials`: an OAuth2 token (Microsoft Entra ID for Azure OpenAI) as a Bearer token. `google-service-account`: a Vertex AI access token from a service account key. `aws-sigv4`: every request signed with AWS Signature V4 (Bedrock).',
    }),
    tokenUrl: Type.Optional(Str('client-credentials: the token endpoint, e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token.', HTTP_URL)),
    clientId: Type.Optional(Str('client-credentials: the application (client) id.', { minLength: 1 })),
    clientSecret: Type.Optional(Str('client-credentials: the client secret.', { minLength: 1 })),
    clientSecretFile: Type.Optional(Str('client-credentials: read the client secret from this file instead (trimmed, relative to the config file).', { minLength: 1 })),
    scope: Type.Optional(Str('client-credentials: the scope asked for (default https://cognitiveservices.azure.com/.default).', { minLength: 1 })),
    credentialsFile: Type.Optional(Str('google-service-account: the service account key file (JSON), relative to the config file; its `token_uri` is where tokens are asked for.', { minLength: 1 })),
    scopes: Type.Optional(Type.Array(Str('An OAuth scope', { minLength: 1 }), { description: 'google-service-account: scopes (default cloud-platform).', minItems: 1 })),
    region: Type.Optional(Str('aws-sigv4: the AWS region, e.g. us-east-1.', { pattern: '^[a-z0-9-]+$', title: 'an AWS region' })),
    service: Type.Optional(Str('aws-sigv4: the signing name (default bedrock).', { pattern: '^[a-z0-9-]+$', title: 'a signing name' })),
    accessKeyId: Type.Optional(Str('aws-sigv4: the access key id (default: AWS_ACCESS_KEY_ID).', { minLength: 1 })),
    secretAccessKey: Type.Optional(Str('aws-sigv4: the secret access key (default: AWS_SECRET_ACCESS_KEY).', { minLength: 1 })),
    sessionToken: Type.Optional(Str('aws-sigv4: a session token of temporary credentials (default: AWS_SESSION_TOKEN, if set).', { minLength: 1 })),
    roleArn: Type.Optional(
      Str(
        'aws-sigv4: a role to assume (STS AssumeRole) with the base credentials (the keys, or the web identity of AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN); with webIdentityTokenFile, the role that web identity assumes (default AWS_ROLE_ARN). Temporary credentials are refreshed before they expire.',
        { pattern: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$', title: 'an IAM role ARN' },
      ),
    ),
    roleSessionName: Type.Optional(
      Str('aws-sigv4: the role session name, seen in CloudTrail (default AWS_ROLE_SESSION_NAME, or aos-gateway).', { pattern: '^[\\w+=,.@-]{2,64}$', title: 'a role session name' }),
    ),
    externalId: Type.Optional(Str('aws-sigv4: the external id the role trust policy asks for (AssumeRole with roleArn).', { minLength: 2 })),
    webIdentityTokenFile: Type.Optional(
      Str(
        'aws-sigv4: a web identity (OIDC) token file, read at every refresh, exchanged with STS AssumeRoleWithWebIdentity for roleArn (EKS IRSA sets AWS_WEB_IDENTITY_TOKEN_FILE, used when no keys are set).',
        { minLength: 1 },
      ),
    ),
    stsEndpoint: Type.Optional(Str('aws-sigv4: the STS endpoint (default the regional one, https://sts.REGION.amazonaws.com).', HTTP_URL)),
  },
  { description: 'A credential the gateway obtains or computes per request instead of a static key (`apiKey`); the two exclude each other.' },
);

const ProviderSchema = Obj(
  {
    dialect: Enum(['openai', 'azure-openai', 'anthropic', 'gemini', 'bedrock'], { description: 'The wire protocol the upstream speaks.' }),
    baseUrl: Str('What an SDK would be given as its base URL, e.g. https://api.openai.com/v1.', HTTP_URL),
    apiKey: Type.Optional(Str('The credential the gateway injects; whatever the agent sent is stripped.')),
    apiKeyFile: Type.Optional(Str('Read the credential from this file instead (trailing whitespace trimmed, relative to the config file).', { minLength: 1 })),
    authHeader: Type.Optional(
      Str('Header that carries the credential; defaults by dialect (`authorization` with `Bearer `, `x-api-key`, `api-key`, `x-goog-api-key`).', {
        pattern: '^[A-Za-z0-9-]+$',
        title: 'a header name',
      }),
    ),
    auth: Type.Optional(ProviderAuthSchema),
    deployments: Type.Optional(
      Dict(Str('The model it serves', { minLength: 1 }), {
        description:
          'Names the upstream uses for models (Azure deployments, Bedrock inference profiles or ARNs) mapped to model names: the policy, prices and metering see the model. When set, a name not listed is refused (404 `aos_model_not_found`).',
        minProperties: 1,
      }),
    ),
    headers: Headers('Extra headers set on every upstream request.'),
  },
  { description: 'An LLM provider.' },
);

const RouteSchema = Obj(
  {
    prefix: Str("Path prefix on the gateway, the equivalent of the provider's base URL.", {
      pattern: '^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$',
      title: 'a path like /v1 or /anthropic (no trailing slash)',
    }),
    provider: Str('The provider (a key of `providers`).', { minLength: 1 }),
    passthrough: Bool(false, 'Forward paths that are not a known operation of the dialect, uninspected.'),
  },
  { description: 'A mount: a path prefix served by a provider (earlier routes win a path two share).' },
);

// ---- tools ------------------------------------------------------------------------------------

const traits = {
  sensitive: Type.Optional(Type.Boolean({ description: 'Calls need a human approval (the default policy obliges `require_approval`).' })),
  readOnly: Type.Optional(Type.Boolean({ description: 'Calls only read: templates limited to read-only tools may use it.' })),
  labels: Type.Optional(Dict(Type.String(), { description: 'Free-form labels the policy reads as `input.call.tool.labels`.' })),
};

const ToolTraitsSchema = Obj(traits, { description: "Policy-visible traits of one tool of the server (they override the server's)." });

const toolCredential = {
  apiKey: Type.Optional(Str('The credential the gateway injects; whatever the agent sent is stripped.')),
  apiKeyFile: Type.Optional(Str('Read the credential from this file instead (trimmed, relative to the config file).', { minLength: 1 })),
  authHeader: Type.Optional(Str('Header that carries it (default `authorization`, as a Bearer token).', { pattern: '^[A-Za-z0-9-]+$', title: 'a header name' })),
  headers: Headers('Extra headers set on every upstream request.'),
  headersTimeoutMs: Type.Optional(Type.Integer({ description: 'Override upstream.headersTimeoutMs for this tool (slow APIs, long-running tools).', minimum: 1 })),
  bodyTimeoutMs: Type.Optional(Type.Integer({ description: 'Override upstream.bodyTimeoutMs for this tool (an MCP GET stream never times out while idle).', minimum: 1 })),
};

const JsonSchemaValue = (description: string) => Type.Unsafe<Record<string, unknown>>({ description, type: 'object' });

const HttpOperationSchema = Obj(
  {
    method: Enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], { description: 'The HTTP method.' }),
    path: Str('`/repos/{owner}/{repo}/issues`: `{name}` is one path segment, a final `{name*}` the rest of the path.', {
      pattern: '^/[^?#]*$',
      title: 'a path pattern like /repos/{owner}/{repo}/issues',
    }),
    bodySchema: Type.Optional(JsonSchemaValue('JSON Schema the request body must satisfy (the body is then required to be JSON).')),
    querySchema: Type.Optional(JsonSchemaValue('JSON Schema of the query parameters as an object (values coerced from strings: `?limit=5` is an integer).')),
    ...traits,
  },
  { description: "An operation of an HTTP tool: a method and a path pattern under the tool's base URL." },
);

const HttpToolSchema = Obj(
  {
    kind: Const('http'),
    baseUrl: Str("The API's base URL.", HTTP_URL),
    ...toolCredential,
    ...traits,
    operations: Dict(HttpOperationSchema, { description: 'HTTP: the only calls agents may make, by operation name.', minProperties: 1, propertyNames: { pattern: TOOL_NAME } }),
  },
  { description: 'A REST API agents reach at `/tools/<name>/…`, only through its declared operations.' },
);

const McpToolSchema = Obj(
  {
    kind: Const('mcp'),
    url: Str("The server's MCP endpoint (Streamable HTTP), e.g. http://github-mcp:3000/mcp.", HTTP_URL),
    ...toolCredential,
    ...traits,
    tools: Dict(ToolTraitsSchema, { description: "MCP: traits of single tools of the server, by tool name (they override the server's).", default: {} }),
    schemaCacheSec: Int(0, 300, "MCP: how long input schemas learned from the server's tools/list are trusted."),
    revision: Enum(['auto', '2025-11-25', '2026-07-28'], {
      description:
        'MCP: the protocol revision the server speaks. `auto`: asked once with `server/discover` (2026-07-28) and cached; a server that does not answer it speaks 2025-11-25 (sessions). Agents of either revision are translated to it (docs/tools-and-mcp.md).',
      default: 'auto',
    }),
  },
  { description: 'An MCP server (Streamable HTTP) agents reach at `/mcp/<name>`.' },
);

const ToolSchema = Type.Unsafe<Static<typeof HttpToolSchema> | Static<typeof McpToolSchema>>({
  description: 'A tool: `kind: http` (a REST API at `/tools/<name>/…`) or `kind: mcp` (an MCP server at `/mcp/<name>`).',
  type: 'object',
  required: ['kind'],
  properties: { kind: Enum(['http', 'mcp'], { description: '`http` or `mcp`: which keys the entry takes.' }) },
  // Discriminated by kind: each branch lists its own keys, so a typo is an unknown key.
  if: { properties: { kind: { const: 'http' } } },
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema `then` keyword, not a thenable
  then: HttpToolSchema,
  else: McpToolSchema,
});

// ---- fleet ------------------------------------------------------------------------------------

const ControlPlaneSchema = Obj(
  {
    urls: Type.Array(Str('A control plane gateway-API base URL.', { pattern: HTTP_URL.pattern, title: 'an http(s) URL without query or fragment' }), {
      description: 'The control plane (`aos control`, its gateways listener): one URL, or several replicas tried in turn (failover with jittered backoff).',
      minItems: 1,
    }),
    tokenFile: Type.Optional(
      Str("The gateway's credential (a JWT), read from this file and read again when it changes: in Kubernetes its projected ServiceAccount token. Relative to this config file.", {
        minLength: 1,
      }),
    ),
    tokenEnv: Type.Optional(Str('Or: the name of an environment variable holding the credential.', { minLength: 1 })),
    gatewayId: Type.Optional(Str("This gateway's instance id (e.g. the pod name from the environment); default: a UUID made at first start and kept in dataDir.", { minLength: 1, maxLength: 200 })),
    labels: Dict(Type.String(), {
      description: 'Free-form labels the control plane shows for this gateway; `pod`, `node` and `namespace` are added from POD_NAME, NODE_NAME and POD_NAMESPACE when set.',
      default: {},
    }),
    onKill: Enum(['cut', 'finish'], {
      description: "What a suspension does to the agent's calls in flight (a kill switch says it itself): `cut` ends them now, `finish` lets them run to their end.",
      default: 'cut',
    }),
    connectTimeoutMs: Int(100, 5000, 'Timeout of a control plane request (hello, ack, audit batch) and of opening the snapshot stream.'),
    backoffMaxMs: Int(100, 10_000, 'Longest wait between two attempts to reach the control plane (doubling from 200 ms, jittered).'),
    audit: Obj(
      {
        batchSize: Int(1, 500, 'Audit records per batch shipped to the control plane.', 10_000),
        intervalMs: Int(10, 1000, 'How often committed audit records are read and shipped.'),
        drainTimeoutMs: Int(0, 10_000, 'On shutdown (SIGTERM), how long the gateway keeps shipping what is committed before it exits.'),
      },
      { description: "Shipping of the audit trail to the control plane's fleet store, acknowledged (at least once, in chain order).", default: {} },
    ),
  },
  {
    description:
      'Run under a control plane (`aos control`): the agent registry, suspensions, kill switches and budget overrides come from its snapshots (the last good one kept in dataDir), and the audit trail is shipped to it. Absent: standalone.',
  },
);

// ---- approvals ---------------------------------------------------------------------------------

const ApprovalsSchema = Obj(
  {
    url: Type.Optional(
      Str(
        'Where a person decides an approval (the console, a ticket), `{id}` replaced by its id: a 2026-07-28 MCP agent that declared URL elicitation (`elicitation.url`) is answered `input_required` with it instead of the `aos_approval_pending` error, and retries the call once approved.',
        { pattern: '^https?://', minLength: 8 },
      ),
    ),
    approverRole: Str('Value of the roles claim (of an admin-audience token) that may list and decide approvals on the admin API; the admin role may too.', { minLength: 1, default: 'approver' }),
    webhook: Type.Optional(
      Obj(
        {
          url: Str('Where every new pending approval is POSTed as JSON (Slack-compatible: a top-level `text` and the `approval` record).', {
            pattern: HTTP_URL.pattern,
            title: HTTP_URL.title,
          }),
          headers: Headers('Extra headers of the POST (e.g. an authorization the receiver wants).'),
          timeoutMs: Int(100, 5000, 'Timeout of one attempt.', 60_000),
          retries: Int(0, 3, 'Attempts after a failed one (doubling from 250 ms); a failure is logged and counted, never blocks a call.', 10),
        },
        { description: 'Tell people a call waits for them (standalone; under a control plane, its own `approvals.webhook` tells them).' },
      ),
    ),
  },
  {
    description:
      'Human approvals of calls the policy obliges `require_approval` (docs/approvals.md). Standalone they are kept in dataDir (approvals.db) and decided on the admin API; under a control plane, there.',
    default: {},
  },
);

// ---- guardrails -------------------------------------------------------------------------------

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const Severity = (description: string) => Enum(SEVERITIES, { description });

/** The personal-data detectors a profile can enable (src/guardrails/detectors/, docs/guardrails.md). */
export const PII_DETECTORS = ['email', 'phone', 'card', 'iban', 'national_id', 'ip'] as const;

/** A detector or list name: one segment of a detector id (`custom.<name>`). */
const DETECTOR_NAME = { pattern: '^[a-z0-9][a-z0-9_-]*$', title: 'lower-case letters, digits, _ and -' };

const GuardrailPatternSchema = Obj(
  {
    name: Str('Detector id `custom.<name>`.', { ...DETECTOR_NAME, maxLength: 64 }),
    pattern: Str('A JavaScript regular expression (Unicode mode). Refused at load when it can backtrack super-linearly (docs/guardrails.md).', { minLength: 1, maxLength: 1024 }),
    severity: Severity('Severity of a match.'),
    label: Type.Optional(Str('Redaction placeholder type (`[LABEL_1]`); default: the name in upper case.', { pattern: '^[A-Z][A-Z0-9_]*$', title: 'upper-case letters, digits and _' })),
    ignoreCase: Bool(false, 'Match case-insensitively.'),
  },
  { description: 'A custom detector: a regular expression.' },
);

const GuardrailWordsSchema = Obj(
  {
    name: Str('Detector id `word.<name>`.', { ...DETECTOR_NAME, maxLength: 64 }),
    words: Type.Array(Str('A word or phrase.', { minLength: 1, maxLength: 200 }), { description: 'Matched as whole words, case-insensitively.', minItems: 1, maxItems: 100_000 }),
    severity: Severity('Severity of a match.'),
    label: Type.Optional(Str('Redaction placeholder type; default: the name in upper case.', { pattern: '^[A-Z][A-Z0-9_]*$', title: 'upper-case letters, digits and _' })),
  },
  { description: 'A word list detector (code names, customer names, …).' },
);

const GuardrailProfileSchema = Obj(
  {
    secrets: Bool(true, "Secret detectors (secretlint's recommended rules, JWTs, passwords, credentials in URLs)."),
    pii: Type.Array(Enum(PII_DETECTORS, { description: 'A personal-data detector.' }), {
      description: 'The personal-data detectors enabled (`card` includes well-known test cards, reported as `pii.card_test`).',
      uniqueItems: true,
      default: [...PII_DETECTORS],
    }),
    defaultRegion: Str('Country (ISO 3166 alpha-2) assumed for phone numbers written without a country code.', { pattern: '^[A-Z]{2}$', title: 'an ISO 3166 alpha-2 code like US', default: 'US' }),
    patterns: Type.Array(GuardrailPatternSchema, { description: 'Custom regular expression detectors.', default: [] }),
    words: Type.Array(GuardrailWordsSchema, { description: 'Word list detectors.', default: [] }),
    responses: Bool(false, "Scan the model's responses too (whole JSON and streams): findings are recorded (audit, metrics) under `response.`, the bytes pass unchanged."),
    restore: Bool(
      true,
      'When the policy obliges `redact`, put the redacted values back into the response of the same request (the agent sees its own data; the provider never does). false: the agent sees the placeholders.',
    ),
    maxScanBytes: Int(1024, 1024 * 1024, 'Text scanned per request, in UTF-16 code units (about bytes for ASCII); the rest is not scanned and the call is flagged.', 64 * 1024 * 1024),
    severities: Dict(Severity('The severity.'), {
      description: 'Severity overrides by detector id (`pii.ip: medium`).',
      default: {},
      propertyNames: { pattern: '^(secret|pii|custom|word)\\.[a-z0-9_-]+$' },
    }),
  },
  { description: "A guardrail profile: the detectors a template's calls are scanned with." },
);

const GuardrailsSchema = Obj(
  {
    mode: Enum(['on', 'off'], { description: 'off: no guardrails stage (the policy then sees no findings, and a `redact` obligation denies with aos_obligation_unsupported).', default: 'on' }),
    profiles: Dict(GuardrailProfileSchema, {
      description: 'Guardrail profiles by name (templates name one). `standard` and `strict` are built in; a profile configured under one of those names replaces it.',
      default: {},
      propertyNames: DETECTOR_NAME,
    }),
  },
  { description: 'Secret and personal-data detectors (docs/guardrails.md).', default: {} },
);

// ---- the file ---------------------------------------------------------------------------------

export const GatewayConfigSchema = Obj(
  {
    listen: ListenSchema,
    admin: listen(9090, 'The admin listener (health, readiness, metrics, admin API).'),
    dataDir: Str('SQLite databases and the local signing key (mode 0700/0600), relative to the working directory.', { minLength: 1, default: 'data' }),
    limits: LimitsSchema,
    upstream: UpstreamSchema,
    log: LogSchema,
    identity: IdentitySchema,
    policy: PolicySchema,
    audit: AuditSchema,
    otel: OtelSchema,
    metering: MeteringSchema,
    cache: CacheSchema,
    workflows: WorkflowsSchema,
    memory: MemorySchema,
    providers: Dict(ProviderSchema, { description: 'The LLM providers, by name.', minProperties: 1 }),
    routes: Type.Array(RouteSchema, { description: 'The mounts on the proxy listener.', minItems: 1 }),
    tools: Dict(ToolSchema, { description: 'The tool registry: HTTP APIs and MCP servers, by name (one path segment).', default: {}, propertyNames: { pattern: TOOL_NAME } }),
    approvals: ApprovalsSchema,
    guardrails: GuardrailsSchema,
    controlPlane: Type.Optional(ControlPlaneSchema),
  },
  { description: 'The gateway configuration (config/aos.yaml).' },
);

/**
 * The JSON Schema a config file is validated against: the schema above as plain JSON, with the
 * keys that have a default dropped from `required` (the validator fills them in).
 */
export const configSchema = fileSchema(GatewayConfigSchema);

// ---- the types, derived -----------------------------------------------------------------------

export type GatewayConfig = Static<typeof GatewayConfigSchema>;
export type ListenConfig = Static<typeof ListenSchema>;
export type IdentityConfig = Static<typeof IdentitySchema>;
/** A trusted token issuer. */
export type IssuerConfig = Static<typeof IssuerSchema>;
export type PolicyConfig = Static<typeof PolicySchema>;
/** The audit trail (src/audit/). */
export type AuditConfig = Static<typeof AuditSchema>;
/** OpenTelemetry export (src/telemetry/otel.ts). */
export type OtelConfig = Static<typeof OtelSchema>;
export type MeteringConfig = Static<typeof MeteringSchema>;
/** The response cache (src/coordination/). */
export type CacheConfig = Static<typeof CacheSchema>;
export type CacheScope = (typeof CACHE_SCOPES)[number];
/** Workflows (src/coordination/). */
export type WorkflowsConfig = Static<typeof WorkflowsSchema>;
export type ProviderConfig = Static<typeof ProviderSchema>;
export type ProviderAuthConfig = Static<typeof ProviderAuthSchema>;
export type DialectName = ProviderConfig['dialect'];
export type RouteConfig = Static<typeof RouteSchema>;
/** Policy-visible traits of a tool, an HTTP tool's operation or an MCP server's tool. */
export type ToolTraits = Static<typeof ToolTraitsSchema>;
export type HttpOperationConfig = Static<typeof HttpOperationSchema>;
export type HttpToolConfig = Static<typeof HttpToolSchema>;
export type McpToolConfig = Static<typeof McpToolSchema>;
export type ToolConfig = HttpToolConfig | McpToolConfig;
/** Human approvals (src/approvals/). */
export type ApprovalsConfig = Static<typeof ApprovalsSchema>;
/** The control plane this gateway runs under (src/fleet/). */
export type ControlPlaneConfig = Static<typeof ControlPlaneSchema>;
/** The guardrails section (src/guardrails/). */
export type GuardrailsConfig = Static<typeof GuardrailsSchema>;
/** One guardrail profile. */
export type GuardrailProfile = Static<typeof GuardrailProfileSchema>;
export type PiiDetectorName = (typeof PII_DETECTORS)[number];
