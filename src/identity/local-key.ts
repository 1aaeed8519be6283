/**
 * The local development issuer: an Ed25519 key pair generated in the data folder on first use and
 * reused afterwards, so `aos token mint` works with zero set-up and tokens survive restarts.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, importJWK, type JWK, SignJWT } from 'jose';
import { KeyError } from '../errors.js';
import type { LocalSigner } from './types.js';

export const LOCAL_KEY_FILE = 'local-signing-key.json';

export type LoadedLocalSigner = LocalSigner & {
  readonly publicJwk: JWK;
  /** The key's id (its JWK thumbprint). */
  readonly kid: string;
  /** Ed25519 signature of `data` (synchronous: the gateway's own short-lived tokens, src/coordination/delegation.ts). */
  signBytes(data: Buffer): Buffer;
  /** Whether `signature` is this key's signature of `data`. */
  verifyBytes(data: Buffer, signature: Buffer): boolean;
};

/** Loads the local signing key from `<dataDir>/local-signing-key.json`, creating it on first use. */
export async function loadLocalSigner(dataDir: string, issuer: string): Promise<LoadedLocalSigner> {
  const file = join(dataDir, LOCAL_KEY_FILE);
  const privateJwk = (await readKey(file)) ?? (await createKey(dataDir, file));
  const { kty, crv, x, kid } = privateJwk;
  const publicJwk: JWK = { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' };
  const key = await importJWK(privateJwk, 'EdDSA');
  const privateKey = createPrivateKey({ key: privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  const publicKey = createPublicKey({ key: { kty, crv, x } as import('node:crypto').JsonWebKey, format: 'jwk' });
  return {
    issuer,
    publicJwk,
    kid: kid!,
    signBytes: (data) => sign(null, data, privateKey),
    verifyBytes: (data, signature) => signature.length === 64 && verify(null, data, publicKey, signature),
    mint({ subject, audience, roles, ttlSec, claims = {} }) {
      const iat = Math.floor(Date.now() / 1000);
      // Registered claims are set last: extra claims cannot override who issued the token or for whom.
      return new SignJWT({ ...claims, roles: roles ?? claims.roles ?? [] })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSec)
        .setJti(randomUUID())
        .sign(key);
    },
  };
}

async function readKey(file: string): Promise<JWK | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KeyError('AOS_ERR_KEY_UNREADABLE', `local signing key ${file}: cannot read it (${(err as NodeJS.ErrnoException).code})`, { cause: err });
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new KeyError('AOS_ERR_KEY_INVALID', `local signing key ${file}: not valid JSON; delete it to generate a new key`);
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') {
    throw new KeyError('AOS_ERR_KEY_INVALID', `local signing key ${file}: not an Ed25519 private JWK; delete it to generate a new key`);
  }
  // A private key readable by others is a leak waiting to happen; it is our file, so tighten it.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return jwk;
}

async function createKey(dataDir: string, file: string): Promise<JWK> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const exported = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as JWK;
  const jwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: exported.x, d: exported.d };
  jwk.kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: exported.x });
  jwk.alg = 'EdDSA';

  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(jwk, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() instead of rename(): when two processes start at once, the first key written wins
    // and the other process adopts it, instead of silently replacing a key already in use.
    await link(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await unlink(tmp);
      const existing = await readKey(file);
      if (existing !== null) return existing;
      throw err;
    }
    // Filesystems without hard links: an atomic rename is the next best thing.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      await rename(tmp, file);
      return jwk;
    }
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await unlink(tmp);
  return jwk;
}
