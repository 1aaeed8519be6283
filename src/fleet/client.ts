import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ControlPlaneConfig } from '../config/schema.js';
import { GATEWAY_ID_HEADER } from '../control/protocol.js';

/** A control plane answered with an error status (its `ControlError` message, when it sent one). */
export class ControlPlaneError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    url: string,
  ) {
    super(`${url}: ${status} ${messageOf(body)}`);
    this.name = 'ControlPlaneError';
  }
}

/**
 * The gateway's side of the control plane's gateway API: its credential on every request, its id
 * header, and failover across the configured URLs (a failed request moves on to the next one).
 */
export interface ControlClient {
  readonly id: string;
  /** The URL requests go to now. */
  url(): string;
  /** Moves on to the next URL (after a failure). */
  failover(): void;
  /** POSTs JSON; resolves with the parsed answer on 2xx, else throws ControlPlaneError (or a network error). `signal` aborts it early. */
  post<T>(path: string, body: unknown, timeoutMs?: number, signal?: AbortSignal): Promise<T>;
  /** Opens a GET stream (the snapshots); the caller reads the body and aborts with `signal`. */
  open(path: string, signal: AbortSignal): Promise<Response>;
}

export function createControlClient(config: ControlPlaneConfig, id: string, configDir: string, env: NodeJS.ProcessEnv): ControlClient {
  const urls = config.urls.map((u) => u.replace(/\/+$/, ''));
  let at = Math.floor(Math.random() * urls.length);
  const token = credentialOf(config, configDir, env);
  const headers = (json: boolean): Record<string, string> => ({
    authorization: `Bearer ${token()}`,
    [GATEWAY_ID_HEADER]: id,
    ...(json ? { 'content-type': 'application/json' } : { accept: 'text/event-stream' }),
  });
  const client: ControlClient = {
    id,
    url: () => urls[at],
    failover() {
      at = (at + 1) % urls.length;
    },
    async post<T>(path: string, body: unknown, timeoutMs = config.connectTimeoutMs, signal?: AbortSignal): Promise<T> {
      const url = urls[at] + path;
      const json = body instanceof RawJson ? body.text : JSON.stringify(body);
      const timeout = AbortSignal.timeout(timeoutMs);
      const res = await fetch(url, { method: 'POST', headers: headers(true), body: json, signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]) });
      const text = await res.text();
      const parsed = text === '' ? null : parseJson(text);
      if (!res.ok) throw new ControlPlaneError(res.status, parsed, url);
      return parsed as T;
    },
    async open(path, signal) {
      const url = urls[at] + path;
      // The timeout covers the answer's headers only: the stream itself stays open until `signal`.
      const controller = new AbortController();
      const follow = () => controller.abort(signal.reason);
      signal.addEventListener('abort', follow, { once: true });
      const timer = setTimeout(() => controller.abort(new Error(`no answer in ${config.connectTimeoutMs} ms`)), config.connectTimeoutMs);
      try {
        const res = await fetch(url, { headers: headers(false), signal: controller.signal });
        if (!res.ok) {
          const text = await res.text().catch(() => '');
          throw new ControlPlaneError(res.status, parseJson(text), url);
        }
        return res;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return client;
}

/** A request body already serialized (posted as it is). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** The credential: a token file read again when it changes (a rotated projected token), or an env var. */
function credentialOf(config: ControlPlaneConfig, configDir: string, env: NodeJS.ProcessEnv): () => string {
  if (config.tokenEnv !== undefined) {
    const name = config.tokenEnv;
    return () => env[name]?.trim() ?? '';
  }
  const file = isAbsolute(config.tokenFile!) ? config.tokenFile! : resolve(configDir, config.tokenFile!);
  let seen = -1;
  let token = '';
  return () => {
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      return token; // gone for a moment (being replaced): the last one read
    }
    if (mtime !== seen) {
      token = readFileSync(file, 'utf8').trim();
      seen = mtime;
    }
    return token;
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.slice(0, 200);
  }
}

function messageOf(body: unknown): string {
  const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (e?.message !== undefined) return `${e.code ?? 'error'}: ${e.message}`;
  return typeof body === 'string' ? body : JSON.stringify(body);
}
