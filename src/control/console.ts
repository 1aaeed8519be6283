/**
 * The web console under `/console/` on the people listener: static ES modules (Preact + htm, uPlot;
 * no build step), read once at start and served with a strict Content-Security-Policy, and the
 * sign-in that turns a person's token into a session cookie. The pages then call the people's API
 * under /api with that cookie (people-api.ts checks it, and the CSRF token on every change).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { isLoopback } from '../config/hosts.js';
import { packageRoot } from '../package-root.js';
import type { PeopleAuth, Person } from './auth.js';
import type { ControlConfig } from './config.js';
import { badRequest, ControlHttpError, notFound } from './errors.js';
import { readJson, sendJson } from './http.js';
import { cookie, createSessions, type Session, sameToken } from './sessions.js';
import { createWebGuard } from './web-guard.js';

/** Where the console's own modules live (src/console, also in the container image). */
export const CONSOLE_DIR = join(packageRoot, 'src', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  /** A hash of the content: the ETag, and the `?v=` that index.html puts on the file's URL. */
  version: string;
  etag: string;
}

const asset = (body: Buffer, file: string): Asset => {
  const version = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { body, type: TYPES[extname(file)] ?? 'application/octet-stream', version, etag: `"${version}"` };
};

/** A file's URL with its version: cached for good by the browser (a change is a new URL). */
const versioned = (assets: Map<string, Asset>, url: string) => {
  const a = assets.get(url.slice('/console/'.length));
  return a === undefined ? url : `${url}?v=${a.version}`;
};

/**
 * index.html with every URL it names versioned, and an import map that also maps each of the
 * console's own modules to its versioned URL (the modules import each other as './x.js'): a page
 * load then asks the server for index.html alone, every module comes from the browser's cache.
 */
function versionIndex(assets: Map<string, Asset>, html: string): string {
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
  if (map === null) throw new Error('console index.html: no import map');
  const imports: Record<string, string> = {};
  for (const [name, url] of Object.entries((JSON.parse(map[1]) as { imports: Record<string, string> }).imports)) imports[name] = versioned(assets, url);
  for (const path of [...assets.keys()].filter((p) => p.endsWith('.js')).sort()) imports[`/console/${path}`] = versioned(assets, `/console/${path}`);
  return html
    .replace(map[0], () => `<script type="importmap">${JSON.stringify({ imports })}</script>`)
    .replace(/(href|src)="(\/console\/[^"?]+)"/g, (_, attr: string, url: string) => `${attr}="${versioned(assets, url)}"`);
}

/** The third-party modules the import map names, from node_modules (dependencies: in the production image). */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const dir = (spec: string) => dirname(require.resolve(spec));
  return {
    'vendor/preact.mjs': join(dir('preact'), 'preact.mjs'),
    'vendor/hooks.mjs': join(dir('preact/hooks'), 'hooks.mjs'),
    'vendor/htm.mjs': join(dir('htm'), 'htm.mjs'),
    'vendor/uplot.mjs': join(dir('uplot'), 'uPlot.esm.js'),
    'vendor/uplot.css': join(dir('uplot'), 'uPlot.min.css'),
  };
}

/** Every file the console serves, by path under /console/, and the CSP that lets index.html's import map run. */
export function loadAssets(dir = CONSOLE_DIR): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) if (TYPES[extname(name)] !== undefined) assets.set(name, asset(readFileSync(join(dir, name)), name));
  for (const [path, file] of Object.entries(vendorFiles())) assets.set(path, asset(readFileSync(file), file));
  const source = assets.get('index.html');
  if (source === undefined) throw new Error(`the console has no index.html in ${dir}`);
  const index = asset(Buffer.from(versionIndex(assets, source.body.toString('utf8'))), 'index.html');
  assets.set('index.html', index);
  // The one inline script: the import map (bare names → /console/vendor/…), allowed by its hash alone.
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index.body.toString('utf8'));
  if (map === null) throw new Error('console index.html: no import map');
  const hash = createHash('sha256').update(map[1]).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  assets.set('', index);
  return { assets, csp };
}

const csrfHeader = (req: IncomingMessage) => {
  const v = req.headers['x-aos-csrf'];
  return typeof v === 'string' ? v : undefined;
};

export interface ConsoleOptions {
  config: ControlConfig['console'];
  /** The people listener's host: loopback relaxes the Host list and the cookie's `Secure`. */
  listenHost: string;
  authenticate: PeopleAuth;
  maxBodyBytes: number;
  now?: () => number;
}

