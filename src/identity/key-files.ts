/**
 * Static verification keys read from files: PEM (SPKI public key or X.509 certificate) or JWK /
 * JWKS JSON. Every key comes out as a public JWK, so static and fetched keys share one key set.
 */
import { createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { JWK } from 'jose';
import { ConfigError } from '../config/config-error.js';
import { readConfigText } from '../config/yaml-file.js';

// Members that only a private or symmetric key carries: a key file holding one is refused, because
// a private key has no business in the gateway's trust configuration.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * The public keys in one key file. Throws a ConfigError naming the file and what is wrong with it:
 * `AOS_ERR_CONFIG_NOT_FOUND` / `AOS_ERR_CONFIG_UNREADABLE`, `AOS_ERR_CONFIG_SYNTAX` for invalid JSON, `AOS_ERR_CONFIG_INVALID`
 * for a key it refuses or a file without one.
 */
export function readKeyFile(file: string): JWK[] {
  const text = readConfigText(file, 'key file');
  try {
    const keys = text.trimStart().startsWith('{') ? fromJson(text) : fromPem(text);
    if (keys.length === 0) throw new Error('no public key found (expected PEM or JWK/JWKS JSON)');
    return keys;
  } catch (err) {
    throw new ConfigError(file, [` ${(err as Error).message}`], err instanceof KeyFileSyntax ? 'AOS_ERR_CONFIG_SYNTAX' : 'AOS_ERR_CONFIG_INVALID');
  }
}

/** The text could not be parsed at all (code `AOS_ERR_CONFIG_SYNTAX` rather than `AOS_ERR_CONFIG_INVALID`). */
class KeyFileSyntax extends Error {}

function fromPem(text: string): JWK[] {
  const keys: JWK[] = [];
  let certificates = 0;
  for (const [block, label] of text.matchAll(PEM_BLOCK)) {
    if (label === 'CERTIFICATE') {
      // Only the first certificate: the rest of a chain are CA certificates, whose keys must not
      // become trusted token-signing keys just because they sit in the same file.
      if (certificates++ === 0) keys.push(toJwk(new X509Certificate(block).publicKey));
    } else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') {
      keys.push(toJwk(createPublicKey(block)));
    } else if (label.includes('PRIVATE KEY')) {
      throw new Error('holds a private key; give the public key (SPKI PEM) or the certificate');
    } else {
      throw new Error(`unsupported PEM block "${label}"`);
    }
  }
  return keys;
}

function fromJson(text: string): JWK[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyFileSyntax('not valid JSON');
  }
  const list = isObject(doc) && Array.isArray(doc.keys) ? doc.keys : [doc];
  return list.map((jwk, i) => {
    const where = list.length > 1 ? `key ${i}: ` : '';
    if (!isObject(jwk)) throw new Error(`${where}not a JWK object`);
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new Error(`${where}a private or symmetric key; give the public JWK`);
    return checkedPublicJwk(jwk as JWK, where);
  });
}

/**
 * The JWK if node can import it as an asymmetric public key (RSA, EC, OKP); throws otherwise. Used
 * for fetched JWKS members too, so a malformed key is dropped when it arrives, not when a token
 * that names it shows up.
 */
export function checkedPublicJwk(jwk: JWK, where = ''): JWK {
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') throw new Error(`${where}unsupported key type ${String(jwk.kty)}`);
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new Error(`${where}a private key member is present`);
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new Error(`${where}not a usable ${jwk.kty} public key (${(err as Error).message})`);
  }
  return jwk;
}

function toJwk(key: KeyObject): JWK {
  return checkedPublicJwk(key.export({ format: 'jwk' }) as JWK);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
