import { fromTemporaryCredentials, fromTokenFile } from '@aws-sdk/credential-providers';
import type { AwsCredentialSource } from '../config/provider-auth.js';
import { createTokenCache, type Token, type TokenCache } from './auth.js';
import type { AwsCredentials } from './aws-sigv4.js';

export interface AwsCredentialsOptions {
  /** Whose credentials, for messages: the provider's name. */
  name: string;
  /** The region of the STS endpoint (the provider's signing region). */
  region: string;
  /** Another STS endpoint (a VPC endpoint, or a test's). */
  stsEndpoint?: string | undefined;
  now?: () => number;
}

type SdkCredentials = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>;

/**
 * The gateway's AWS credentials from their source. Keys are returned as they are; temporary
 * credentials (STS AssumeRole, AssumeRoleWithWebIdentity) come from the AWS SDK's own providers
 * (`@aws-sdk/credential-providers`), which call STS every time they are asked and keep nothing, so
 * they sit behind the gateway's token cache: one STS call at a time, the credentials replaced in the
 * background from 5 minutes before they expire (a fifth of their life if shorter), a call waiting
 * only when none are valid.
 */
export function createAwsCredentials(source: AwsCredentialSource, opts: AwsCredentialsOptions): TokenCache<AwsCredentials> {
  if (source.kind === 'static') {
    const keys: AwsCredentials = { accessKeyId: source.accessKeyId, secretAccessKey: source.secretAccessKey, sessionToken: source.sessionToken };
    return { get: () => keys, close() {} };
  }
  const clientConfig = { region: opts.region, ...(opts.stsEndpoint === undefined ? {} : { endpoint: opts.stsEndpoint }) };
  let provider: SdkCredentials;
  let base: TokenCache<AwsCredentials> | null = null;
  let action: string;
  if (source.kind === 'web-identity') {
    action = 'AssumeRoleWithWebIdentity';
    // Reads the token file on every call: the kubelet rotates it.
    provider = fromTokenFile({ webIdentityTokenFile: source.tokenFile, roleArn: source.roleArn, roleSessionName: source.sessionName, clientConfig }) as SdkCredentials;
  } else {
    action = 'AssumeRole';
    const b = createAwsCredentials(source.base, opts);
    base = b;
    provider = fromTemporaryCredentials({
      params: { RoleArn: source.roleArn, RoleSessionName: source.sessionName, ...(source.externalId === undefined ? {} : { ExternalId: source.externalId }) },
      masterCredentials: async () => b.get(),
      clientConfig,
    }) as SdkCredentials;
  }
  const cache = createTokenCache<AwsCredentials>({
    name: opts.name,
    ...(opts.now === undefined ? {} : { now: opts.now }),
    async fetch(): Promise<Token<AwsCredentials>> {
      let c: Awaited<ReturnType<SdkCredentials>>;
      try {
        c = await provider();
      } catch (err) {
        // The SDK's error names STS's code (AccessDenied, InvalidIdentityToken, ExpiredTokenException).
        const e = err as Error;
        throw new Error(`STS ${action} for ${source.roleArn} failed: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`, { cause: err });
      }
      return {
        value: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
        expiresAt: c.expiration?.getTime() ?? Number.POSITIVE_INFINITY,
      };
    },
  });
  return {
    get: () => cache.get(),
    close() {
      cache.close();
      base?.close();
    },
  };
}
