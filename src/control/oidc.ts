/**
 * Console sign-in with an OpenID Connect provider (Keycloak, Okta, Entra ID, …): the authorization
 * code flow with PKCE (S256), `state` and `nonce`. The provider's metadata comes from its discovery
 * document; the code is exchanged at its token endpoint as a confidential client (client secret,
 * basic or post) or a public one (PKCE alone); the ID token is verified with jose against the
 * provider's JWKS (signature, issuer, audience and `azp`, expiry, nonce). The person's role comes
 * from a configured claim (of the ID token, else of the userinfo endpoint), mapped to the control
 * plane's roles the way an admin JWT's roles are (auth.ts).
 *
 * Between the redirect to the provider and the callback, the login's state, nonce and PKCE verifier
 * wait in a short-lived HttpOnly cookie of this browser (console.ts), not on this replica: the
 * callback may reach any replica, and a callback with a state that is not this browser's own is
 * refused (login CSRF).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { type Person, ROLES } from './auth.js';
import type { ControlConfig } from './config.js';
import { badRequest, ControlHttpError } from './errors.js';
import type { Role } from './protocol.js';

export type OidcConfig = NonNullable<ControlConfig['console']['oidc']>;

/** What the browser keeps between the redirect and the callback. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
}

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  code_challenge_methods_supported?: string[];
}

export interface Oidc {
  /** The name on the sign-in button. */
  readonly name: string;
  /** The provider's authorization URL for a new login, and what the browser must keep until the callback. */
  start(redirectUri: string): Promise<{ url: string; pending: PendingLogin }>;
  /** The callback's query checked against the browser's pending login; the person who signed in. */
  finish(query: URLSearchParams, pending: PendingLogin | null, redirectUri: string): Promise<{ person: Person; idToken: string }>;
  /** The provider's sign-out URL for a session (RP-initiated logout), or null when it has none. */
  endSession(idToken: string | null, postLogoutRedirect: string): Promise<string | null>;
}

const random = () => randomBytes(32).toString('base64url');
const unauthenticated = (message: string) => new ControlHttpError('control_unauthenticated', message);
const TIMEOUT_MS = 10_000;

async function getJson(url: string, init: RequestInit, what: string): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    throw new ControlHttpError('control_unavailable', `the identity provider's ${what} cannot be reached (${url}): ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ControlHttpError('control_unavailable', `the identity provider's ${what} answered ${res.status} without a JSON object (${url})`);
  }
  return { status: res.status, body: body as Record<string, unknown> };
}

/** A claim by name, or by a dotted path into nested objects (`realm_access.roles`). */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let v: unknown = claims;
  for (const part of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** The highest control plane role named by the claim's values (through `roleMap`), or null. */
export function roleOf(value: unknown, roleMap: Record<string, Role>): Role | null {
  const names = Array.isArray(value) ? value.filter((x): x is string => typeof x === 'string') : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  const rank = Math.max(-1, ...names.map((n) => ROLES.indexOf(roleMap[n] ?? (n as Role))));
  return rank < 0 ? null : ROLES[rank];
}

/**
 * An ID token checked as OpenID Connect Core §3.1.3.7 asks: signed by a key of the provider's JWKS,
 * from `issuer`, for `clientId` (and `azp` this client when present), not expired, and carrying
 * this sign-in's nonce. Its claims; 401 `control_unauthenticated` saying what failed otherwise.
 */
export async function verifyIdToken(idToken: string, expected: { issuer: string; clientId: string; nonce: string; jwks: ReturnType<typeof createRemoteJWKSet> }): Promise<Record<string, unknown>> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, expected.jwks, { issuer: expected.issuer, audience: expected.clientId, clockTolerance: 30, requiredClaims: ['sub', 'exp', 'iat'] }));
  } catch (err) {
    const why = err instanceof joseErrors.JOSEError ? `${err.code}: ${err.message}` : (err as Error).message;
    throw unauthenticated(`the ID token does not verify (${why})`);
  }
  const several = Array.isArray(payload.aud) && payload.aud.length > 1;
  if ((several || payload.azp !== undefined) && payload.azp !== expected.clientId) throw unauthenticated(`the ID token was issued to another client (azp ${JSON.stringify(payload.azp ?? null)})`);
  if (typeof payload.nonce !== 'string' || payload.nonce !== expected.nonce) throw unauthenticated('the ID token’s nonce is not this sign-in’s: sign in again');
  return payload as Record<string, unknown>;
}

