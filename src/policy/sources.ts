/**
 * Where policy bundles come from: a bundle file, a policies directory built with the `opa` CLI
 * (development mode), or an HTTP(S) URL polled as OPA polls a bundle service (a plain GET of the
 * .tar.gz, `If-None-Match` with the last ETag, 304 meaning unchanged).
 *
 * A source only produces bytes; the policy manager verifies and loads them. `fetch()` is called by
 * the manager, one at a time; `watch(onChange)` makes the source call `onChange` when a new fetch
 * may find a new bundle (a file event, a poll tick). Nothing here throws out of a timer or a watcher:
 * a failed fetch rejects the manager's `fetch()` call, which reports it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, type FSWatcher, watch } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';
import { request } from 'undici';
import type { PolicyConfig } from '../config/schema.js';
import { PolicyConfigError, PolicySourceError } from '../errors.js';
import type { Logger } from '../log.js';
import { packageRoot } from '../package-root.js';
import { ENTRYPOINT } from './engine.js';

export type SourceKind = 'file' | 'directory' | 'url';

export interface BundleSource {
  readonly kind: SourceKind;
  /** The bundle file or directory (absolute), or the URL. */
  readonly location: string;
  /** The bundle's bytes now, or null when unchanged since the last fetch (HTTP 304). Rejects with a reason. */
  fetch(): Promise<Buffer | null>;
  /** Starts watching (file, directory) or polling (URL); `onChange` asks for a fetch. Idempotent. */
  watch(onChange: () => void): void;
  /** Stops watching and polling, aborts a download or build in progress. */
  close(): void;
}

export interface SourceOptions {
  config: PolicyConfig;
  /** Folder of the config file: relative paths are resolved against it. */
  configDir: string;
  log: Logger;
  /** Overrides for tests; the defaults suit production. */
  timing?: Partial<SourceTiming>;
}

export interface SourceTiming {
  /** Quiet time after a file event before the file is read again. */
  fileDebounceMs: number;
  /** Quiet time after a source change before the directory is rebuilt. */
  buildDebounceMs: number;
  /** Longest a bundle download may take. */
  fetchTimeoutMs: number;
  /** Longest `opa build` may take. */
  buildTimeoutMs: number;
}

const DEFAULT_TIMING: SourceTiming = { fileDebounceMs: 100, buildDebounceMs: 250, fetchTimeoutMs: 30_000, buildTimeoutMs: 120_000 };
/** Largest compressed bundle accepted (the archive reader caps the decompressed size separately). */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const RETRY_MIN_MS = 1_000;

export function createBundleSource(opts: SourceOptions): BundleSource {
  const timing = { ...DEFAULT_TIMING, ...opts.timing };
  const { bundle } = opts.config;
  if (bundle.file !== undefined) return fileSource(resolve(opts.configDir, bundle.file), timing, opts.log);
  if (bundle.directory !== undefined) return directorySource(resolve(opts.configDir, bundle.directory), timing, opts.log);
  if (bundle.url !== undefined) return urlSource(bundle.url, opts.config.pollIntervalSec * 1000, opts.config.token, timing);
  throw new PolicyConfigError('policy.bundle names no source: set one of file, directory or url');
}

// ---------------------------------------------------------------------------------------------

