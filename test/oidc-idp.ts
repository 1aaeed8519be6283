/**
 * A real OpenID Provider for the console's sign-in tests (not a test file): panva's `oidc-provider`
 * on 127.0.0.1, port 0, with its development login and consent pages (any password; the login is
 * the subject), accounts whose `groups` (also as `realm_access.roles`) and `preferred_username` come from `accounts`, and the
 * clients given. `signIn` walks its pages over HTTP (the browser test clicks them instead).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import type { Test } from 'tap';

export interface IdpClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

export interface Idp {
  issuer: string;
  /** The provider's signing key (private): a test signs tokens the provider's JWKS verifies. */
  signingKey: JWK;
}

export async function startIdp(t: Test, opts: { clients: IdpClient[]; accounts: Record<string, string[] | undefined> }): Promise<Idp> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())).then(() => server.closeAllConnections()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey: JWK = { ...(await exportJWK(privateKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'] })),
    jwks: { keys: [signingKey] },
    cookies: { keys: ['a cookie key for the test provider'] },
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups', 'realm_access'] },
    pkce: { required: () => true },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 300 },
    async findAccount(_ctx, sub) {
      if (!(sub in opts.accounts)) return undefined;
      const groups = opts.accounts[sub];
      // The groups twice: as `groups`, and nested as Keycloak puts realm roles (`realm_access.roles`).
      const claims = { sub, preferred_username: `${sub}@example.com`, ...(groups === undefined ? {} : { groups, realm_access: { roles: groups } }) };
      return { accountId: sub, claims: async () => claims };
    },
  });
  // The development pages warn once on start; the tests know.
  provider.on('server_error', (_ctx, err) => t.comment(`oidc-provider: ${err.message}`));
  handler = provider.callback();
  return { issuer, signingKey };
}

/** A cookie jar for one origin (paths ignored: the provider's cookies are distinct by name). */
function jar() {
  const cookies = new Map<string, string>();
  return {
    take(res: Response) {
      for (const c of res.headers.getSetCookie()) {
        const [pair, ...attrs] = c.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
        if (gone || pair.slice(eq + 1) === '') cookies.delete(name);
        else cookies.set(name, pair.slice(eq + 1));
      }
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  };
}

/**
 * Follows the provider's pages from an authorization URL as `login` would in a browser (sign in,
 * consent), and returns the URL it finally redirects to (the console's callback, with code and
 * state, or with an error), without requesting it.
 */
export async function signInAtIdp(authorizeUrl: string, login: string): Promise<string> {
  const cookies = jar();
  const origin = new URL(authorizeUrl).origin;
  let url = authorizeUrl;
  let body: URLSearchParams | undefined;
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      redirect: 'manual',
      headers: { cookie: cookies.header(), ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
      body: body?.toString(),
    });
    cookies.take(res);
    body = undefined;
    const location = res.headers.get('location');
    if (location !== null) {
      const next = new URL(location, url);
      await res.body?.cancel();
      if (next.origin !== origin) return next.toString();
      url = next.toString();
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status}: ${html.slice(0, 500)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    if (action === undefined || prompt === undefined) throw new Error(`no form on the provider's page: ${html.slice(0, 500)}`);
    url = new URL(action, url).toString();
    body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
  }
  throw new Error('the provider never redirected back');
}
