import type { JWTPayload } from 'jose';

/** The kubernetes.io claims of a projected ServiceAccount token. */
export interface KubernetesIdentity {
  namespace: string;
  serviceaccount: string;
  pod: string | null;
}

/** A token whose signature, issuer, audience and times were checked. */
export interface VerifiedToken {
  readonly issuer: string;
  readonly subject: string;
  readonly claims: JWTPayload;
  /** `exp` in epoch milliseconds: a cached verification is never used past it. */
  readonly expiresAt: number;
  /** Set for tokens of an issuer marked `kubernetes: true`. */
  readonly kubernetes: KubernetesIdentity | null;
}

export type TokenAudience = 'agent' | 'admin';

export interface TokenVerifier {
  /**
   * Verifies a compact JWS. Synchronous on a cache hit; otherwise a promise. Fails with a
   * GatewayError `aos_unauthenticated` whose message says what is wrong (expired, wrong audience,
   * unknown key, …) and never contains the token.
   *
   * `resource`: an audience accepted besides the configured one (the resource URL of the MCP server
   * the token is presented to, RFC 8707); a token whose only audience is another resource is refused.
   */
  verify(token: string, audience: TokenAudience, resource?: string | null): VerifiedToken | Promise<VerifiedToken>;
  /** Issuers and their key state, for the admin API. */
  status(): { issuer: string; keys: number; lastRefresh: string | null; lastError: string | null }[];
  close(): void;
}

/** The development signer: the key the gateway generates in its data folder and trusts. */
export interface LocalSigner {
  readonly issuer: string;
  /** Signs a token for `sub` with the given audience, roles and lifetime. */
  mint(options: { subject: string; audience: string; roles?: string[]; ttlSec: number; claims?: Record<string, unknown> }): Promise<string>;
}
