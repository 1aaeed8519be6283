import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { GatewayError } from '../errors.js';
import type { OutgoingRequest, TokenCache, UpstreamAuth } from './auth.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SigV4Options {
  /** Whose requests, for messages: the provider's name. */
  name: string;
  region: string;
  /** The signing name: `bedrock` for Bedrock Runtime. */
  service: string;
  /** Keys, or temporary credentials from a cache that refreshes them (aws-credentials.ts). */
  credentials: AwsCredentials | TokenCache<AwsCredentials>;
}

/** The agent's own signing headers: the gateway's signature replaces them, so they are never forwarded. */
const AGENT_SIGNING = ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'amz-sdk-invocation-id', 'amz-sdk-request'];

/** Headers the gateway signs besides the ones SigV4 adds: what the upstream must not see changed. */
const SIGNED = new Set(['content-type', 'accept']);

/** SHA-256 (HMAC with a secret) from Node's crypto, as the signer takes it. */
class Sha256 extends Hash {
  constructor(secret?: ConstructorParameters<typeof Hash>[1] | ArrayBuffer) {
    super('sha256', secret as ConstructorParameters<typeof Hash>[1]);
  }
}

/**
 * AWS Signature Version 4 with the gateway's own credentials (keys, or temporary ones from STS): every request is signed anew as it
 * is sent (the agent's SigV4 `Authorization`, made with whatever placeholder credential its SDK
 * had, is dropped with the rest of its signing headers). Signs host, x-amz-date, the session token,
 * content-type, accept and the payload's SHA-256.
 */
export function createSigV4Auth(opts: SigV4Options): UpstreamAuth {
  const c = opts.credentials;
  // The signer asks for credentials at every signature: temporary ones are the cache's current ones.
  const credentials = 'get' in c ? async () => c.get() : c;
  const signer = new SignatureV4({ service: opts.service, region: opts.region, credentials, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
  return {
    drops: new Set(AGENT_SIGNING),
    async headers(req: OutgoingRequest) {
      const headers: Record<string, string> = { host: req.host };
      for (let i = 0; i < req.headers.length; i += 2) if (SIGNED.has(req.headers[i])) headers[req.headers[i]] = req.headers[i + 1];
      const q = req.path.indexOf('?');
      const query: Record<string, string | string[]> = {};
      if (q !== -1) {
        for (const [k, v] of new URLSearchParams(req.path.slice(q + 1))) {
          const prev = query[k];
          query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
      }
      let signed: { headers: Record<string, string> };
      try {
        signed = (await signer.sign({
          method: req.method,
          protocol: 'https:',
          hostname: req.host,
          path: q === -1 ? req.path : req.path.slice(0, q),
          query,
          headers,
          body: req.body ?? undefined,
        })) as { headers: Record<string, string> };
      } catch (err) {
        if (err instanceof GatewayError) throw err; // no credentials: the cache's message says why
        throw new GatewayError('aos_upstream_error', `could not sign the request for provider ${opts.name}: ${(err as Error).message}`, { cause: err });
      }
      const out: string[] = [];
      for (const name in signed.headers) {
        const lower = name.toLowerCase();
        // content-type and accept are forwarded from the agent's request as they are.
        if (lower !== 'content-type' && lower !== 'accept') out.push(lower, signed.headers[name]);
      }
      return out;
    },
    close() {
      if ('get' in c) c.close();
    },
  };
}
