/**
 * The control plane's configuration (config/control.yaml), written once as a TypeBox schema like
 * the gateway's (config/schema.ts) and loaded with the same YAML loader: `${ENV}` substitution,
 * defaults filled in, every problem named with its line and column.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ConfigError } from '../config/config-error.js';
import { GatewayConfigSchema } from '../config/schema.js';
import { Bool, Dict, Enum, fileSchema, Int, Obj, Str } from '../config/schema-builders.js';
import { loadYamlFile } from '../config/yaml-file.js';
import { GATEWAY_AUDIENCE } from './protocol.js';

const listen = (port: number, description: string) =>
  Obj(
    {
      host: Str('Address to listen on (`0.0.0.0` for every interface).', { minLength: 1, default: '127.0.0.1' }),
      port: Int(0, port, 'TCP port (0: any free port).', 65535),
    },
    { description, default: {} },
  );

/** The gateway's own issuer schema: the control plane trusts tokens exactly as a gateway does. */
const Issuers = (description: string) => Type.Array(GatewayConfigSchema.properties.identity.properties.issuers.items, { description, default: [] });

const StoreSchema = Obj(
  {
    kind: Enum(['sqlite', 'postgres'], { description: '`sqlite`: one control plane, a file in dataDir. `postgres`: replicas sharing one PostgreSQL.', default: 'sqlite' }),
    file: Str('The SQLite file, in dataDir.', { minLength: 1, default: 'control.db' }),
    urlEnv: Str('The environment variable holding the PostgreSQL URL (`postgres://user:pass@host/db`).', { minLength: 1, default: 'AOS_CONTROL_DATABASE_URL' }),
    pollMs: Int(100, 5_000, 'How often a replica checks the fleet version besides LISTEN/NOTIFY (the fallback when a notification is lost).'),
  },
  { description: 'Where the control plane keeps its state.', default: {} },
);

export const ControlConfigSchema = Obj(
  {
    listen: Obj(
      {
        gateways: listen(7070, 'The gateway API: hello, snapshot stream, acks, audit shipping.'),
        people: listen(7071, "The people's API under /api (CLI, console)."),
      },
      { description: 'The two listeners.', default: {} },
    ),
    dataDir: Str('The SQLite store, relative to the working directory.', { minLength: 1, default: 'data/control' }),
    log: Obj({ level: Enum(['debug', 'info', 'warn', 'error', 'silent'], { description: 'JSON lines on stderr from this level up.', default: 'info' }) }, { description: 'The log.', default: {} }),
    maxBodyBytes: Int(1024, 8 * 1024 * 1024, 'Larger request bodies are refused: 413 `control_payload_too_large`.'),
    store: StoreSchema,
    localKey: Obj(
      {
        enabled: Bool(true, "Trust the development key a local gateway generated (its dataDir's local-signing-key.json): `aos token mint --admin` works here."),
        dataDir: Str("The gateway's dataDir holding the key (created there when missing).", { minLength: 1, default: 'data' }),
        issuer: Str('The `iss` of that key’s tokens.', { minLength: 1, default: 'aos-local' }),
      },
      { description: 'Local development trust, for gateways and people on one machine.', default: {} },
    ),
    gateways: Obj(
      {
        audience: Str('`aud` gateway tokens must carry.', { minLength: 1, default: GATEWAY_AUDIENCE }),
        issuers: Issuers('Issuers of gateway credentials (in Kubernetes: the cluster, for projected ServiceAccount tokens).'),
      },
      { description: 'How gateways authenticate.', default: {} },
    ),
    people: Obj(
      {
        audience: Str('`aud` admin tokens must carry.', { minLength: 1, default: 'aos-admin' }),
        rolesClaim: Str('The claim listing the roles (viewer, operator, approver, admin).', { minLength: 1, default: 'roles' }),
        issuers: Issuers('Issuers of admin tokens (your identity provider).'),
        adminTokenEnv: Str('The environment variable holding a static admin token (role admin); unset or empty: none.', { minLength: 1, default: 'AOS_CONTROL_TOKEN' }),
      },
      { description: "How people authenticate on the people's API.", default: {} },
    ),
    seed: Obj(
      {
        registry: Type.Optional(Str('An agents.yaml imported on first start (relative to this file): templates as version 1 active, agents, budgets.', { minLength: 1 })),
      },
      { description: 'What an empty store starts from.', default: {} },
    ),
    policy: Obj(
      {
        bundleUrl: Type.Optional(Str('The policy bundle URL the fleet runs (in every snapshot).', { pattern: '^https?://', title: 'an http(s) URL' })),
        revision: Type.Optional(Str('The bundle revision expected (null: whatever the URL serves).', { minLength: 1 })),
      },
      { description: 'The fleet policy bundle; absent: each gateway keeps its own policy config.', default: {} },
    ),
    console: Obj(
      {
        enabled: Bool(true, 'Serve the web console under `/console/` on the people listener (docs/console.md).'),
        allowedHosts: Type.Optional(
          Type.Array(Str('A host name (port ignored), or `*` for any.', { minLength: 1 }), {
            description:
              'Host names the console and cookie sessions answer to (against DNS rebinding). Default: `localhost`, `127.0.0.1`, `[::1]` when the people listener is on loopback, any host otherwise (then set the names people use).',
          }),
        ),
        sessionMinutes: Int(1, 480, 'How long a console session lasts after sign-in (a JWT session ends with the token, if sooner).', 7 * 24 * 60),
        secureCookie: Enum(['auto', 'always', 'never'], {
          description: '`Secure` on the session cookie. `auto`: always, except when the people listener is on loopback (plain http on this machine). `never` only behind nothing but loopback.',
          default: 'auto',
        }),
        idleMinutes: Int(1, 60, 'A console session unused this long ends (its last use is recorded in the store at most once a minute).', 7 * 24 * 60),
        liveMs: Int(100, 2000, 'How often the live fleet summary is pushed to open consoles (server-sent events).', 60_000),
        oidc: Type.Optional(
          Obj(
            {
              issuer: Str('The OpenID Provider’s issuer URL (its `/.well-known/openid-configuration` is read at the first sign-in).', { pattern: '^https?://', title: 'an http(s) URL' }),
              clientId: Str('The client id registered at the provider for the console.', { minLength: 1 }),
              clientSecretEnv: Type.Optional(Str('The environment variable holding the client secret (a confidential client); absent: a public client (PKCE only).', { minLength: 1 })),
              tokenAuth: Enum(['auto', 'client_secret_basic', 'client_secret_post', 'none'], {
                description: 'How the console authenticates at the token endpoint. `auto`: `none` without a secret, else `client_secret_basic` unless the provider supports only `client_secret_post`.',
                default: 'auto',
              }),
              scopes: Str('The scopes asked for (space-separated; `openid` is added when missing).', { minLength: 1, default: 'openid profile email' }),
              rolesClaim: Str(
                'The claim listing the person’s roles or groups; a dotted path reads a nested one (`realm_access.roles` in Keycloak). Read from the ID token, else from the userinfo endpoint.',
                {
                  minLength: 1,
                  default: 'roles',
                },
              ),
              roleMap: Dict(Enum(['viewer', 'operator', 'approver', 'admin'], { description: 'The control plane role.' }), {
                description: 'Provider role or group names → control plane roles (a value that is itself a role name counts as that role). The highest wins.',
                default: {},
              }),
              actorClaim: Str('The claim that names the person in the actions log (`sub` when the token lacks it).', { minLength: 1, default: 'preferred_username' }),
              signOutAtProvider: Bool(
                false,
                'Sign-out also ends the session at the provider (RP-initiated logout at its `end_session_endpoint`, back to `/console/`: register `<console origin>/console/` as a post-logout redirect URI there).',
              ),
              name: Type.Optional(Str('The provider’s name on the sign-in button (“Sign in with …”); default: the issuer’s host.', { minLength: 1 })),
              redirectUrl: Type.Optional(
                Str('The callback registered at the provider; default: `https://<Host>/console/oidc/callback` (`http` on a loopback listener without `secureCookie: always`).', {
                  pattern: '^https?://',
                  title: 'an http(s) URL',
                }),
              ),
            },
            { description: 'Sign-in with an OpenID Connect provider (authorization code flow with PKCE); absent: the admin token or a pasted JWT only.' },
          ),
        ),
      },
      { description: 'The web console (docs/console.md).', default: {} },
    ),
    approvals: Obj(
      {
        webhook: Type.Optional(
          Obj(
            {
              url: Str('Where every new pending approval is POSTed as JSON (Slack-compatible: a top-level `text` and the `approval` record).', {
                pattern: '^https?://',
                title: 'an http(s) URL',
              }),
              headers: Dict(Type.String(), { description: 'Extra headers of the POST.', default: {} }),
              timeoutMs: Int(100, 5000, 'Timeout of one attempt.', 60_000),
              retries: Int(0, 3, 'Attempts after a failed one (doubling from 250 ms); a failure is logged and counted.', 10),
            },
            { description: 'Tell people a call waits for them.' },
          ),
        ),
      },
      { description: "The approvals of the fleet's calls (docs/approvals.md).", default: {} },
    ),
  },
  { description: 'The control plane configuration (config/control.yaml).' },
);

