/**
 * Agent token verification: a compact JWS signed by a trusted issuer, checked with jose.
 *
 * Order of checks, cheapest and most telling first: size (before any parsing), shape, algorithm
 * allow-list (asymmetric only, so `none` and an HMAC "signed" with a public key never get near a
 * key), issuer, then signature, times, audience and required claims in jose. A token seen before
 * is answered from a bounded cache, synchronously, until its `exp`. Every refusal is a GatewayError
 * `aos_unauthenticated` whose message says what is wrong without echoing the token.
 */

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { errors, type JWK, type JWSHeaderParameters, type JWTPayload, type JWTVerifyOptions, jwtVerify } from 'jose';
import { Agent } from 'undici';
import { JWT_ALGORITHMS } from '../config/algorithms.js';
import type { IdentityConfig, IssuerConfig } from '../config/schema.js';
import { GatewayError, IdentityConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { createKeySource, type FetchOptions, type KeySource } from './jwks.js';
import { readKeyFile } from './key-files.js';
import { type LoadedLocalSigner, loadLocalSigner } from './local-key.js';
import { createTokenCache, type TokenCache } from './token-cache.js';
import type { KubernetesIdentity, LocalSigner, TokenAudience, TokenVerifier, VerifiedToken } from './types.js';
import { unauthenticated } from './unauthenticated.js';

/** In-cluster issuers: the API server's CA and the pod's own ServiceAccount token for discovery. */
function issuerFetch(cfg: IssuerConfig, configDir: string): FetchOptions {
  const path = (f: string) => (isAbsolute(f) ? f : resolve(configDir, f));
  const out: FetchOptions = {};
  if (cfg.caFile !== undefined) out.dispatcher = new Agent({ connect: { ca: readFileSync(path(cfg.caFile)) } });
  if (cfg.tokenFile !== undefined) {
    const file = path(cfg.tokenFile);
    out.bearer = () => {
      try {
        return readFileSync(file, 'utf8').trim();
      } catch {
        return null;
      }
    };
  }
  return out;
}

export interface VerifierOptions {
  /** Where the local development signing key lives. */
  dataDir: string;
  /** Relative key files are resolved against this folder (the config file's). */
  configDir: string;
  log: Logger;
  /** Clock in epoch milliseconds; tests move it. */
  now?: () => number;
  /** The local signer, when the caller already loaded it; otherwise it is loaded from dataDir. */
  localSigner?: LocalSigner | null;
}

// The only algorithms a token may name (asymmetric only, see config/algorithms.ts).
const ASYMMETRIC: ReadonlySet<string> = new Set(JWT_ALGORITHMS);

interface TrustedIssuer {
  readonly keys: KeySource;
  readonly kubernetes: boolean;
  /** jwtVerify options per audience, built once. */
  readonly options: Record<TokenAudience, JWTVerifyOptions & { audience: string }>;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export async function createVerifier(identity: IdentityConfig, opts: VerifierOptions): Promise<TokenVerifier> {
  const now = opts.now ?? Date.now;
  const { log } = opts;
  for (const alg of identity.algorithms) {
    if (!ASYMMETRIC.has(alg)) throw new IdentityConfigError(`identity.algorithms: ${alg} is not allowed (asymmetric algorithms only)`);
  }
  const algorithms = new Set(identity.algorithms);
  const maxBytes = identity.maxTokenBytes;
  const skewMs = identity.clockSkewSec * 1000;
  const caches: Record<TokenAudience, TokenCache<VerifiedToken>> | null = identity.cacheSize > 0 ? { agent: createTokenCache(identity.cacheSize), admin: createTokenCache(identity.cacheSize) } : null;
  // A key the issuer withdrew may have been compromised: forget what it vouched for.
  const forgetVerified = () => {
    caches?.agent.clear();
    caches?.admin.clear();
  };

  const issuers = new Map<string, TrustedIssuer>();
  const trust = (cfg: IssuerConfig, staticKeys: JWK[]) => {
    if (issuers.has(cfg.issuer)) throw new IdentityConfigError(`identity.issuers: issuer ${cfg.issuer} is configured twice`);
    const keys = createKeySource({
      issuer: cfg.issuer,
      staticKeys,
      jwksUrl: cfg.jwksUrl ?? null,
      discovery: cfg.discovery,
      cacheSec: cfg.jwksCacheSec,
      refreshMinSec: cfg.jwksRefreshMinSec,
      timeoutMs: cfg.jwksTimeoutMs,
      log,
      now,
      onKeysRemoved: forgetVerified,
      fetch: issuerFetch(cfg, opts.configDir),
    });
    const base = {
      algorithms: identity.algorithms,
      issuer: cfg.issuer,
      clockTolerance: identity.clockSkewSec,
      requiredClaims: [...new Set(['exp', ...cfg.requiredClaims])],
    };
    issuers.set(cfg.issuer, {
      keys,
      kubernetes: cfg.kubernetes,
      options: { agent: { ...base, audience: cfg.audience ?? identity.audience }, admin: { ...base, audience: identity.adminAudience } },
    });
  };

  try {
    for (const cfg of identity.issuers) {
      if (cfg.keyFiles.length === 0 && cfg.jwksUrl === undefined && !cfg.discovery) {
        throw new IdentityConfigError(`identity.issuers: issuer ${cfg.issuer} has no keys; set jwksUrl, discovery: true or keyFiles`);
      }
      trust(
        cfg,
        cfg.keyFiles.flatMap((f) => readKeyFile(isAbsolute(f) ? f : resolve(opts.configDir, f))),
      );
    }
    if (identity.localIssuer.enabled) {
      const signer = await localSigner(identity, opts);
      trust({ issuer: signer.issuer, discovery: false, keyFiles: [], kubernetes: false, requiredClaims: ['sub'], jwksCacheSec: 300, jwksRefreshMinSec: 30, jwksTimeoutMs: 2000 }, [signer.publicJwk]);
    }
  } catch (err) {
    for (const i of issuers.values()) i.keys.close();
    throw err;
  }
  // Bounded by each issuer's jwksTimeoutMs; an issuer that is down is retried in the background.
  await Promise.all([...issuers.values()].map((i) => i.keys.ready));

  async function verifyFresh(token: unknown, audience: TokenAudience, resource: string | null): Promise<VerifiedToken> {
    if (typeof token !== 'string') throw unauthenticated('not a JWT');
    if (token.length > maxBytes) throw unauthenticated(`token too large (${Buffer.byteLength(token)} bytes, limit ${maxBytes})`);
    const { header, payload } = peek(token);
    const alg = header.alg;
    if (typeof alg !== 'string') throw unauthenticated('not a JWT (no alg header)');
    if (!algorithms.has(alg)) throw unauthenticated(`algorithm ${printable(alg)} not allowed`);
    if (typeof payload.iss !== 'string') throw unauthenticated('token has no issuer (iss)');
    const trusted = issuers.get(payload.iss);
    if (trusted === undefined) throw unauthenticated(`unknown issuer (${printable(payload.iss)})`);

    const options = trusted.options[audience];
    const checks = { ...options, audience: resource === null ? options.audience : [options.audience, resource], currentDate: new Date(now()) };
    let claims: JWTPayload;
    try {
      claims = (await jwtVerify(token, trusted.keys.getKey, checks)).payload;
    } catch (err) {
      claims = await tryEachKey(err, token, checks).catch((e: unknown) => {
        throw explain(e, header, resource === null ? options.audience : `${options.audience} or ${resource}`);
      });
    }
    const kubernetes = trusted.kubernetes ? kubernetesIdentity(claims) : null;
    const verified: VerifiedToken = Object.freeze({
      issuer: payload.iss,
      subject: typeof claims.sub === 'string' ? claims.sub : '',
      claims: Object.freeze(claims),
      expiresAt: (claims.exp as number) * 1000,
      kubernetes,
    });
    if (caches !== null && now() < verified.expiresAt) {
      const validFrom = typeof claims.nbf === 'number' ? claims.nbf * 1000 - skewMs : -Infinity;
      caches[audience].set(token, verified, validFrom, verified.expiresAt);
    }
    return verified;
  }

  return {
    verify(token, audience, resource = null) {
      // The size limit comes first even here: an oversized string is not worth hashing.
      if (caches !== null && typeof token === 'string' && token.length <= maxBytes) {
        const hit = caches[audience].get(token, now());
        // A token verified for one resource (RFC 8707) is cached too: its audience is checked again here.
        if (hit !== undefined && audienceHolds(hit, issuers.get(hit.issuer)!.options[audience].audience, resource)) return hit;
      }
      return verifyFresh(token, audience, resource);
    },
    status: () => [...issuers.values()].map((i) => i.keys.status()),
    close() {
      for (const i of issuers.values()) i.keys.close();
      forgetVerified();
    },
  };
}

/** Whether a verified token's `aud` names the configured audience or (when given) the resource. */
function audienceHolds(v: VerifiedToken, configured: string, resource: string | null): boolean {
  const aud = v.claims.aud;
  const list = Array.isArray(aud) ? aud : [aud];
  return list.includes(configured) || (resource !== null && list.includes(resource));
}

async function localSigner(identity: IdentityConfig, opts: VerifierOptions): Promise<LoadedLocalSigner> {
  const given = opts.localSigner;
  if (given && given.issuer !== identity.localIssuer.issuer) {
    throw new IdentityConfigError(`the local signer issues as ${given.issuer} but identity.localIssuer.issuer is ${identity.localIssuer.issuer}`);
  }
  if (given && 'publicJwk' in given) return given as LoadedLocalSigner;
  return loadLocalSigner(opts.dataDir, identity.localIssuer.issuer);
}

/**
 * A token without `kid` for which several keys of the right type are trusted: it must verify with
 * one of them. Any other failure is passed on as it is.
 */
async function tryEachKey(err: unknown, token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
  if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
  for await (const key of err) {
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (e) {
      if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
    }
  }
  throw new errors.JWSSignatureVerificationFailed();
}

/** Header and payload of a compact JWS, decoded only to route it (alg, iss); jose checks them again. */
function peek(token: string): { header: JWSHeaderParameters; payload: JWTPayload } {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) {
    throw unauthenticated('not a JWT (expected header.payload.signature)');
  }
  return { header: segment(token.slice(0, first), 'header'), payload: segment(token.slice(first + 1, second), 'payload') };
}

function segment(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unauthenticated(`not a JWT (${what} is not base64url JSON)`);
  return value as Record<string, unknown>;
}

/** jose's verdict in words a caller can act on. Errors that are not jose's (bugs) pass through. */
function explain(err: unknown, header: JWSHeaderParameters, audience: string): unknown {
  if (err instanceof GatewayError) return err;
  if (err instanceof errors.JWTExpired) return unauthenticated('token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (claim === 'nbf' && reason === 'check_failed') return unauthenticated('token not yet valid (nbf)');
    if (claim === 'aud') return unauthenticated(reason === 'missing' ? `token has no audience (expected ${audience})` : `wrong audience (expected ${audience})`);
    if (claim === 'iss') return unauthenticated('unknown issuer');
    if (claim === 'exp' && reason === 'missing') return unauthenticated('token has no expiry (exp claim required)');
    if (reason === 'missing') return unauthenticated(`missing required claim (${printable(claim)})`);
    return unauthenticated(`invalid ${printable(claim)} claim`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return unauthenticated(`unknown signing key (${typeof header.kid === 'string' ? `kid ${printable(header.kid)}` : 'token has no kid'})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated('signature invalid');
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated(`algorithm ${printable(String(header.alg))} not allowed`);
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return unauthenticated(`not a JWT (${err.message})`);
  if (err instanceof errors.JOSEError) return unauthenticated(`token not accepted (${err.message})`);
  return err;
}

function kubernetesIdentity(claims: JWTPayload): KubernetesIdentity {
  const k8s = claims['kubernetes.io'];
  if (!isObject(k8s) || typeof k8s.namespace !== 'string' || !isObject(k8s.serviceaccount) || typeof k8s.serviceaccount.name !== 'string') {
    throw unauthenticated('not a Kubernetes service account token (kubernetes.io claim missing or malformed)');
  }
  const namespace = k8s.namespace;
  const serviceaccount = k8s.serviceaccount.name;
  // Both say who the token is for; if they disagree, neither can be believed.
  if (claims.sub !== `system:serviceaccount:${namespace}:${serviceaccount}`) {
    throw unauthenticated('subject does not match the kubernetes.io claims');
  }
  const pod = isObject(k8s.pod) && typeof k8s.pod.name === 'string' ? k8s.pod.name : null;
  return Object.freeze({ namespace, serviceaccount, pod });
}

/** A token-supplied value (alg, kid, iss) made safe to show: printable ASCII, bounded length. */
function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]|["\\]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}...` : clean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
