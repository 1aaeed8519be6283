/**
 * The signature algorithms the gateway accepts, defined once. A leaf module: the config schema,
 * the token verifier and the bundle verifier all read it, and it imports nothing.
 *
 * Asymmetric algorithms only. An HMAC algorithm would let anyone who knows a public key
 * (everyone) sign with it as the secret; `none` needs no key at all.
 */

/** JWS algorithms an agent or admin token may name (`identity.algorithms` picks among them). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/**
 * JWS algorithms a policy bundle's .signatures.json may use: the token list plus `Ed25519`, the
 * fully-specified name (RFC 9864) that bundle signers may write for an Ed25519 key where tokens say
 * `EdDSA`. Tokens keep the shorter list: `identity.algorithms` and issued tokens use `EdDSA`.
 */
export const BUNDLE_SIGNATURE_ALGORITHMS: readonly string[] = [...JWT_ALGORITHMS, 'Ed25519'];
