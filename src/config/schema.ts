/** The gateway configuration: its TypeScript shape and the JSON Schema it is validated against. */
import { JWT_ALGORITHMS } from './algorithms.js';

export type DialectName = 'openai' | 'anthropic';

export interface ProviderConfig {
  /** The wire protocol the upstream speaks. */
  dialect: DialectName;
  /** What an SDK would be given as its base URL, e.g. https://api.openai.com/v1. */
  baseUrl: string;
  /** The credential the gateway injects; whatever the agent sent is stripped. */
  apiKey?: string;
  /** Read the credential from this file instead (trailing whitespace trimmed). */
  apiKeyFile?: string;
  /** Header that carries the credential; defaults by dialect (authorization / x-api-key). */
  authHeader?: string;
  /** Extra headers set on every upstream request. */
  headers: Record<string, string>;
}

export interface RouteConfig {
  /** Path prefix on the gateway, the equivalent of the provider's base URL. */
  prefix: string;
  provider: string;
  /** Forward paths that are not a known operation of the dialect, uninspected. */
  passthrough: boolean;
}

export interface ListenConfig {
  host: string;
  port: number;
}

/** A trusted token issuer. */
export interface IssuerConfig {
  /** The `iss` claim value. */
  issuer: string;
  /** JWKS endpoint; when absent and `discovery` is on, read from the issuer's OIDC discovery document. */
  jwksUrl?: string;
  discovery: boolean;
  /** Static keys: PEM (SPKI public key or certificate) or JWK / JWKS JSON files. */
  keyFiles: string[];
  /** Expected `aud`; defaults to identity.audience. */
  audience?: string;
  /** Kubernetes projected ServiceAccount tokens: map the kubernetes.io claims onto the agent. */
  kubernetes: boolean;
  requiredClaims: string[];
  jwksCacheSec: number;
  /** Least time between two JWKS fetches triggered by an unknown `kid`. */
  jwksRefreshMinSec: number;
  jwksTimeoutMs: number;
  /** Extra CA certificates (PEM) for the issuer's HTTPS, e.g. the in-cluster API server's. */
  caFile?: string;
  /** A bearer token file sent with discovery/JWKS fetches, re-read each time (a projected token). */
  tokenFile?: string;
}

export interface IdentityConfig {
  /** `required`: every proxied call needs a valid agent token. `off`: calls are anonymous. */
  mode: 'required' | 'off';
  /** `aud` agent tokens must carry. */
  audience: string;
  /** `aud` admin tokens must carry (a separate audience, so an agent token is never an admin one). */
  adminAudience: string;
  /** Value of the roles claim that grants the admin API. */
  adminRole: string;
  algorithms: string[];
  clockSkewSec: number;
  maxTokenBytes: number;
  /** Verified tokens remembered (bounded; an entry never outlives its `exp`). */
  cacheSize: number;
  /** A signing key generated in dataDir on first start and trusted, for local development. */
  localIssuer: { enabled: boolean; issuer: string };
  issuers: IssuerConfig[];
  /** The agent registry file, relative to this config file. */
  registry: string;
}

export interface PolicyConfig {
  /** `enforce`: every call is decided by the policy. `off`: no policy stage at all. */
  mode: 'enforce' | 'off';
  /** Exactly one source: a bundle file, a policies directory (development), or an HTTP(S) bundle URL. */
  bundle: { file?: string; directory?: string; url?: string };
  /** How often a URL source is polled (ETag / If-None-Match). */
  pollIntervalSec: number;
  /** Bearer token sent to the bundle server, if it needs one. */
  token?: string;
  /** When set, bundles must carry a valid .signatures.json signed by this key (PEM public key or JWK file). */
  verification?: { keyFile: string; keyId?: string; scope?: string; algorithm?: string };
  /** Cap on the Wasm memory (64 KiB pages); exhausting it denies the call. */
  maxMemoryPages: number;
  /** Serialized policy input larger than this is denied without evaluation. */
  maxInputBytes: number;
}

/** The audit trail (src/audit/): one hash-chained event per call in its own SQLite file. */
export interface AuditConfig {
  /** `on`: every call is recorded. `off`: no audit stage, no audit file. */
  mode: 'on' | 'off';
  /** The database file, in dataDir. */
  file: string;
  /** Group commit: at most this many milliseconds between a call's end and its commit. */
  flushMs: number;
  /** Group commit: a batch of this many events commits at once, without waiting for flushMs. */
  batchSize: number;
  /** Events waiting for their commit beyond which new ones stay in the intent journal only (recovered at the next start). */
  maxQueue: number;
  /** SHA-256 of request and response bodies (sizes are always recorded). */
  hashBodies: boolean;
  retention: { maxAgeDays: number; maxSizeMb: number; intervalSec: number };
}

