/**
 * Reading an OPA bundle (a .tar.gz) into a validated PolicyBundle, and verifying its signature the
 * way OPA does (`opa build --signing-key` writes it; OPA's bundle/verify.go checks it):
 *
 * - `/.signatures.json` holds exactly one compact JWS. Its payload lists `files`, each
 *   `{ name, hash, algorithm }`, names without the leading slash. The JWS must verify with the
 *   configured key; the key id it names (header `kid`, else the deprecated `keyid` claim) must be the
 *   configured `keyId` when one is set; its `scope` claim must equal the configured scope (absent
 *   when none is configured, as in OPA).
 * - The file list is checked exactly: every file of the archive but `/.signatures.json` must be
 *   listed, with a matching digest; every listed file must be in the archive.
 * - Digests are taken as OPA takes them (bundle/hash.go): over the raw bytes, except for
 *   `data.json`, `data.yaml` and `.manifest`, which are hashed over a normal form of the JSON —
 *   object keys sorted bytewise, no whitespace, numbers as written, strings escaped as Go's
 *   encoding/json escapes them — so re-indenting a data file does not break its signature.
 *
 * Stricter than OPA where OPA is lax: a bundle without a signature is refused whenever a key is
 * configured (OPA only refuses when a key id is configured), MD5 and SHA-1 digests are refused, and a
 * file listed twice is refused.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { compactVerify, type JWK } from 'jose';
import { BUNDLE_SIGNATURE_ALGORITHMS } from '../config/algorithms.js';
import { BundleError, type BundleErrorCode, TarReadError } from '../errors.js';
import { readTarGz } from './tar.js';
import type { PolicyBundle } from './types.js';

export interface BundleVerification {
  /** The public key the signature must verify with. */
  key: KeyObject | CryptoKey | JWK;
  /** When set, the signature must name this key (JWS `kid`, or the `keyid` claim). */
  keyId?: string;
  /** The `scope` claim the signature must carry; when unset, it must carry none (as in OPA). */
  scope?: string;
  /** When set, the only JWS `alg` accepted; otherwise any asymmetric algorithm fitting the key. */
  algorithm?: string;
}

export interface ParseBundleOptions {
  /** Where the bundle came from (file path, directory, URL): carried into the PolicyBundle. */
  source: string;
  /** Null: signatures are not checked (a signed bundle loads, with `signed: false`). */
  verification: BundleVerification | null;
  /** Most bytes the archive may decompress to. */
  maxBytes?: number;
}

export const SIGNATURES_FILE = '/.signatures.json';
/** Algorithms a bundle signature may use (config/algorithms.ts). */
export const ASYMMETRIC_ALGORITHMS = BUNDLE_SIGNATURE_ALGORITHMS;

/** The digest algorithms OPA names in a signature, mapped to node's names. MD5 and SHA-1 are refused. */
const DIGESTS: Record<string, string> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

/** Base names OPA hashes over normalized JSON rather than raw bytes (bundle.IsStructuredDoc). */
const STRUCTURED = new Set(['data.json', 'data.yaml', '.manifest', 'signatures.json']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads, verifies and validates a bundle. Throws a BundleError saying why a bundle is refused.
 * Verification happens before any file but the signature is interpreted.
 */
export async function parseBundle(targz: Buffer, opts: ParseBundleOptions): Promise<PolicyBundle> {
  let files: Map<string, Buffer>;
  try {
    files = await readTarGz(targz, opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes });
  } catch (err) {
    throw new BundleError('AOS_ERR_BUNDLE_INVALID', `bundle is not a readable .tar.gz: ${err instanceof TarReadError ? err.message : String(err)}`);
  }

  for (const path of files.keys()) {
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (base === 'data.yaml' || base === 'data.yml') throw new BundleError('AOS_ERR_BUNDLE_INVALID', `bundle file ${path}: YAML data files are not supported; use data.json`);
    if (base === 'patch.json') throw new BundleError('AOS_ERR_BUNDLE_INVALID', 'delta bundles (patch.json) are not supported; serve a full (snapshot) bundle');
  }

  let signed = false;
  if (opts.verification !== null) {
    await verifySignature(files, opts.verification);
    signed = true;
  }

  const wasmFiles = [...files.keys()].filter((p) => p.endsWith('/policy.wasm'));
  if (!files.has('/policy.wasm')) {
    throw new BundleError('AOS_ERR_BUNDLE_INVALID', 'bundle has no /policy.wasm: build it with `opa build -t wasm -e aos/decision`');
  }
  if (wasmFiles.length > 1) throw new BundleError('AOS_ERR_BUNDLE_INVALID', `bundle holds more than one policy.wasm (${wasmFiles.join(', ')}); one Wasm module is supported`);

  const data = mergeData(files);
  const manifest = readManifest(files.get('/.manifest'));
  const wasm = files.get('/policy.wasm')!;
  const revision = manifest.revision !== '' ? manifest.revision : contentRevision(wasm, data);
  return { revision, wasm: new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength), data, source: opts.source, signed };
}