export interface Console {
  /** Serves a request under /console (assets, sign-in, sign-out). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
  /**
   * The person of a request that carries the session cookie and no Authorization header, with the
   * Host checked; null when there is no cookie. A change (`change`) also needs the session's CSRF
   * token in `x-aos-csrf` and the console's own Origin.
   */
  person(req: IncomingMessage, change: boolean): Person | null;
}

// Longer than most functions: a factory whose body is the small handlers it closes over.
export function createConsole(opts: ConsoleOptions): Console {
  const { assets, csp } = loadAssets();
  const now = opts.now ?? Date.now;
  const guard = createWebGuard(opts.listenHost, opts.config.allowedHosts);
  const sessions = createSessions({ now });
  const secure = opts.config.secureCookie === 'always' || (opts.config.secureCookie === 'auto' && !isLoopback(opts.listenHost));
  // `__Host-`: the browser keeps it only when Secure, for this host, on path / (never set by a sibling domain).
  const name = secure ? '__Host-aos_session' : 'aos_session';
  const securityHeaders = {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  };

  const setCookie = (value: string, maxAgeSec: number) => `${name}=${value}; Path=/; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  const session = (req: IncomingMessage): Session | null => {
    const id = cookie(req.headers.cookie, name);
    return id === null ? null : sessions.get(id);
  };
  const view = (s: Session) => ({ actor: s.person.actor, role: s.person.role, csrf: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() });

  function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): void {
    const a = assets.get(path);
    if (a === undefined) throw notFound(`no console file /console/${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ControlHttpError('control_method_not_allowed', `/console/${path} takes GET or HEAD`);
    // The URL index.html names (this content's version): kept by the browser without asking again.
    // Any other (index.html itself, an old version): revalidated by ETag on every use.
    const current = (req.url ?? '').endsWith(`?v=${a.version}`);
    const headers = { ...securityHeaders, 'cache-control': current ? 'public, max-age=31536000, immutable' : 'no-cache', etag: a.etag };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': a.type, 'content-length': a.body.length });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Login CSRF: a sign-in form posted from another site would sign the victim in as the attacker.
    guard.sameOrigin(req);
    const body = await readJson(req, opts.maxBodyBytes);
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token.trim() === '') throw badRequest('token: the admin token or JWT to sign in with');
    const person = await opts.authenticate(token.trim());
    const expiresAt = Math.min(now() + opts.config.sessionMinutes * 60_000, person.expiresAt ?? Number.POSITIVE_INFINITY);
    const s = sessions.create(person, expiresAt);
    res.setHeader('set-cookie', setCookie(s.id, Math.max(1, Math.floor((expiresAt - now()) / 1000))));
    sendJson(res, 200, view(s));
  }

  return {
    async handle(req, res, path) {
      guard.host(req);
      if (path === '/console') {
        res.writeHead(308, { location: '/console/', ...securityHeaders });
        res.end();
        return;
      }
      const rest = path.slice('/console/'.length);
      if (rest !== 'session') return serveAsset(req, res, rest);
      for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
      if (req.method === 'POST') return signIn(req, res);
      const s = session(req);
      if (req.method === 'GET') {
        if (s === null) throw new ControlHttpError('control_unauthenticated', 'not signed in');
        return sendJson(res, 200, view(s));
      }
      if (req.method === 'DELETE') {
        if (s !== null) {
          guard.sameOrigin(req);
          if (!sameToken(csrfHeader(req), s.csrf)) throw new ControlHttpError('control_csrf', 'sign-out needs the session’s CSRF token in x-aos-csrf');
          sessions.end(s.id);
        }
        res.setHeader('set-cookie', setCookie('', 0));
        return sendJson(res, 200, { signedOut: true });
      }
      throw new ControlHttpError('control_method_not_allowed', '/console/session takes GET, POST or DELETE');
    },
    person(req, change) {
      if (cookie(req.headers.cookie, name) === null) return null;
      guard.host(req);
      const s = session(req);
      if (s === null) throw new ControlHttpError('control_unauthenticated', 'the console session has ended: sign in again');
      if (change) {
        guard.sameOrigin(req);
        if (!sameToken(csrfHeader(req), s.csrf)) throw new ControlHttpError('control_csrf', 'a console change needs the session’s CSRF token in x-aos-csrf');
      }
      return s.person;
    },
  };
}
