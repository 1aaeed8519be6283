/**
 * A self-signed CA and a serving certificate signed by it, for the injector's webhook when no
 * certificate is mounted (no cert-manager). ECDSA P-256 keys from node:crypto; the certificates are
 * written in DER by hand: a handful of ASN.1 shapes (RFC 5280), no dependency.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isIPv4 } from 'node:net';

const lengthOf = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...body: Buffer[]): Buffer => {
  const content = Buffer.concat(body);
  return Buffer.concat([Buffer.from([tag]), lengthOf(content.length), content]);
};
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);
const explicit = (n: number, body: Buffer) => tlv(0xa0 + n, body);
const integer = (bytes: Buffer) => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), bytes);
const octets = (bytes: Buffer) => tlv(0x04, bytes);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
const keyId = (key: KeyObject) =>
  createHash('sha1')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest();

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  days: number;
  ca: boolean;
  hosts: readonly string[];
  now: Date;
}

function certificate(spec: CertSpec): string {
  const extensions = [
    extension('2.5.29.19', true, spec.ca ? seq(TRUE) : seq()),
    // keyUsage: CA keyCertSign + cRLSign + digitalSignature; leaf digitalSignature.
    extension('2.5.29.15', true, spec.ca ? bitString(Buffer.from([0x86]), 1) : bitString(Buffer.from([0x80]), 7)),
    extension('2.5.29.14', false, octets(keyId(spec.publicKey))),
    extension('2.5.29.35', false, seq(tlv(0x80, spec.issuerKeyId))),
  ];
  if (!spec.ca) {
    extensions.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))));
    const names = spec.hosts.map((h) => (isIPv4(h) ? tlv(0x87, Buffer.from(h.split('.').map(Number))) : tlv(0x82, Buffer.from(h, 'ascii'))));
    extensions.push(extension('2.5.29.17', false, seq(...names)));
  }
  const notBefore = new Date(spec.now.getTime() - 5 * 60_000);
  const notAfter = new Date(spec.now.getTime() + spec.days * 86_400_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive and minimal: DER forbids a leading zero byte
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(spec.issuer),
    seq(time(notBefore), time(notAfter)),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions)),
  );
  const der = seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, spec.signingKey)));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

export interface ServingCertificate {
  /** The CA's certificate (PEM): the webhook configuration's caBundle. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A new CA and a certificate for `hosts` (DNS names or IPv4 addresses) signed by it; the CA's key is dropped. */
export function selfSignedServing(hosts: readonly string[], days: number, now = new Date()): ServingCertificate {
  if (hosts.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caId = keyId(ca.publicKey);
  const caName = `aos-injector-ca-${randomBytes(4).toString('hex')}`;
  const caPem = certificate({ subject: caName, issuer: caName, publicKey: ca.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, days, ca: true, hosts: [], now });
  const certPem = certificate({ subject: hosts[0]!, issuer: caName, publicKey: leaf.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, days, ca: false, hosts, now });
  return { caPem, certPem, keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