/** A revision for a bundle whose manifest names none: derived from its contents, so stable across builds. */
function contentRevision(wasm: Buffer, data: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(wasm).update('\0').update(JSON.stringify(data)).digest('hex').slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------
// Signature

async function verifySignature(files: Map<string, Buffer>, v: BundleVerification): Promise<void> {
  const raw = files.get(SIGNATURES_FILE);
  if (raw === undefined) {
    throw new BundleError('AOS_ERR_BUNDLE_UNSIGNED', 'bundle is not signed (no /.signatures.json) and policy.verification requires a signature');
  }
  const doc = parseJsonValue(raw, SIGNATURES_FILE, 'AOS_ERR_BUNDLE_BAD_SIGNATURE');
  if (!isObject(doc) || (doc.signatures !== undefined && !Array.isArray(doc.signatures))) {
    throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', '/.signatures.json is not an object with a "signatures" array');
  }
  if (doc.plugin !== undefined && doc.plugin !== '' && doc.plugin !== '_default') {
    throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', `bundle is signed with the signing plugin "${String(doc.plugin)}", which the gateway does not support`);
  }
  const tokens = (doc.signatures ?? []) as unknown[];
  if (tokens.length !== 1 || typeof tokens[0] !== 'string') {
    throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', `/.signatures.json must hold exactly one JWS (holds ${tokens.length})`);
  }

  let payloadBytes: Uint8Array;
  let header: Record<string, unknown>;
  try {
    const result = await compactVerify(tokens[0], v.key, { algorithms: v.algorithm !== undefined ? [v.algorithm] : [...ASYMMETRIC_ALGORITHMS] });
    payloadBytes = result.payload;
    header = result.protectedHeader as Record<string, unknown>;
  } catch (err) {
    throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', `bundle signature does not verify with the configured key: ${(err as Error).message}`);
  }

  let payload: unknown;
  try {
    payload = JSON.parse(utf8.decode(payloadBytes));
  } catch {
    throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bundle signature payload is not JSON');
  }
  if (!isObject(payload)) throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bundle signature payload is not a JSON object');

  const kid = typeof header.kid === 'string' && header.kid !== '' ? header.kid : typeof payload.keyid === 'string' && payload.keyid !== '' ? payload.keyid : null;
  if (v.keyId !== undefined && kid !== v.keyId) {
    throw new BundleError(
      'AOS_ERR_BUNDLE_BAD_SIGNATURE',
      kid === null ? `bundle signature names no key id; policy.verification.keyId is "${v.keyId}"` : `bundle signature names key "${kid}", not the configured "${v.keyId}"`,
    );
  }
  const scope = payload.scope === undefined || payload.scope === null ? '' : payload.scope;
  if (scope !== (v.scope ?? '')) {
    throw new BundleError(
      'AOS_ERR_BUNDLE_BAD_SIGNATURE',
      v.scope === undefined
        ? `bundle signature carries the scope ${JSON.stringify(scope)} and no policy.verification.scope is configured`
        : `bundle signature scope ${JSON.stringify(scope)} is not the configured "${v.scope}"`,
    );
  }

  if (!Array.isArray(payload.files)) throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bundle signature payload has no "files" list');
  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const f of payload.files as unknown[]) {
    if (!isObject(f) || typeof f.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string') {
      throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', 'bundle signature lists a file without a string name, hash and algorithm');
    }
    if (listed.has(f.name)) throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', `bundle signature lists ${f.name} twice`);
    listed.set(f.name, { hash: f.hash.toLowerCase(), algorithm: f.algorithm });
  }

  const problems: string[] = [];
  for (const [path, content] of files) {
    if (path === SIGNATURES_FILE) continue;
    const name = path.slice(1);
    const entry = listed.get(name);
    if (entry === undefined) {
      problems.push(`${name} is in the bundle but not covered by its signature`);
      continue;
    }
    listed.delete(name);
    const algorithm = DIGESTS[entry.algorithm];
    if (algorithm === undefined) {
      throw new BundleError('AOS_ERR_BUNDLE_BAD_SIGNATURE', `bundle signature uses the digest algorithm "${entry.algorithm}" for ${name}; accepted: ${Object.keys(DIGESTS).join(', ')}`);
    }
    if (!digestMatches(name, content, algorithm, entry.hash)) problems.push(`${name} does not match its signed ${entry.algorithm} digest (changed after signing)`);
  }
  for (const name of listed.keys()) problems.push(`${name} is listed in the signature but missing from the bundle`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new BundleError('AOS_ERR_BUNDLE_FILES_MISMATCH', `bundle contents do not match its signature: ${shown}`);
  }
}

