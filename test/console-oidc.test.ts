/**
 * The console's OpenID Connect sign-in (src/control/oidc.ts and its routes in console.ts) against a
 * real provider — panva's oidc-provider on loopback (test/oidc-idp.ts) — at the HTTP level: the
 * redirect with PKCE, state and nonce; the callback; the code exchanged as a confidential client
 * (client_secret_basic) and as a public one (PKCE alone); roles from the `groups` claim (read from
 * the userinfo endpoint: this provider puts scope claims there) through `roleMap`; and every
 * refusal: a state that is not the browser's, no login under way, a code played again, a code of
 * another client, a nonce that is not the login's, the provider's own error, no role. The ID token
 * checks (audience, azp, issuer, expiry, signature) with tokens signed by the provider's key and
 * verified against its JWKS endpoint. The same sign-in in chromium: console-browser.test.ts.
 */
import { createRemoteJWKSet, importJWK, SignJWT } from 'jose';
import t from 'tap';
import { verifyIdToken } from '../src/control/oidc.js';
import { ADMIN_TOKEN, type RawAnswer, raw, startControl } from './control-fixtures.js';
import { freePort, refusedPort } from './helpers.js';
import { signInAtIdp, startIdp } from './oidc-idp.js';

/** A request to a whole URL (headers, method, JSON body). */
const get = (url: string, headers: Record<string, string> = {}, method = 'GET', body?: unknown) => raw(url, method, url, headers, body);

const cookies = (a: RawAnswer) => (a.headers['set-cookie'] ?? []) as string[];
const cookieNamed = (a: RawAnswer, name: string) => cookies(a).find((c) => c.startsWith(`${name}=`));
const SECRET = 'the console client secret 0123456789';

