/**
 * The keys A2A delegation tokens (src/coordination/delegation.ts) are signed and verified with.
 * Without `identity.delegation` in the gateway config, the gateway's local key (dataDir) does both,
 * so only the gateway that signed a token accepts it. With it, a fleet shares them: `keyFile` is the
 * Ed25519 private key every gateway signs with (the same Secret mounted into each sidecar), `trust`
 * adds public keys accepted besides it (the previous key during a rotation, or the keys of gateways
 * that sign with their own). A token names its key by `kid`, the RFC 7638 thumbprint of the public
 * key, computed here whatever a file says, so a PEM and a JWK of one key agree.
 */
import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../config/config-error.js';
import type { IdentityConfig } from '../config/schema.js';
import { readConfigText } from '../config/yaml-file.js';
import { readKeyFile } from './key-files.js';
import type { LoadedLocalSigner } from './local-key.js';

/** What `identity.delegation` names, read and checked at load. */
export interface DelegationKeyConfig {
  /** The key tokens are signed with (`keyFile`); null: the local key in dataDir. */
  readonly signing: { readonly kid: string; readonly privateKey: KeyObject; readonly publicKey: KeyObject } | null;
  /** The other public keys tokens are accepted from (`trust`), by kid. */
  readonly trusted: ReadonlyMap<string, KeyObject>;
}

/** The keys a gateway signs delegation tokens with (one) and accepts them from (by kid). */
export interface DelegationKeySet {
  /** The `iss` of the tokens it signs. */
  readonly issuer: string;
  /** The `kid` of the tokens it signs. */
  readonly kid: string;
  signBytes(data: Buffer): Buffer;
  /** Per trusted kid (the signing key's included): whether a signature of `data` is that key's. */
  readonly trusted: ReadonlyMap<string, (data: Buffer, signature: Buffer) => boolean>;
  /**
   * true: the keys of `identity.delegation`, trusted whichever gateway signed (any `iss`). false:
   * the local key alone, and the token must carry this gateway's issuer, as before there was a fleet.
   */
  readonly fleet: boolean;
}

const verifier = (publicKey: KeyObject) => (data: Buffer, signature: Buffer) => signature.length === 64 && verify(null, data, publicKey, signature);

/** RFC 7638 thumbprint of an Ed25519 public key (members in lexicographic order, SHA-256, base64url). */
function kidOf(publicKey: KeyObject): string {
  const { x } = publicKey.export({ format: 'jwk' });
  return createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

/** The key set of a gateway: the configured keys when `identity.delegation` is set, else its local signer alone. */
export function delegationKeySet(config: DelegationKeyConfig | null, local: LoadedLocalSigner | null, issuer: string): DelegationKeySet | null {
  if (config === null) return local === null ? null : { issuer, kid: local.kid, signBytes: local.signBytes, trusted: new Map([[local.kid, local.verifyBytes]]), fleet: false };
  const trusted = new Map<string, (data: Buffer, signature: Buffer) => boolean>();
  for (const [kid, key] of config.trusted) trusted.set(kid, verifier(key));
  const s = config.signing;
  if (s !== null) {
    trusted.set(s.kid, verifier(s.publicKey));
    return { issuer, kid: s.kid, signBytes: (data) => sign(null, data, s.privateKey), trusted, fleet: true };
  }
  if (local === null) return null;
  trusted.set(local.kid, local.verifyBytes);
  return { issuer, kid: local.kid, signBytes: local.signBytes, trusted, fleet: true };
}

/**
 * Reads the key files `identity.delegation` names (relative to the config file); null when it is
 * absent. Throws a ConfigError naming the config file, the key path and the key file, for every
 * problem: an unreadable file, a key that is not Ed25519, a public key as `keyFile`, a private key
 * in `trust`.
 */
export function readDelegationKeys(identity: IdentityConfig, configFile: string): DelegationKeyConfig | null {
  const d = identity.delegation;
  if (d === undefined) return null;
  const path = (f: string) => (isAbsolute(f) ? f : resolve(dirname(configFile), f));
  const problems: string[] = [];
  let signing: DelegationKeyConfig['signing'] = null;
  if (d.keyFile !== undefined) {
    try {
      const privateKey = readPrivateKey(path(d.keyFile));
      const publicKey = createPublicKey(privateKey);
      signing = { kid: kidOf(publicKey), privateKey, publicKey };
    } catch (err) {
      problems.push(` identity.delegation.keyFile: ${(err as Error).message}`);
    }
  }
  const trusted = new Map<string, KeyObject>();
  d.trust.forEach((file, i) => {
    try {
      for (const jwk of readKeyFile(path(file))) {
        if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519')
          throw new Error(`${path(file)}: not an Ed25519 public key (${jwk.kty}${jwk.crv === undefined ? '' : ` ${jwk.crv}`}); delegation tokens are signed with Ed25519`);
        const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x } as JsonWebKey, format: 'jwk' });
        trusted.set(kidOf(key), key);
      }
    } catch (err) {
      problems.push(` identity.delegation.trust[${i}]: ${(err as Error).message.trim()}`);
    }
  });
  if (problems.length > 0) throw new ConfigError(configFile, problems);
  return { signing, trusted };
}

/** An Ed25519 private key from a PKCS#8 PEM file or a private JWK (the local key's file format). */
function readPrivateKey(file: string): KeyObject {
  const text = readConfigText(file, 'delegation key');
  let key: KeyObject;
  if (text.trimStart().startsWith('{')) {
    let jwk: JsonWebKey;
    try {
      jwk = JSON.parse(text) as JsonWebKey;
    } catch {
      throw new Error(`${file}: not valid JSON (expected an Ed25519 private JWK or a PKCS#8 PEM)`);
    }
    if (typeof jwk.d !== 'string') throw new Error(`${file}: a public key; keyFile is the private key tokens are signed with (public keys go in trust)`);
    try {
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      throw new Error(`${file}: not a usable private JWK (${(err as Error).message})`);
    }
  } else {
    if (!/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
      throw new Error(
        /-----BEGIN [A-Z ]*(PUBLIC KEY|CERTIFICATE)-----/.test(text)
          ? `${file}: a public key; keyFile is the private key tokens are signed with (public keys go in trust)`
          : `${file}: no private key found (expected a PKCS#8 PEM "PRIVATE KEY" block or an Ed25519 private JWK)`,
      );
    }
    try {
      key = createPrivateKey(text);
    } catch (err) {
      throw new Error(`${file}: not a usable private key (${(err as Error).message})`);
    }
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: not an Ed25519 key (${key.asymmetricKeyType}); delegation tokens are signed with Ed25519`);
  return key;
}
