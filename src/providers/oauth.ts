import { importPKCS8, SignJWT } from 'jose';
import { request } from 'undici';
import type { Token } from './auth.js';

/** Longest wait for a token endpoint (a call waiting for its first token waits this long at most). */
const TOKEN_TIMEOUT_MS = 10_000;
/** A token response without expires_in is trusted this long. */
const DEFAULT_LIFETIME_S = 3600;

/** POSTs a form to an OAuth2 token endpoint and reads `access_token` and `expires_in` (RFC 6749 §5.1). */
async function tokenRequest(url: string, form: Record<string, string>, now: () => number): Promise<Token> {
  const started = now();
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
    headersTimeout: TOKEN_TIMEOUT_MS,
    bodyTimeout: TOKEN_TIMEOUT_MS,
  });
  const text = await res.body.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // reported below
  }
  if (res.statusCode !== 200 || typeof body.access_token !== 'string') {
    // The endpoint's own error fields (RFC 6749 §5.2), never the request (it holds the secret).
    const why = typeof body.error === 'string' ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description.slice(0, 200)}` : ''}` : 'no access_token';
    throw new Error(`token endpoint ${new URL(url).host} answered ${res.statusCode} (${why})`);
  }
  const life = typeof body.expires_in === 'number' ? body.expires_in : typeof body.expires_in === 'string' ? Number(body.expires_in) || DEFAULT_LIFETIME_S : DEFAULT_LIFETIME_S;
  return { value: body.access_token, expiresAt: started + life * 1000 };
}

export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}

/** OAuth2 client credentials grant (Microsoft Entra ID for Azure OpenAI, or any OAuth2 server). */
export function clientCredentialsToken(c: ClientCredentials, now: () => number = Date.now): () => Promise<Token> {
  return () => tokenRequest(c.tokenUrl, { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope: c.scope }, now);
}

/** The fields of a Google service account key file the gateway reads. */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/**
 * A Google service account's access token: a JWT signed with its key (RS256), exchanged at the key
 * file's `token_uri` (RFC 7523 JWT bearer grant, what Google's client libraries do).
 */
export function serviceAccountToken(key: ServiceAccountKey, scopes: readonly string[], now: () => number = Date.now): () => Promise<Token> {
  const tokenUri = key.token_uri ?? GOOGLE_TOKEN_URI;
  let signingKey: Promise<CryptoKey> | null = null;
  return async () => {
    signingKey ??= importPKCS8(key.private_key, 'RS256');
    const iat = Math.floor(now() / 1000);
    const assertion = await new SignJWT({ scope: scopes.join(' ') })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(key.private_key_id === undefined ? {} : { kid: key.private_key_id }) })
      .setIssuer(key.client_email)
      .setAudience(tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(await signingKey);
    return tokenRequest(tokenUri, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }, now);
  };
}