function digestMatches(name: string, content: Buffer, algorithm: string, want: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (!STRUCTURED.has(base)) return createHash(algorithm).update(content).digest('hex') === want;
  const node = parseJson(content, `/${name}`, 'AOS_ERR_BUNDLE_INVALID', true);
  if (createHash(algorithm).update(opaDigestJson(node, false)).digest('hex') === want) return true;
  // OPA built with Go before 1.22 escaped \b and \f as \u0008 and \u000c: accept that form too.
  return hasBackspaceOrFormFeed(node) && createHash(algorithm).update(opaDigestJson(node, true)).digest('hex') === want;
}

// ---------------------------------------------------------------------------------------------
// Data and manifest

/** All data.json files merged by their directory, as OPA does: /a/b/data.json lands at data.a.b. */
function mergeData(files: Map<string, Buffer>): Record<string, unknown> {
  const paths = [...files.keys()].filter((p) => p === '/data.json' || p.endsWith('/data.json')).sort();
  let data: Record<string, unknown> = {};
  for (const path of paths) {
    const value = parseJsonValue(files.get(path)!, path, 'AOS_ERR_BUNDLE_INVALID');
    const key = path.split('/').slice(1, -1);
    if (key.length === 0 && !isObject(value)) throw new BundleError('AOS_ERR_BUNDLE_INVALID', `bundle file ${path} must hold a JSON object`);
    let tree: unknown = value;
    for (let i = key.length - 1; i >= 0; i--) tree = withKey({}, key[i], tree);
    data = mergeInto(data, tree as Record<string, unknown>, path);
  }
  return data;
}

/** Deep merge of objects; any other clash (a value under a key another file also sets) is refused. */
function mergeInto(a: Record<string, unknown>, b: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (!Object.hasOwn(out, k)) {
      withKey(out, k, v);
    } else if (isObject(out[k]) && isObject(v)) {
      withKey(out, k, mergeInto(out[k] as Record<string, unknown>, v, path));
    } else {
      throw new BundleError('AOS_ERR_BUNDLE_INVALID', `bundle file ${path} sets data at "${k}", which another data file already sets`);
    }
  }
  return out;
}

/** Sets an own property, also for keys such as "__proto__". */
function withKey(obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}

function readManifest(raw: Buffer | undefined): { revision: string } {
  if (raw === undefined) return { revision: '' };
  const m = parseJsonValue(raw, '/.manifest', 'AOS_ERR_BUNDLE_INVALID');
  if (!isObject(m)) throw new BundleError('AOS_ERR_BUNDLE_INVALID', 'bundle file /.manifest is not a JSON object');
  if (m.revision !== undefined && typeof m.revision !== 'string') throw new BundleError('AOS_ERR_BUNDLE_INVALID', 'bundle file /.manifest has a non-string "revision"');
  return { revision: (m.revision as string | undefined) ?? '' };
}

// ---------------------------------------------------------------------------------------------
// JSON: strict parsing (as Go's encoding/json accepts it) and OPA's normal form for digests

type JsonNode =
  | { t: 'object'; entries: Map<string, JsonNode> }
  | { t: 'array'; items: JsonNode[] }
  | { t: 'string'; value: string }
  /** Numbers and the literals true, false, null: kept as written. */
  | { t: 'raw'; text: string };

