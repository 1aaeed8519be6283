/**
 * `aos control`: the composition root of the control plane. Config → store (SQLite or
 * PostgreSQL) → seed → verifiers → metrics → snapshot hub → the two listeners (gateways, people,
 * which also serves the metrics and the web console).
 */
import { createServer, type Server } from 'node:http';
import { dirname, resolve } from 'node:path';
import { type AgentRegistryFile, agentRegistrySchema } from '../config/agents-schema.js';
import { loadYamlFile } from '../config/yaml-file.js';
import { createVerifier } from '../identity/verifier.js';
import { createLogger, type Logger } from '../log.js';
import { listen } from '../server/listeners.js';
import { createApprovalWebhook } from './approval-webhook.js';
import { createGatewayAuth, createPeopleAuth, identityFor } from './auth.js';
import { type LoadedControlConfig, loadControlConfig } from './config.js';
import { createConsole } from './console.js';
import { createGatewayApi } from './gateway-api.js';
import { createHub, type Hub } from './hub.js';
import { countGateways, createControlMetrics } from './metrics.js';
import { createOidc } from './oidc.js';
import { createPeopleApi } from './people-api.js';
import { GATEWAY_PATHS } from './protocol.js';
import type { ControlStore } from './store.js';
import { openPostgresStore } from './store-postgres.js';
import { openSqliteStore } from './store-sqlite.js';

export interface ControlPlaneOptions {
  configFile: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Ping interval of the snapshot streams (tests shorten it). */
  pingMs?: number;
}

export interface ControlPlane {
  readonly log: Logger;
  readonly config: LoadedControlConfig;
  /** `http://host:port` of each listener, once started. */
  readonly addresses: { gateways: string; people: string };
  store(): ControlStore;
  hub(): Hub;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function openStore(loaded: LoadedControlConfig, log: Logger): Promise<ControlStore> {
  const { config } = loaded;
  if (config.store.kind === 'postgres') return openPostgresStore(loaded.postgresUrl!, log);
  return openSqliteStore(resolve(config.dataDir), config.store.file);
}

/** Imports the seed registry into an empty store (a store that holds templates is left alone). */
async function seed(loaded: LoadedControlConfig, store: ControlStore, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const file = loaded.config.seed.registry;
  if (file === undefined) return;
  const path = resolve(dirname(loaded.file), file);
  const { data } = loadYamlFile<AgentRegistryFile>(path, agentRegistrySchema, 'agent registry', env);
  if (await store.seed(data, { actor: 'control-plane', action: 'seed', target: path, reason: 'first start: imported the seed registry' })) {
    log.info('store seeded from the registry', { file: path, templates: Object.keys(data.templates).length, agents: data.agents.length });
  }
}

const url = (a: { host: string; port: number }) => `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createControlPlane(opts: ControlPlaneOptions): ControlPlane {
  const env = opts.env ?? process.env;
  const loaded = loadControlConfig(opts.configFile, env);
  const { config } = loaded;
  const log = opts.log ?? createLogger(config.log.level);
  const addresses = { gateways: '', people: '' };
  let store: ControlStore | null = null;
  let hub: Hub | null = null;
  const servers: Server[] = [];
  const closers: (() => unknown)[] = [];

  return {
    log,
    config: loaded,
    addresses,
    store: () => store!,
    hub: () => hub!,
    async start() {
      store = await openStore(loaded, log);
      await seed(loaded, store, env, log);
      const verifierOptions = { dataDir: resolve(config.localKey.dataDir), configDir: dirname(resolve(loaded.file)), log };
      const gatewayVerifier = await createVerifier(identityFor(config, 'gateways'), verifierOptions);
      const peopleVerifier = await createVerifier(identityFor(config, 'people'), verifierOptions);
      closers.push(
        () => gatewayVerifier.close(),
        () => peopleVerifier.close(),
      );
      const policy = config.policy.bundleUrl === undefined ? null : { url: config.policy.bundleUrl, revision: config.policy.revision ?? null };
      // Read at scrape time, once both are open.
      const metrics = createControlMetrics({
        log,
        fleet: async () => countGateways(await store!.gateways(), hub!.version(), hub!.live),
        pendingApprovals: async () => (await store!.approvals('pending')).length,
      });
      hub = createHub({ store, policy, log, pollMs: config.store.pollMs, pingMs: opts.pingMs, pushed: metrics.pushed });
      store.onChange((action) => {
        metrics.changed(action.action);
        if (action.action === 'approval.approve') metrics.approval('approved');
        if (action.action === 'approval.deny') metrics.approval('denied');
      });
      const hook = config.approvals.webhook;
      const notify = hook === undefined ? null : createApprovalWebhook(hook, log, () => metrics.approval('webhook_failed'));
      await hub.refresh();

      const gatewayApi = createGatewayApi({
        store,
        hub,
        log,
        metrics,
        authenticate: createGatewayAuth(gatewayVerifier, store),
        maxBodyBytes: config.maxBodyBytes,
        approvals: {
          requested(a) {
            metrics.approval('requested');
            notify?.(a);
          },
          used: () => metrics.approval('used'),
        },
      });
      const peopleAuth = createPeopleAuth(peopleVerifier, { adminToken: loaded.adminToken, rolesClaim: config.people.rolesClaim });
      const peopleApi = createPeopleApi({
        store,
        hub,
        log,
        metrics,
        authenticate: peopleAuth,
        console: config.console.enabled
          ? createConsole({
              config: config.console,
              listenHost: config.listen.people.host,
              authenticate: peopleAuth,
              store,
              oidc: config.console.oidc === undefined ? null : createOidc(config.console.oidc, loaded.oidcClientSecret),
              maxBodyBytes: config.maxBodyBytes,
            })
          : null,
        maxBodyBytes: config.maxBodyBytes,
        liveMs: config.console.liveMs,
      });
      // The snapshot stream lasts as long as the gateway is connected: counted when it ends, not timed.
      // Long polls on an approval are held like the stream: counted, not timed.
      const untimed = new Set<string>([GATEWAY_PATHS.snapshots, GATEWAY_PATHS.approvalWait]);
      const gateways = createServer(metrics.serve('gateways', gatewayApi, (req) => untimed.has(req.url?.split('?')[0] ?? '')));
      // The console's live stream lasts as long as its page is open: counted when it ends, not timed.
      const people = createServer(metrics.serve('people', peopleApi, (req) => req.url?.split('?')[0] === '/api/live'));
      servers.push(gateways, people);
      addresses.gateways = url(await listen(gateways, config.listen.gateways.host, config.listen.gateways.port));
      addresses.people = url(await listen(people, config.listen.people.host, config.listen.people.port));
      log.info('control plane listening', { gateways: addresses.gateways, people: addresses.people, store: store.where, version: hub.version() });
    },
    async stop() {
      hub?.close();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections();
            }),
        ),
      );
      for (const c of closers.splice(0)) await c();
      await store?.close();
      store = null;
    },
  };
}
