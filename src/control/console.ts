/**
 * The web console under `/console/` on the people listener: the built files (Preact + htm and uPlot
 * bundled by scripts/console-build.ts, committed), read once at start and served with a strict
 * Content-Security-Policy, and the sign-in that turns a person's token, or an OpenID Connect login
 * (oidc.ts), into a session cookie. The pages then call the people's API
 * under /api with that cookie (people-api.ts checks it, and the CSRF token on every change).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { isLoopback } from '../config/hosts.js';
import { packageRoot } from '../package-root.js';
import type { PeopleAuth, Person } from './auth.js';
import type { ControlConfig } from './config.js';
import { badRequest, ControlHttpError, notFound } from './errors.js';
import { readJson, sendJson } from './http.js';
import type { Oidc, PendingLogin } from './oidc.js';
import { cookie, createSessions, type Session, sameToken } from './sessions.js';
import type { ControlStore } from './store.js';
import { createWebGuard } from './web-guard.js';

/** The console as built (scripts/console-build.ts: `npm run console:build`), also in the container image. */
export const CONSOLE_DIR = join(packageRoot, 'src', 'console', 'built');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** A built file named by a hash of its content (`main-3QX7B2KD.js`): kept by browsers for good. */
const HASHED = /-[A-Z0-9]{8}\.(js|css)$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

const asset = (body: Buffer, file: string): Asset => ({
  body,
  type: TYPES[extname(file)] ?? 'application/octet-stream',
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  immutable: HASHED.test(file),
});

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * Every file the console serves, by path under /console/, and its Content-Security-Policy. The
 * sign-in page learns of the OpenID provider from a `<meta name="aos-oidc">` in index.html (its
 * name on the button): no inline script, so `script-src 'self'` alone.
 */
export function loadAssets(dir = CONSOLE_DIR, signIn: { oidc: string | null } = { oidc: null }): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) if (TYPES[extname(name)] !== undefined) assets.set(name, asset(readFileSync(join(dir, name)), name));
  const source = assets.get('index.html');
  if (source === undefined) throw new Error(`the console has no index.html in ${dir} (npm run console:build)`);
  const meta = signIn.oidc === null ? '' : `<meta name="aos-oidc" content="${escapeAttr(signIn.oidc)}">\n`;
  const index = asset(Buffer.from(source.body.toString('utf8').replace('</head>', `${meta}</head>`)), 'index.html');
  assets.set('index.html', index);
  assets.set('', index);
  const csp = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"].join('; ');
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
  /** Where sessions are kept (every replica sharing it accepts the cookie). */
  store: ControlStore;
  /** Sign-in with the OpenID provider (console.oidc), or null. */
  oidc: Oidc | null;
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
  person(req: IncomingMessage, change: boolean): Promise<Person | null>;
}

const LOGIN_SECONDS = 600;

/** The pending login as the browser keeps it (base64url JSON), or null when absent or not one of ours. */
function pendingOf(value: string | null): PendingLogin | null {
  if (value === null || value.length > 400) return null;
  try {
    const p = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof p.state === 'string' && typeof p.nonce === 'string' && typeof p.verifier === 'string' ? { state: p.state, nonce: p.nonce, verifier: p.verifier } : null;
  } catch {
    return null;
  }
}