export function createOidc(cfg: OidcConfig, clientSecret: string | null): Oidc {
  let metadata: Promise<Metadata> | null = null;
  let jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  const scopes = new Set(cfg.scopes.split(/\s+/).filter(Boolean));
  scopes.add('openid');

  /** The discovery document, read once (again after a failure). */
  const discover = (): Promise<Metadata> => {
    metadata ??= (async () => {
      const url = `${cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const { status, body } = await getJson(url, { headers: { accept: 'application/json' } }, 'discovery document');
      if (status !== 200) throw new ControlHttpError('control_unavailable', `the identity provider's discovery document answered ${status} (${url})`);
      for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
        if (typeof body[k] !== 'string') throw new ControlHttpError('control_unavailable', `the identity provider's discovery document has no ${k} (${url})`);
      }
      // OpenID Connect Discovery §4.3: the document must name the very issuer it was read from.
      if (body.issuer !== cfg.issuer) throw new ControlHttpError('control_unavailable', `the discovery document at ${url} names issuer ${body.issuer}, not ${cfg.issuer} (console.oidc.issuer)`);
      const m = body as unknown as Metadata;
      jwks = createRemoteJWKSet(new URL(m.jwks_uri), { timeoutDuration: TIMEOUT_MS });
      return m;
    })();
    metadata.catch(() => {
      metadata = null;
    });
    return metadata;
  };

  const authMethod = (m: Metadata) => {
    if (cfg.tokenAuth !== 'auto') return cfg.tokenAuth;
    if (clientSecret === null) return 'none';
    const supported = m.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    return supported.includes('client_secret_basic') || !supported.includes('client_secret_post') ? 'client_secret_basic' : 'client_secret_post';
  };

  async function exchange(m: Metadata, code: string, pending: PendingLogin, redirectUri: string): Promise<{ idToken: string; accessToken: string | null }> {
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: pending.verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const method = authMethod(m);
    if (method === 'client_secret_basic') {
      // RFC 6749 §2.3.1: each form-encoded, then joined and base64-encoded.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${enc(cfg.clientId)}:${enc(clientSecret ?? '')}`).toString('base64')}`;
    } else {
      form.set('client_id', cfg.clientId);
      if (method === 'client_secret_post') form.set('client_secret', clientSecret ?? '');
    }
    const { status, body } = await getJson(m.token_endpoint, { method: 'POST', headers, body: form.toString() }, 'token endpoint');
    if (status !== 200) {
      // invalid_grant: a code used before, expired, or not issued to this client and redirect.
      const why = [body.error, body.error_description].filter((x) => typeof x === 'string').join(': ');
      throw unauthenticated(`the identity provider refused the sign-in code (${why || status}): sign in again`);
    }
    if (typeof body.id_token !== 'string') throw unauthenticated('the identity provider answered without an ID token (is `openid` among the scopes?)');
    return { idToken: body.id_token, accessToken: typeof body.access_token === 'string' ? body.access_token : null };
  }

  async function userinfo(m: Metadata, accessToken: string, sub: string): Promise<Record<string, unknown>> {
    const { status, body } = await getJson(m.userinfo_endpoint!, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } }, 'userinfo endpoint');
    if (status !== 200) throw unauthenticated(`the identity provider's userinfo endpoint answered ${status}`);
    if (body.sub !== sub) throw unauthenticated('the userinfo answer is about another subject');
    return body;
  }

  return {
    name: cfg.name ?? new URL(cfg.issuer).host,
    async start(redirectUri) {
      const m = await discover();
      const pending: PendingLogin = { state: random(), nonce: random(), verifier: random() };
      const url = new URL(m.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: cfg.clientId,
        redirect_uri: redirectUri,
        scope: [...scopes].join(' '),
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      return { url: url.toString(), pending };
    },
    async finish(query, pending, redirectUri) {
      const state = query.get('state');
      if (pending === null) throw unauthenticated('no sign-in is under way in this browser (it expired after 10 minutes, or was finished already): sign in again');
      if (state === null || state !== pending.state) throw unauthenticated('the sign-in state does not match this browser’s: sign in again');
      const error = query.get('error');
      if (error !== null) throw unauthenticated(`the identity provider refused the sign-in (${[error, query.get('error_description')].filter(Boolean).join(': ')})`);
      const code = query.get('code');
      if (code === null || code === '') throw badRequest('the callback has no code');
      const m = await discover();
      const { idToken, accessToken } = await exchange(m, code, pending, redirectUri);
      const claims = await verifyIdToken(idToken, { issuer: m.issuer, clientId: cfg.clientId, nonce: pending.nonce, jwks: jwks! });
      const sub = String(claims.sub);
      let roles = claimAt(claims, cfg.rolesClaim);
      let named = claims[cfg.actorClaim];
      if ((roles === undefined || named === undefined) && accessToken !== null && m.userinfo_endpoint !== undefined) {
        const info = await userinfo(m, accessToken, sub);
        roles ??= claimAt(info, cfg.rolesClaim);
        named ??= info[cfg.actorClaim];
      }
      const actor = typeof named === 'string' && named !== '' ? named : sub;
      const role = roleOf(roles, cfg.roleMap);
      if (role === null) {
        throw new ControlHttpError(
          'control_forbidden',
          `${actor} signed in, but carries no control plane role: the ${cfg.rolesClaim} claim ${roles === undefined ? 'is missing' : `names none of ${ROLES.join(', ')}`}${Object.keys(cfg.roleMap).length > 0 ? ' nor a name in console.oidc.roleMap' : ''}`,
        );
      }
      return { person: { actor, role }, idToken };
    },
    async endSession(idToken, postLogoutRedirect) {
      const m = await discover();
      if (m.end_session_endpoint === undefined) return null;
      const url = new URL(m.end_session_endpoint);
      const q = new URLSearchParams({ client_id: cfg.clientId, post_logout_redirect_uri: postLogoutRedirect });
      if (idToken !== null) q.set('id_token_hint', idToken);
      for (const [k, v] of q) url.searchParams.set(k, v);
      return url.toString();
    },
  };
}