/** OpenTelemetry export (src/telemetry/otel.ts): absent unless an endpoint is configured. */
export interface OtelConfig {
  /** OTLP/HTTP base URL, e.g. http://collector:4318 (traces go to /v1/traces, logs to /v1/logs). */
  endpoint?: string;
  serviceName: string;
  headers: Record<string, string>;
  traces: boolean;
  /** Audit events as OTel log records. */
  logs: boolean;
  /** Spans/log records held for export; beyond it they are dropped and counted. */
  maxQueue: number;
  batchSize: number;
  scheduledDelayMs: number;
  exportTimeoutMs: number;
}

/** Policy-visible traits of a tool, an HTTP tool's operation or an MCP server's tool. */
export interface ToolTraits {
  /** Calls need a human approval (the default policy obliges `require_approval`). */
  sensitive?: boolean;
  /** Calls only read: templates limited to read-only tools may use it. */
  readOnly?: boolean;
  /** Free-form labels the policy reads as `input.call.tool.labels`. */
  labels?: Record<string, string>;
}

/** An operation of an HTTP tool: a method and a path pattern under the tool's base URL. */
export interface HttpOperationConfig extends ToolTraits {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `/repos/{owner}/{repo}/issues`: `{name}` is one path segment, a final `{name*}` the rest of the path. */
  path: string;
  /** JSON Schema the request body must satisfy (the body is then required to be JSON). */
  bodySchema?: Record<string, unknown>;
  /** JSON Schema of the query parameters as an object (values coerced from strings: `?limit=5` is an integer). */
  querySchema?: Record<string, unknown>;
}

interface ToolCredential {
  /** The credential the gateway injects; whatever the agent sent is stripped. */
  apiKey?: string;
  apiKeyFile?: string;
  /** Header that carries it (default `authorization`, as a Bearer token). */
  authHeader?: string;
  /** Extra headers set on every upstream request. */
  headers: Record<string, string>;
  /** Override upstream.headersTimeoutMs / bodyTimeoutMs for this tool (slow APIs, long-running tools). */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

/** A REST API agents reach at `/tools/<name>/…`, only through its declared operations. */
export interface HttpToolConfig extends ToolTraits, ToolCredential {
  kind: 'http';
  baseUrl: string;
  operations: Record<string, HttpOperationConfig>;
}

/** An MCP server (Streamable HTTP) agents reach at `/mcp/<name>`. */
export interface McpToolConfig extends ToolTraits, ToolCredential {
  kind: 'mcp';
  /** The server's MCP endpoint, e.g. http://github-mcp:3000/mcp. */
  url: string;
  /** Traits of single tools of the server, by tool name (they override the server's). */
  tools: Record<string, ToolTraits>;
  /** How long input schemas learned from the server's tools/list are trusted. */
  schemaCacheSec: number;
}

export type ToolConfig = HttpToolConfig | McpToolConfig;

export interface MeteringConfig {
  /** `enforce`: usage and cost of every call, budgets and rate limits. `off`: no metering stage at all. */
  mode: 'enforce' | 'off';
  /** The price table, relative to this config file (default: the packaged config/prices.yaml). */
  prices?: string;
  /** Where budget counters live: `sqlite` (embedded, one gateway) or `redis` (a fleet shares them). */
  store: 'sqlite' | 'redis';
  redis: {
    url: string;
    /** Prefix of every key (one hash tag, so the scripts also run on Redis Cluster). */
    keyPrefix: string;
    /** Redis unreachable: `closed` denies (503 aos_budget_unavailable); `local` keeps a conservative local limit. */
    failMode: 'closed' | 'local';
    /** In `local` mode, the share of each limit this gateway may spend on its own while Redis is away. */
    localFraction: number;
    commandTimeoutMs: number;
  };
  /** Share of a limit past which a call is flagged `budget_soft_limit` (a budget's soft_ratio wins). */
  softThreshold: number;
  /** A reservation not settled by then (a crashed or hung call) expires. */
  reservationTtlSec: number;
  /** Output cap assumed for the worst case when neither the request nor the template sets one. */
  defaultMaxOutputTokens: number;
  /** SQLite store: how often the in-memory counters are snapshotted into budgets.db (the append log covers the rest). */
  snapshotIntervalMs: number;
  /** Add an `agent` label to the spend and token metrics (registered agents only, so it stays bounded). */
  agentMetrics: boolean;
  /**
   * When the policy input carries the budget: `always`, or `nearLimit` (only once this call would
   * take a budget past its soft threshold). Budget figures change with every call, so `always`
   * defeats the policy's decision cache; the store enforces hard limits either way.
   */
  policyBudget: 'always' | 'nearLimit';
}

export interface GatewayConfig {
  listen: ListenConfig;
  admin: ListenConfig;
  dataDir: string;
  limits: {
    maxBodyBytes: number;
    maxHeaderBytes: number;
    maxHeaders: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    shutdownGraceMs: number;
  };
  upstream: {
    connections: number;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    keepAliveTimeoutMs: number;
    retries: number;
  };
  log: { level: 'debug' | 'info' | 'warn' | 'error' | 'silent' };
  identity: IdentityConfig;
  policy: PolicyConfig;
  audit: AuditConfig;
  otel: OtelConfig;
  metering: MeteringConfig;
  providers: Record<string, ProviderConfig>;
  routes: RouteConfig[];
  /** The tool registry: HTTP APIs and MCP servers, by name. */
  tools: Record<string, ToolConfig>;
}

const int = (minimum: number, dflt: number, maximum?: number) =>
  ({ type: 'integer', minimum, ...(maximum === undefined ? {} : { maximum }), default: dflt }) as const;

const listen = (port: number) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { host: { type: 'string', minLength: 1, default: '127.0.0.1' }, port: int(0, port, 65535) },
});