// Longer than most functions: a factory whose body is the small handlers it closes over.
export function createConsole(opts: ConsoleOptions): Console {
  const { assets, csp } = loadAssets(CONSOLE_DIR, { oidc: opts.oidc?.name ?? null });
  const now = opts.now ?? Date.now;
  const guard = createWebGuard(opts.listenHost, opts.config.allowedHosts);
  const sessions = createSessions({ store: opts.store, idleMs: opts.config.idleMinutes * 60_000, now });
  const secure = opts.config.secureCookie === 'always' || (opts.config.secureCookie === 'auto' && !isLoopback(opts.listenHost));
  // `__Host-`: the browser keeps it only when Secure, for this host, on path / (never set by a sibling domain).
  const name = secure ? '__Host-aos_session' : 'aos_session';
  const loginName = secure ? '__Host-aos_login' : 'aos_login';
  const styles = [...assets.keys()].find((k) => /^styles-[A-Z0-9]{8}\.css$/.test(k)) ?? null;
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
  // Lax, unlike the session's: the provider's redirect back is a navigation from another site, which
  // must carry it. It holds no credential: only what ties the callback to this browser's login.
  const setLogin = (value: string, maxAgeSec: number) => `${loginName}=${value}; Path=/; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  const session = async (req: IncomingMessage): Promise<Session | null> => {
    const id = cookie(req.headers.cookie, name);
    return id === null || id === '' ? null : sessions.get(id);
  };
  const view = (s: Session) => ({ actor: s.person.actor, role: s.person.role, csrf: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() });
  const redirectUri = (req: IncomingMessage) => opts.config.oidc?.redirectUrl ?? `${secure ? 'https' : 'http'}://${req.headers.host}/console/oidc/callback`;
  const startSession = async (res: ServerResponse, person: Person, via: 'token' | 'oidc', idToken: string | null = null): Promise<Session> => {
    const expiresAt = Math.min(now() + opts.config.sessionMinutes * 60_000, person.expiresAt ?? Number.POSITIVE_INFINITY);
    // The ID token is kept only when it will name the session at the provider's sign-out.
    const s = await sessions.create(person, expiresAt, via, opts.config.oidc?.signOutAtProvider ? idToken : null);
    res.appendHeader('set-cookie', setCookie(s.id, Math.max(1, Math.floor((expiresAt - now()) / 1000))));
    return s;
  };

  function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): void {
    const a = assets.get(path);
    if (a === undefined) throw notFound(`no console file /console/${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ControlHttpError('control_method_not_allowed', `/console/${path} takes GET or HEAD`);
    // A file named by its content's hash: kept by the browser without asking again (a change is a
    // new name). Any other (index.html, the icon): revalidated by ETag on every use.
    const headers = { ...securityHeaders, 'cache-control': a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache', etag: a.etag };
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
    sendJson(res, 200, view(await startSession(res, person, 'token')));
  }

  /** `GET /console/oidc/login`: off to the provider, the login's state kept by this browser. */
  async function oidcLogin(oidc: Oidc, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let started: Awaited<ReturnType<Oidc['start']>>;
    try {
      started = await oidc.start(redirectUri(req));
    } catch (err) {
      // The provider unreachable or misconfigured: a browser gets a page saying so.
      if (!(err instanceof ControlHttpError) || !(req.headers.accept ?? '').includes('text/html')) throw err;
      return sendRefusal(res, err);
    }
    const { url, pending } = started;
    res.writeHead(302, { ...securityHeaders, location: url, 'cache-control': 'no-store', 'set-cookie': setLogin(Buffer.from(JSON.stringify(pending)).toString('base64url'), LOGIN_SECONDS) });
    res.end();
  }

  /** `GET /console/oidc/callback`: the provider's answer, checked against this browser's login; a session. */
  async function oidcCallback(oidc: Oidc, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pending = pendingOf(cookie(req.headers.cookie, loginName));
    // Used once, whatever the outcome: a state cannot be played again.
    res.appendHeader('set-cookie', setLogin('', 0));
    const query = new URL(req.url ?? '/', 'http://console').searchParams;
    let signedIn: Awaited<ReturnType<Oidc['finish']>>;
    try {
      signedIn = await oidc.finish(query, pending, redirectUri(req));
    } catch (err) {
      // A browser gets a page saying why, with the way back; anything else the JSON error.
      if (!(err instanceof ControlHttpError) || !(req.headers.accept ?? '').includes('text/html')) throw err;
      return sendRefusal(res, err);
    }
    await startSession(res, signedIn.person, 'oidc', signedIn.idToken);
    res.writeHead(303, { ...securityHeaders, location: '/console/', 'cache-control': 'no-store' });
    res.end();
  }

  function sendRefusal(res: ServerResponse, err: ControlHttpError): void {
    const body = Buffer.from(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign-in refused · AOS control</title><link rel="icon" href="/console/favicon.svg" type="image/svg+xml">${styles === null ? '' : `<link rel="stylesheet" href="/console/${styles}">`}</head>` +
        `<body><main class="signin"><h1>Sign-in refused</h1><p role="alert"><code>${escapeAttr(err.code)}</code>: ${escapeAttr(err.message)}</p><p><a href="/console/">Back to the sign-in page</a></p></main></body></html>\n`,
    );
    res.writeHead(err.status, { ...securityHeaders, 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
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
      if (rest.startsWith('oidc/') && opts.oidc !== null) {
        for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
        if (req.method !== 'GET') throw new ControlHttpError('control_method_not_allowed', `${path} takes GET`);
        if (rest === 'oidc/login') return oidcLogin(opts.oidc, req, res);
        if (rest === 'oidc/callback') return oidcCallback(opts.oidc, req, res);
      }
      if (rest !== 'session') return serveAsset(req, res, rest);
      for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
      if (req.method === 'POST') return signIn(req, res);
      const s = await session(req);
      if (req.method === 'GET') {
        if (s === null) throw new ControlHttpError('control_unauthenticated', 'not signed in');
        return sendJson(res, 200, view(s));
      }
      if (req.method === 'DELETE') {
        if (s !== null) {
          guard.sameOrigin(req);
          if (!sameToken(csrfHeader(req), s.csrf)) throw new ControlHttpError('control_csrf', 'sign-out needs the session’s CSRF token in x-aos-csrf');
          await sessions.end(s.id);
        }
        res.setHeader('set-cookie', setCookie('', 0));
        // Signed in at the provider: the page goes on to its sign-out, which comes back to the console.
        const atProvider = s?.via === 'oidc' && opts.oidc !== null && opts.config.oidc?.signOutAtProvider === true;
        const logoutUrl = atProvider ? await opts.oidc!.endSession(s.idToken, `${secure ? 'https' : 'http'}://${req.headers.host}/console/`) : null;
        return sendJson(res, 200, { signedOut: true, ...(logoutUrl === null ? {} : { logoutUrl }) });
      }
      throw new ControlHttpError('control_method_not_allowed', '/console/session takes GET, POST or DELETE');
    },
    async person(req, change) {
      if (cookie(req.headers.cookie, name) === null) return null;
      guard.host(req);
      const s = await session(req);
      if (s === null) throw new ControlHttpError('control_unauthenticated', 'the console session has ended: sign in again');
      if (change) {
        guard.sameOrigin(req);
        if (!sameToken(csrfHeader(req), s.csrf)) throw new ControlHttpError('control_csrf', 'a console change needs the session’s CSRF token in x-aos-csrf');
      }
      return s.person;
    },
  };
}