t.test('OIDC sign-in at the HTTP level', async (t) => {
  const [port, publicPort] = [await freePort(), await freePort()];
  const callback = (p: number) => `http://127.0.0.1:${p}/console/oidc/callback`;
  const idp = await startIdp(t, {
    clients: [
      { client_id: 'aos-console', client_secret: SECRET, redirect_uris: [callback(port)], token_endpoint_auth_method: 'client_secret_basic' },
      { client_id: 'other-app', client_secret: 'another secret 0123456789', redirect_uris: [callback(port)], token_endpoint_auth_method: 'client_secret_basic' },
      { client_id: 'aos-public', redirect_uris: [callback(publicPort)], token_endpoint_auth_method: 'none' },
    ],
    accounts: { alice: ['staff', 'aos-admins'], olga: ['operator'], nobody: ['staff'], ghost: undefined },
  });
  const oidc = { issuer: idp.issuer, clientId: 'aos-console', clientSecretEnv: 'AOS_OIDC_SECRET', rolesClaim: 'groups', roleMap: { 'aos-admins': 'admin' }, name: 'Example IdP' };
  const listen = (p: number) => ({ gateways: { host: '127.0.0.1', port: 0 }, people: { host: '127.0.0.1', port: p } });
  const h = await startControl(t, { config: { listen: listen(port), console: { oidc } }, env: { AOS_OIDC_SECRET: SECRET } });
  const base = h.cp.addresses.people;

  /** Starts a login on the control plane: the provider's URL and the browser's login cookie. */
  const start = async (at = base) => {
    const r = await get(`${at}/console/oidc/login`);
    t.equal(r.status, 302, 'off to the provider');
    return { location: String(r.headers.location), login: cookieNamed(r, 'aos_login')!.split(';')[0], setCookie: cookieNamed(r, 'aos_login')! };
  };
  const callbackWith = (url: string, cookie: string | null) => get(url, cookie === null ? {} : { cookie });
  const fullLogin = async (who: string) => {
    const s = await start();
    const back = await signInAtIdp(s.location, who);
    return { ...s, back, answer: await callbackWith(back, s.login) };
  };

  t.test('the sign-in page offers the provider', async (t) => {
    const page = await get(`${base}/console/`);
    t.match(page.headers['content-security-policy'], "script-src 'self';");
    const html = await (await fetch(`${base}/console/`)).text();
    t.match(html, '<meta name="aos-oidc" content="Example IdP">');
  });

  t.test('the redirect: code flow, PKCE S256, state and nonce; the login kept in a Lax cookie', async (t) => {
    const s = await start();
    const u = new URL(s.location);
    t.equal(u.origin, idp.issuer);
    t.match(Object.fromEntries(u.searchParams), {
      response_type: 'code',
      client_id: 'aos-console',
      redirect_uri: callback(port),
      scope: 'openid profile email',
      state: /^[\w-]{43}$/,
      nonce: /^[\w-]{43}$/,
      code_challenge: /^[\w-]{43}$/,
      code_challenge_method: 'S256',
    });
    t.match(s.setCookie, /^aos_login=[\w-]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
    const pending = JSON.parse(Buffer.from(s.login.split('=')[1], 'base64url').toString('utf8'));
    t.equal(pending.state, u.searchParams.get('state'), 'the cookie holds the state sent');
    t.not(pending.verifier, u.searchParams.get('code_challenge'), 'the verifier stays in the browser; the provider sees its hash');
  });

  t.test('a confidential client: signed in, the role from the groups claim through roleMap', async (t) => {
    const { answer } = await fullLogin('alice');
    t.equal(answer.status, 303, JSON.stringify(answer.json));
    t.equal(answer.headers.location, '/console/');
    t.match(cookieNamed(answer, 'aos_login'), /^aos_login=; Path=\/; Max-Age=0;/, 'the login is used up');
    const session = cookieNamed(answer, 'aos_session')!;
    t.match(session, /^aos_session=[\w-]{43}; Path=\/; Max-Age=28(7\d\d|800); HttpOnly; SameSite=Strict$/, 'a session for console.sessionMinutes (not the ID token’s few minutes)');
    const cookie = session.split(';')[0];
    const who = await get(`${base}/console/session`, { cookie });
    t.match(who.json, { actor: 'alice@example.com', role: 'admin' });
    const change = await get(`${base}/api/agents/agent-1/suspend`, { cookie, origin: base, 'x-aos-csrf': who.json.csrf }, 'POST', { reason: 'signed in with the provider' });
    t.equal(change.status, 200);
    const actions = await h.api('GET', '/api/actions?limit=1', ADMIN_TOKEN);
    t.match(actions.body.actions[0], { actor: 'alice@example.com', action: 'agent.suspend' }, 'acts under the name the provider gave');
    const out = await get(`${base}/console/session`, { cookie, origin: base, 'x-aos-csrf': who.json.csrf }, 'DELETE');
    t.same(out.json, { signedOut: true }, 'signed out (here only: signOutAtProvider is off)');
    t.equal((await get(`${base}/console/session`, { cookie })).status, 401, 'the session is revoked');
  });

  t.test('a role name in the claim counts as that role', async (t) => {
    const { answer } = await fullLogin('olga');
    const cookie = cookieNamed(answer, 'aos_session')!.split(';')[0];
    t.match((await get(`${base}/console/session`, { cookie })).json, { actor: 'olga@example.com', role: 'operator' });
  });

  t.test('refused: no role, no roles claim', async (t) => {
    const none = (await fullLogin('nobody')).answer;
    t.same([none.status, none.json.error.code], [403, 'control_forbidden']);
    t.match(
      none.json.error.message,
      /nobody@example\.com signed in, but carries no control plane role: the groups claim names none of viewer, operator, approver, admin nor a name in console\.oidc\.roleMap/,
    );
    t.equal(cookieNamed(none, 'aos_session'), undefined, 'no session');
    const missing = (await fullLogin('ghost')).answer;
    t.same([missing.status, missing.json.error.code], [403, 'control_forbidden']);
    t.match(missing.json.error.message, /the groups claim is missing/);
  });

  t.test('refused: a state that is not this browser’s, or no login under way', async (t) => {
    const s = await start();
    const back = await signInAtIdp(s.location, 'alice');
    const forged = new URL(back);
    forged.searchParams.set('state', 'x'.repeat(43));
    const bad = await callbackWith(forged.toString(), s.login);
    t.same([bad.status, bad.json.error.code], [401, 'control_unauthenticated']);
    t.match(bad.json.error.message, /the sign-in state does not match this browser’s/);
    const other = await start();
    const crossed = await callbackWith(back, other.login);
    t.match(crossed.json.error.message, /state does not match/, "another login's cookie (login CSRF: the attacker's code in the victim's browser)");
    const none = await callbackWith(back, null);
    t.same([none.status, none.json.error.code], [401, 'control_unauthenticated']);
    t.match(none.json.error.message, /no sign-in is under way in this browser/);
    t.equal(cookieNamed(bad, 'aos_session') ?? cookieNamed(none, 'aos_session'), undefined);
  });

  t.test('refused: a code played again', async (t) => {
    const first = await fullLogin('alice');
    t.equal(first.answer.status, 303);
    const again = await callbackWith(first.back, first.login);
    t.same([again.status, again.json.error.code], [401, 'control_unauthenticated']);
    t.match(again.json.error.message, /the identity provider refused the sign-in code \(invalid_grant/);
  });

  t.test('refused: a code issued to another client', async (t) => {
    const s = await start();
    const other = new URL(s.location);
    other.searchParams.set('client_id', 'other-app');
    const back = await signInAtIdp(other.toString(), 'alice');
    const r = await callbackWith(back, s.login);
    t.same([r.status, r.json.error.code], [401, 'control_unauthenticated']);
    t.match(r.json.error.message, /refused the sign-in code \(invalid_grant/);
  });

  t.test('refused: an ID token whose nonce is not the login’s', async (t) => {
    const s = await start();
    const back = await signInAtIdp(s.location, 'alice');
    const pending = JSON.parse(Buffer.from(s.login.split('=')[1], 'base64url').toString('utf8'));
    const swapped = `aos_login=${Buffer.from(JSON.stringify({ ...pending, nonce: 'n'.repeat(43) })).toString('base64url')}`;
    const r = await callbackWith(back, swapped);
    t.same([r.status, r.json.error.code], [401, 'control_unauthenticated']);
    t.match(r.json.error.message, /nonce is not this sign-in’s/);
  });

  t.test("refused: the provider's own error (the person declined)", async (t) => {
    const s = await start();
    const state = new URL(s.location).searchParams.get('state')!;
    const r = await callbackWith(`${base}/console/oidc/callback?error=access_denied&error_description=End-User+aborted+interaction&state=${state}`, s.login);
    t.same([r.status, r.json.error.code], [401, 'control_unauthenticated']);
    t.match(r.json.error.message, 'the identity provider refused the sign-in (access_denied: End-User aborted interaction)');
    // A browser (Accept: text/html) gets the same refusal as a page, with the way back.
    const again = await start();
    const page = await get(`${base}/console/oidc/callback?error=access_denied&error_description=%3Cscript%3E&state=${new URL(again.location).searchParams.get('state')}`, {
      cookie: again.login,
      accept: 'text/html,application/xhtml+xml',
    });
    t.equal(page.status, 401);
    t.match(page.headers['content-type'], /^text\/html/);
    t.match(page.headers['content-security-policy'], "default-src 'none'");
    t.match(page.text, '<code>control_unauthenticated</code>: the identity provider refused the sign-in (access_denied: &lt;script>)');
    t.match(page.text, '<a href="/console/">Back to the sign-in page</a>');
  });

  t.test('a public client: PKCE alone, no secret; the roles from a nested claim (Keycloak’s realm_access.roles)', async (t) => {
    const pub = await startControl(t, {
      config: { listen: listen(publicPort), console: { oidc: { issuer: idp.issuer, clientId: 'aos-public', rolesClaim: 'realm_access.roles', roleMap: { 'aos-admins': 'admin' } } } },
    });
    const at = pub.cp.addresses.people;
    const s = await start(at);
    const r = await callbackWith(await signInAtIdp(s.location, 'alice'), s.login);
    t.equal(r.status, 303, JSON.stringify(r.json));
    const cookie = cookieNamed(r, 'aos_session')!.split(';')[0];
    t.match((await get(`${at}/console/session`, { cookie })).json, { actor: 'alice@example.com', role: 'admin' });
    const html = await (await fetch(`${at}/console/`)).text();
    t.match(html, `<meta name="aos-oidc" content="127.0.0.1:${new URL(idp.issuer).port}">`, 'named after the issuer’s host by default');
  });

  t.test('the ID token checks, against the provider’s JWKS', async (t) => {
    const key = await importJWK(idp.signingKey, 'RS256');
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const expected = { issuer: idp.issuer, clientId: 'aos-console', nonce: 'the-nonce', jwks };
    const sign = (claims: Record<string, unknown>, o: { aud?: string | string[]; iss?: string; exp?: number; kid?: string } = {}) =>
      new SignJWT({ nonce: 'the-nonce', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? 'idp-1' })
        .setIssuer(o.iss ?? idp.issuer)
        .setSubject('alice')
        .setAudience(o.aud ?? 'aos-console')
        .setIssuedAt()
        .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(key);
    t.match(await verifyIdToken(await sign({}), expected), { sub: 'alice', nonce: 'the-nonce' }, 'a good one');
    const refused: [string, Promise<string>, RegExp][] = [
      ['another audience', sign({}, { aud: 'other-app' }), /ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud" claim value/],
      ['several audiences, azp another client', sign({ azp: 'other-app' }, { aud: ['aos-console', 'other-app'] }), /issued to another client \(azp "other-app"\)/],
      ['several audiences, no azp', sign({}, { aud: ['aos-console', 'other-app'] }), /issued to another client \(azp null\)/],
      ['another issuer', sign({}, { iss: 'https://elsewhere.example' }), /unexpected "iss" claim value/],
      ['expired', sign({}, { exp: Math.floor(Date.now() / 1000) - 120 }), /ERR_JWT_EXPIRED/],
      ['another nonce', sign({ nonce: 'another' }), /nonce is not this sign-in’s/],
      ['a key the provider does not publish', sign({}, { kid: 'unknown-key' }), /ERR_JWKS_NO_MATCHING_KEY/],
    ];
    for (const [name, token, message] of refused) {
      await t.rejects(verifyIdToken(await token, expected), { code: 'control_unauthenticated', message }, name);
    }
    const good = await sign({});
    const tampered = `${good.slice(0, good.lastIndexOf('.'))}.${'A'.repeat(good.length - good.lastIndexOf('.') - 1)}`;
    await t.rejects(verifyIdToken(tampered, expected), { code: 'control_unauthenticated', message: /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/ }, 'a signature that does not verify');
  });
});

t.test('a provider that cannot be reached: 503 control_unavailable at sign-in, saying where', async (t) => {
  const gone = `http://127.0.0.1:${await refusedPort()}`;
  const h = await startControl(t, { config: { console: { oidc: { issuer: gone, clientId: 'aos-console' } } } });
  const r = await get(`${h.cp.addresses.people}/console/oidc/login`);
  t.same([r.status, r.json.error.code], [503, 'control_unavailable']);
  t.match(r.json.error.message, `the identity provider's discovery document cannot be reached (${gone}/.well-known/openid-configuration)`);
  t.equal(cookieNamed(r, 'aos_login'), undefined, 'no login started');
  const page = await get(`${h.cp.addresses.people}/console/oidc/login`, { accept: 'text/html' });
  t.same([page.status, page.headers['content-type']], [503, 'text/html; charset=utf-8']);
  t.match(page.text, '<h1>Sign-in refused</h1>');
  // The token form still signs in.
  const token = await get(`${h.cp.addresses.people}/console/session`, { origin: h.cp.addresses.people }, 'POST', { token: ADMIN_TOKEN });
  t.equal(token.status, 200);
});

t.test('config: a client secret named but not in the environment is refused at start', async (t) => {
  await t.rejects(
    startControl(t, { config: { console: { oidc: { issuer: 'https://idp.example', clientId: 'aos-console', clientSecretEnv: 'AOS_OIDC_SECRET_UNSET' } } } }),
    /console\.oidc\.clientSecretEnv.*the client secret is not in the environment variable AOS_OIDC_SECRET_UNSET/,
  );
});