/** Parses a bundle file as JSON into plain values; a BundleError (of `code`) when it is not JSON. */
function parseJsonValue(content: Buffer, path: string, code: BundleErrorCode): unknown {
  const text = decodeUtf8(content, path, code);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BundleError(code, `bundle file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function parseJson(content: Buffer, path: string, code: BundleErrorCode, stripBom: boolean): JsonNode {
  let text = decodeUtf8(content, path, code);
  // OPA's util.Unmarshal, which the digest is computed from, drops a UTF-8 byte order mark.
  if (stripBom && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseText(text, path, code);
}

function decodeUtf8(content: Buffer, path: string, code: BundleErrorCode): string {
  try {
    return utf8.decode(content);
  } catch {
    throw new BundleError(code, `bundle file ${path} is not valid UTF-8`);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

// Longer than most functions: one recursive-descent JSON reader that keeps numbers as written (the digest must match Go's).
function parseText(text: string, path: string, code: BundleErrorCode): JsonNode {
  let i = 0;
  const fail = (what: string): never => {
    throw new BundleError(code, `bundle file ${path} is not valid JSON: ${what} at offset ${i}`);
  };
  const ws = () => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++i));
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1];
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else {
        fail('bad escape');
      }
      start = i;
    }
    out += text.slice(start, i);
    i++; // closing quote
    // Go decodes an unpaired surrogate escape to U+FFFD.
    return out.replace(LONE_SURROGATE, '\uFFFD');
  };
  const value = (depth: number): JsonNode => {
    if (depth > 10_000) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, JsonNode>();
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'object', entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const key = str();
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        entries.set(key, value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { t: 'object', entries };
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const items: JsonNode[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'array', items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { t: 'array', items };
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return { t: 'string', value: str() };
    for (const re of [NUMBER, LITERAL]) {
      re.lastIndex = i;
      const m = re.exec(text);
      if (m !== null) {
        i += m[0].length;
        return { t: 'raw', text: m[0] };
      }
    }
    return fail(i >= text.length ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  };
  const root = value(0);
  ws();
  if (i < text.length) fail('trailing content');
  return root;
}

/**
 * OPA's normal form of a JSON document for digests (bundle/hash.go `walk`): objects with keys
 * sorted bytewise (Go string order), `,` and `:` without spaces, arrays in order, numbers as
 * written, strings as Go's encoding/json writes them without HTML escaping. Not the audit trail's
 * canonical encoding (audit/canonical.ts): that one is defined over JavaScript values as
 * JSON.stringify writes them and must not change, or stored chains stop verifying; this one must
 * follow Go, or OPA-signed bundles stop verifying.
 */
function opaDigestJson(node: JsonNode, legacyEscapes = false): string {
  switch (node.t) {
    case 'object': {
      const keys = [...node.entries.keys()].sort(compareUtf8);
      return `{${keys.map((k) => `${goString(k, legacyEscapes)}:${opaDigestJson(node.entries.get(k)!, legacyEscapes)}`).join(',')}}`;
    }
    case 'array':
      return `[${node.items.map((n) => opaDigestJson(n, legacyEscapes)).join(',')}]`;
    case 'string':
      return goString(node.value, legacyEscapes);
    case 'raw':
      return node.text;
  }
}

/** The canonical form of a JSON text, for tests and tools: what OPA hashes for data.json and .manifest. */
export function opaDigestJsonText(text: string): string {
  return opaDigestJson(parseText(text, '(text)', 'AOS_ERR_BUNDLE_INVALID'));
}

/** Go's encoding/json string encoding with SetEscapeHTML(false), for well-formed strings. */
function goString(s: string, legacyEscapes: boolean): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c < 0x20) {
      if (c === 0x0a) esc = '\\n';
      else if (c === 0x0d) esc = '\\r';
      else if (c === 0x09) esc = '\\t';
      else if (c === 0x08 && !legacyEscapes) esc = '\\b';
      else if (c === 0x0c && !legacyEscapes) esc = '\\f';
      else esc = `\\u00${c.toString(16).padStart(2, '0')}`;
    } else if (c === 0x2028) esc = '\\u2028';
    else if (c === 0x2029) esc = '\\u2029';
    if (esc !== null) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${out + s.slice(start)}"`;
}

/** Go compares strings bytewise (UTF-8); for well-formed strings that is code point order. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function hasBackspaceOrFormFeed(node: JsonNode): boolean {
  switch (node.t) {
    case 'object':
      for (const [k, v] of node.entries) if (/[\b\f]/.test(k) || hasBackspaceOrFormFeed(v)) return true;
      return false;
    case 'array':
      return node.items.some(hasBackspaceOrFormFeed);
    case 'string':
      return /[\b\f]/.test(node.value);
    case 'raw':
      return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