function fileSource(path: string, timing: SourceTiming, log: Logger): BundleSource {
  let watcher: { close(): void } | null = null;
  return {
    kind: 'file',
    location: path,
    async fetch() {
      let buf: Buffer;
      try {
        buf = await readFile(path);
      } catch (err) {
        throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `cannot read the bundle file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
      if (buf.byteLength > MAX_BUNDLE_BYTES) throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `the bundle file ${path} is larger than ${MAX_BUNDLE_BYTES} bytes`);
      return buf;
    },
    watch(onChange) {
      // The folder, not the file: editors, `mv` and Kubernetes ConfigMaps replace files by rename.
      watcher ??= watchDebounced(dirname(path), false, (name) => name === null || name === basename(path), timing.fileDebounceMs, onChange, log);
    },
    close() {
      watcher?.close();
      watcher = null;
    },
  };
}

// ---------------------------------------------------------------------------------------------

const SOURCE_FILE = /\.(rego|json|ya?ml)$/;
const TEST_FILE = /_test\.rego$/;

/**
 * The `opa` CLI for development mode: $AOS_OPA when set, else `opa` on PATH, else the project's
 * pinned copy in .tools/bin (scripts/opa.sh). Null when there is none.
 */
export function findOpa(env: NodeJS.ProcessEnv = process.env): string | null {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (env.AOS_OPA) return executable(env.AOS_OPA) ? resolve(env.AOS_OPA) : null;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'opa'))) return join(dir, 'opa');
  }
  const pinned = join(packageRoot, '.tools', 'bin', 'opa');
  return executable(pinned) ? pinned : null;
}

function directorySource(dir: string, timing: SourceTiming, log: Logger): BundleSource {
  const opa = findOpa();
  let watcher: { close(): void } | null = null;
  const aborts = new Set<AbortController>();
  return {
    kind: 'directory',
    location: dir,
    async fetch() {
      if (opa === null) {
        throw new PolicySourceError(
          'AOS_ERR_POLICY_BUILD',
          `policy.bundle.directory (${dir}) is development mode: the gateway builds the policies with the opa CLI, and none was found; ` +
            'put opa on PATH or set AOS_OPA (scripts/opa.sh installs the pinned version), or point policy.bundle.file at a built bundle',
        );
      }
      if (!existsSync(dir)) throw new PolicySourceError('AOS_ERR_POLICY_BUILD', `the policies directory ${dir} does not exist`);
      const revision = await sourceRevision(dir);
      const out = await mkdtemp(join(tmpdir(), 'aos-policy-'));
      const abort = new AbortController();
      aborts.add(abort);
      try {
        const file = join(out, 'bundle.tar.gz');
        await run(opa, ['build', '-t', 'wasm', '-e', ENTRYPOINT, '--ignore', '*_test.rego', '--revision', revision, '-o', file, dir], timing.buildTimeoutMs, abort.signal);
        return await readFile(file);
      } finally {
        aborts.delete(abort);
        await rm(out, { recursive: true, force: true });
      }
    },
    watch(onChange) {
      watcher ??= watchDebounced(dir, true, (name) => name === null || (SOURCE_FILE.test(name) && !TEST_FILE.test(name)), timing.buildDebounceMs, onChange, log);
    },
    close() {
      watcher?.close();
      watcher = null;
      for (const a of aborts) a.abort();
    },
  };
}

/** `dev-` and a digest of the policy sources, so the same sources always give the same revision. */
async function sourceRevision(dir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile() && SOURCE_FILE.test(entry.name) && !TEST_FILE.test(entry.name)) files.push(p);
    }
  };
  await walk(dir);
  const hash = createHash('sha256');
  for (const f of files.sort()) {
    const content = await readFile(f).catch(() => Buffer.alloc(0));
    hash.update(relative(dir, f)).update('\0').update(createHash('sha256').update(content).digest()).update('\0');
  }
  return `dev-${hash.digest('hex').slice(0, 12)}`;
}

function run(cmd: string, args: string[], timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, signal, maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err === null) return resolvePromise();
      const detail = String(stderr).trim() || err.message;
      reject(new PolicySourceError('AOS_ERR_POLICY_BUILD', `opa build failed: ${detail.length > 2000 ? `${detail.slice(0, 2000)}…` : detail}`, { cause: err }));
    });
  });
}

// ---------------------------------------------------------------------------------------------

function urlSource(url: string, intervalMs: number, token: string | undefined, timing: SourceTiming): BundleSource {
  let etag: string | null = null;
  let failures = 0;
  let onChange: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const aborts = new Set<AbortController>();

  const schedule = () => {
    if (closed || onChange === null) return;
    if (timer !== null) clearTimeout(timer);
    // After a failure, try again soon (doubling, up to the poll interval) rather than wait it out.
    const delay = failures === 0 ? intervalMs : Math.min(intervalMs, RETRY_MIN_MS * 2 ** Math.min(failures - 1, 16));
    const tick = onChange;
    timer = setTimeout(() => {
      timer = null;
      tick();
    }, delay).unref();
  };

  const location = withoutCredentials(url);
  return {
    kind: 'url',
    location,
    async fetch() {
      const abort = new AbortController();
      aborts.add(abort);
      const deadline = setTimeout(() => abort.abort(new PolicySourceError('AOS_ERR_POLICY_FETCH', `no complete answer within ${timing.fetchTimeoutMs} ms`)), timing.fetchTimeoutMs).unref();
      try {
        const body = await download(url, location, etag, token, abort.signal);
        failures = 0;
        if (body === null) return null;
        etag = body.etag;
        return body.bytes;
      } catch (err) {
        failures++;
        throw err;
      } finally {
        clearTimeout(deadline);
        aborts.delete(abort);
        schedule();
      }
    },
    watch(next) {
      if (onChange !== null) return;
      onChange = next;
      schedule();
    },
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      for (const a of aborts) a.abort(new Error('closed'));
    },
  };
}

/** The URL for status and logs: a user name or password in it is not shown. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

async function download(url: string, shown: string, etag: string | null, token: string | undefined, signal: AbortSignal): Promise<{ bytes: Buffer; etag: string | null } | null> {
  const headers: Record<string, string> = { accept: 'application/gzip, application/vnd.openpolicyagent.bundles, application/octet-stream;q=0.9, */*;q=0.1' };
  if (etag !== null) headers['if-none-match'] = etag;
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { method: 'GET', headers, signal });
  } catch (err) {
    throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `cannot fetch the bundle from ${shown}: ${describe(err, signal)}`, { cause: err });
  }
  if (res.statusCode === 304) {
    await res.body.dump();
    return null;
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => {});
    const hint = res.statusCode === 401 || res.statusCode === 403 ? ' (check policy.token)' : '';
    throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `the bundle server answered HTTP ${res.statusCode} for ${shown}${hint}`);
  }
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length) && length > MAX_BUNDLE_BYTES) {
    res.body.destroy();
    throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `the bundle at ${shown} is larger than ${MAX_BUNDLE_BYTES} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BUNDLE_BYTES) break; // leaving the loop destroys the body
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `the bundle download from ${shown} failed: ${describe(err, signal)}`, { cause: err });
  }
  if (size > MAX_BUNDLE_BYTES) throw new PolicySourceError('AOS_ERR_POLICY_FETCH', `the bundle at ${shown} is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const tag = res.headers.etag;
  return { bytes: Buffer.concat(chunks), etag: typeof tag === 'string' && tag !== '' ? tag : null };
}

function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const message = e?.cause?.message ?? e?.message ?? String(err);
  const code = e?.cause?.code ?? e?.code;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

// ---------------------------------------------------------------------------------------------

/**
 * fs.watch on a folder, calling `onChange` once events for matching names have been quiet for
 * `debounceMs`. A watcher error (the folder removed, say) is logged; the next fetch reports the rest.
 */
function watchDebounced(dir: string, recursive: boolean, matches: (name: string | null) => boolean, debounceMs: number, onChange: () => void, log: Logger): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  const fire = () => {
    timer = null;
    onChange();
  };
  try {
    watcher = watch(dir, { persistent: false, recursive }, (_event, name) => {
      if (!matches(name === null ? null : basename(String(name)))) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(fire, debounceMs).unref();
    });
    watcher.on('error', (err) => log.warn('policy bundle watcher failed; changes are picked up on reload (SIGHUP, POST /admin/policy/reload)', { dir, error: err }));
  } catch (err) {
    log.warn('cannot watch for policy bundle changes; they are picked up on reload (SIGHUP, POST /admin/policy/reload)', { dir, error: err as Error });
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      watcher?.close();
      watcher = null;
    },
  };
}