const traits = {
  sensitive: { type: 'boolean' },
  readOnly: { type: 'boolean' },
  labels: { type: 'object', additionalProperties: { type: 'string' } },
} as const;

const toolCredential = {
  apiKey: { type: 'string' },
  apiKeyFile: { type: 'string', minLength: 1 },
  authHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$', title: 'a header name' },
  headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
  headersTimeoutMs: { type: 'integer', minimum: 1 },
  bodyTimeoutMs: { type: 'integer', minimum: 1 },
} as const;

const HTTP_URL = { type: 'string', pattern: '^https?://[^/?#]+(/[^?#]*)?$', title: 'an http(s) URL without query or fragment' } as const;

/** Names that are one path segment: `/tools/<name>`, `/mcp/<name>`. */
const TOOL_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]*$';


export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['providers', 'routes'],
  properties: {
    listen: listen(8080),
    admin: listen(9090),
    dataDir: { type: 'string', minLength: 1, default: 'data' },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxBodyBytes: int(1, 10 * 1024 * 1024),
        maxHeaderBytes: int(1024, 16 * 1024, 1024 * 1024),
        maxHeaders: int(1, 100, 1000),
        headersTimeoutMs: int(1, 10_000),
        requestTimeoutMs: int(1, 60_000),
        keepAliveTimeoutMs: int(1, 65_000),
        shutdownGraceMs: int(0, 30_000),
      },
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connections: int(1, 256),
        connectTimeoutMs: int(1, 5_000),
        headersTimeoutMs: int(1, 300_000),
        bodyTimeoutMs: int(1, 120_000),
        keepAliveTimeoutMs: int(1, 30_000),
        retries: int(0, 2, 10),
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { level: { enum: ['debug', 'info', 'warn', 'error', 'silent'], default: 'info' } },
    },
    identity: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ['required', 'off'], default: 'required' },
        audience: { type: 'string', minLength: 1, default: 'aos-gateway' },
        adminAudience: { type: 'string', minLength: 1, default: 'aos-admin' },
        adminRole: { type: 'string', minLength: 1, default: 'admin' },
        // Asymmetric algorithms only: never `none`, never an HMAC secret that could be a public key.
        algorithms: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: JWT_ALGORITHMS }, default: JWT_ALGORITHMS },
        clockSkewSec: int(0, 30, 600),
        maxTokenBytes: int(256, 8192, 65536),
        cacheSize: int(0, 10_000),
        localIssuer: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { enabled: { type: 'boolean', default: true }, issuer: { type: 'string', minLength: 1, default: 'aos-local' } },
        },
        issuers: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['issuer'],
            properties: {
              issuer: { type: 'string', minLength: 1 },
              jwksUrl: { type: 'string', pattern: '^https?://', title: 'an http(s) URL' },
              discovery: { type: 'boolean', default: false },
              keyFiles: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
              audience: { type: 'string', minLength: 1 },
              kubernetes: { type: 'boolean', default: false },
              requiredClaims: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['sub'] },
              jwksCacheSec: int(1, 300),
              jwksRefreshMinSec: int(0, 30),
              jwksTimeoutMs: int(1, 2_000),
              caFile: { type: 'string', minLength: 1 },
              tokenFile: { type: 'string', minLength: 1 },
            },
          },
        },
        registry: { type: 'string', minLength: 1, default: 'agents.yaml' },
      },
    },
    policy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ['enforce', 'off'], default: 'enforce' },
        bundle: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          default: { file: '../policies/bundle.tar.gz' },
          properties: {
            file: { type: 'string', minLength: 1 },
            directory: { type: 'string', minLength: 1 },
            url: { type: 'string', pattern: '^https?://', title: 'an http(s) URL' },
          },
        },
        pollIntervalSec: int(1, 30),
        token: { type: 'string' },
        verification: {
          type: 'object',
          additionalProperties: false,
          required: ['keyFile'],
          properties: {
            keyFile: { type: 'string', minLength: 1 },
            keyId: { type: 'string', minLength: 1 },
            scope: { type: 'string', minLength: 1 },
            algorithm: { type: 'string', minLength: 1 },
          },
        },
        maxMemoryPages: int(2, 512, 65536),
        maxInputBytes: int(1024, 262_144),
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ['on', 'off'], default: 'on' },
        file: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', title: 'a file name (in dataDir)', default: 'audit.db' },
        flushMs: int(1, 50, 10_000),
        batchSize: int(1, 512, 100_000),
        maxQueue: int(1, 100_000),
        hashBodies: { type: 'boolean', default: true },
        retention: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { maxAgeDays: int(0, 90), maxSizeMb: int(0, 0), intervalSec: int(1, 3600) },
        },
      },
    },
    otel: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        endpoint: { type: 'string', pattern: '^https?://[^/?#]+(/[^?#]*)?$', title: 'an http(s) URL, e.g. http://127.0.0.1:4318' },
        serviceName: { type: 'string', minLength: 1, default: 'aos-gateway' },
        headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
        traces: { type: 'boolean', default: true },
        logs: { type: 'boolean', default: true },
        maxQueue: int(1, 4096),
        batchSize: int(1, 512),
        scheduledDelayMs: int(1, 1000),
        exportTimeoutMs: int(1, 5000),
      },
    },
    metering: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ['enforce', 'off'], default: 'enforce' },
        prices: { type: 'string', minLength: 1 },
        store: { enum: ['sqlite', 'redis'], default: 'sqlite' },
        redis: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            url: { type: 'string', pattern: '^rediss?://', title: 'a redis:// or rediss:// URL', default: 'redis://127.0.0.1:6379' },
            keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.:-]+$', title: 'letters, digits, _ . : -', default: 'aos' },
            failMode: { enum: ['closed', 'local'], default: 'closed' },
            localFraction: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1 },
            commandTimeoutMs: int(1, 250),
          },
        },
        softThreshold: { type: 'number', minimum: 0, maximum: 1, default: 0.8 },
        reservationTtlSec: int(1, 900),
        defaultMaxOutputTokens: int(1, 4096),
        snapshotIntervalMs: int(10, 1000),
        agentMetrics: { type: 'boolean', default: false },
        policyBudget: { enum: ['always', 'nearLimit'], default: 'nearLimit' },
      },
    },
    providers: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['dialect', 'baseUrl'],
        properties: {
          dialect: { enum: ['openai', 'anthropic'] },
          baseUrl: { type: 'string', pattern: '^https?://[^/?#]+(/[^?#]*)?$', title: 'an http(s) URL without query or fragment' },
          apiKey: { type: 'string' },
          apiKeyFile: { type: 'string', minLength: 1 },
          authHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$', title: 'a header name' },
          headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
        },
      },
    },
    routes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['prefix', 'provider'],
        properties: {
          prefix: { type: 'string', pattern: '^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$', title: 'a path like /v1 or /anthropic (no trailing slash)' },
          provider: { type: 'string', minLength: 1 },
          passthrough: { type: 'boolean', default: false },
        },
      },
    },
    tools: {
      type: 'object',
      default: {},
      propertyNames: { pattern: TOOL_NAME },
      additionalProperties: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { enum: ['http', 'mcp'] } },
        // Discriminated by kind: each branch lists its own keys, so a typo is an unknown key.
        if: { properties: { kind: { const: 'http' } } },
        then: {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'baseUrl', 'operations'],
          properties: {
            kind: { const: 'http' },
            baseUrl: HTTP_URL,
            ...toolCredential,
            ...traits,
            operations: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: TOOL_NAME },
              additionalProperties: {
                type: 'object',
                additionalProperties: false,
                required: ['method', 'path'],
                properties: {
                  method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] },
                  path: { type: 'string', pattern: '^/[^?#]*$', title: 'a path pattern like /repos/{owner}/{repo}/issues' },
                  bodySchema: { type: 'object' },
                  querySchema: { type: 'object' },
                  ...traits,
                },
              },
            },
          },
        },
        else: {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'url'],
          properties: {
            kind: { const: 'mcp' },
            url: HTTP_URL,
            ...toolCredential,
            ...traits,
            tools: {
              type: 'object',
              default: {},
              additionalProperties: { type: 'object', additionalProperties: false, properties: traits },
            },
            schemaCacheSec: int(0, 300),
          },
        },
      },
    },
  },
} as const;