export const controlConfigSchema = fileSchema(ControlConfigSchema);
export type ControlConfig = Static<typeof ControlConfigSchema>;

export interface LoadedControlConfig {
  readonly file: string;
  readonly config: ControlConfig;
  /** The PostgreSQL URL (from store.urlEnv) when store.kind is postgres. */
  readonly postgresUrl: string | null;
  /** The static admin token (from people.adminTokenEnv), or null. */
  readonly adminToken: string | null;
  /** The console's OIDC client secret (from console.oidc.clientSecretEnv), or null: a public client. */
  readonly oidcClientSecret: string | null;
}

/** Reads and validates a control plane config. Throws ConfigError. */
export function loadControlConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedControlConfig {
  const { data: config, where } = loadYamlFile<ControlConfig>(file, controlConfigSchema, 'control plane config', env);
  let postgresUrl: string | null = null;
  if (config.store.kind === 'postgres') {
    postgresUrl = env[config.store.urlEnv] || null;
    if (postgresUrl === null) throw new ConfigError(file, [`${where(['store', 'kind'])}: postgres needs the URL in the environment variable ${config.store.urlEnv}`], 'AOS_ERR_CONFIG_ENV_UNSET');
  }
  const token = env[config.people.adminTokenEnv];
  if (token !== undefined && token !== '' && token.length < 16) {
    throw new ConfigError(file, [`${where(['people', 'adminTokenEnv'])}: the admin token in ${config.people.adminTokenEnv} is too short (16 characters at least)`]);
  }
  const oidc = config.console.oidc;
  let oidcClientSecret: string | null = null;
  if (oidc?.clientSecretEnv !== undefined) {
    oidcClientSecret = env[oidc.clientSecretEnv] || null;
    if (oidcClientSecret === null) {
      throw new ConfigError(file, [`${where(['console', 'oidc', 'clientSecretEnv'])}: the client secret is not in the environment variable ${oidc.clientSecretEnv}`], 'AOS_ERR_CONFIG_ENV_UNSET');
    }
  }
  return { file, config, postgresUrl, adminToken: token || null, oidcClientSecret };
}
