/**
 * Static verification keys read from files: PEM (SPKI public key or X.509 certificate) or JWK /
 * JWKS JSON. Every key comes out as a public JWK, so static and fetched keys share one key set.
 */
import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { KeyError } from '../errors.js';

// Members that only a private or symmetric key carries: a key file holding one is refused, because
// a private key has no business in the gateway's trust configuration.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** The public keys in one key file. Throws a KeyError naming the file and what is wrong with it. */
export function readKeyFile(file: string): JWK[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyError('AOS_ERR_KEY_UNREADABLE', `key file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  try {
    const keys = text.trimStart().startsWith('{') ? fromJson(text) : fromPem(text);
    if (keys.length === 0) throw new KeyError('AOS_ERR_KEY_INVALID', 'no public key found (expected PEM or JWK/JWKS JSON)');
    return keys;
  } catch (err) {
    // Node's own errors (a malformed PEM or certificate) are invalid keys too.
    throw new KeyError('AOS_ERR_KEY_INVALID', `key file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

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
      throw new KeyError('AOS_ERR_KEY_INVALID', 'holds a private key; give the public key (SPKI PEM) or the certificate');
    } else {
      throw new KeyError('AOS_ERR_KEY_INVALID', `unsupported PEM block "${label}"`);
    }
  }
  return keys;
}

function fromJson(text: string): JWK[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyError('AOS_ERR_KEY_INVALID', 'not valid JSON');
  }
  const list = isObject(doc) && Array.isArray(doc.keys) ? doc.keys : [doc];
  return list.map((jwk, i) => {
    const where = list.length > 1 ? `key ${i}: ` : '';
    if (!isObject(jwk)) throw new KeyError('AOS_ERR_KEY_INVALID', `${where}not a JWK object`);
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new KeyError('AOS_ERR_KEY_INVALID', `${where}a private or symmetric key; give the public JWK`);
    return checkedPublicJwk(jwk as JWK, where);
  });
}

/**
 * The JWK if node can import it as an asymmetric public key (RSA, EC, OKP); throws a KeyError otherwise. Used
 * for fetched JWKS members too, so a malformed key is dropped when it arrives, not when a token
 * that names it shows up.
 */
export function checkedPublicJwk(jwk: JWK, where = ''): JWK {
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') throw new KeyError('AOS_ERR_KEY_INVALID', `${where}unsupported key type ${String(jwk.kty)}`);
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new KeyError('AOS_ERR_KEY_INVALID', `${where}a private key member is present`);
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new KeyError('AOS_ERR_KEY_INVALID', `${where}not a usable ${jwk.kty} public key (${(err as Error).message})`, { cause: err });
  }
  return jwk;
}

function toJwk(key: KeyObject): JWK {
  return checkedPublicJwk(key.export({ format: 'jwk' }) as JWK);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
