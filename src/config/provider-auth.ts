import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ProviderAuthConfig, ProviderConfig } from './schema.js';

/** A provider's `auth:` with its secrets read (files, environment): what the upstream's credential is built from. */
export type ProviderAuth =
  | { readonly kind: 'client-credentials'; readonly tokenUrl: string; readonly clientId: string; readonly clientSecret: string; readonly scope: string }
  | {
      readonly kind: 'google-service-account';
      readonly key: { readonly client_email: string; readonly private_key: string; readonly private_key_id?: string; readonly token_uri?: string };
      readonly scopes: readonly string[];
    }
  | { readonly kind: 'aws-sigv4'; readonly region: string; readonly service: string; readonly credentials: AwsCredentialSource; readonly stsEndpoint?: string };

/** AWS access keys the gateway holds as they are. */
export interface AwsStaticKeys {
  readonly kind: 'static';
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** A role assumed with a web identity token read from a file each time (EKS IRSA: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN). */
export interface AwsWebIdentity {
  readonly kind: 'web-identity';
  readonly roleArn: string;
  readonly tokenFile: string;
  readonly sessionName: string;
}

/** Where the gateway's AWS credentials come from: keys, a web identity, or a role assumed (STS AssumeRole) with either. */
export type AwsCredentialSource =
  | AwsStaticKeys
  | AwsWebIdentity
  | { readonly kind: 'assume-role'; readonly roleArn: string; readonly sessionName: string; readonly externalId?: string; readonly base: AwsStaticKeys | AwsWebIdentity };

/** The keys each kind takes (besides `kind`). */
const KEYS: Record<ProviderAuthConfig['kind'], readonly string[]> = {
  'client-credentials': ['tokenUrl', 'clientId', 'clientSecret', 'clientSecretFile', 'scope'],
  'google-service-account': ['credentialsFile', 'scopes'],
  'aws-sigv4': ['region', 'service', 'accessKeyId', 'secretAccessKey', 'sessionToken', 'roleArn', 'roleSessionName', 'externalId', 'webIdentityTokenFile', 'stsEndpoint'],
};

const AZURE_SCOPE = 'https://cognitiveservices.azure.com/.default';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const fileOf = (configFile: string, f: string) => (isAbsolute(f) ? f : resolve(dirname(configFile), f));

/**
 * Reads a provider's `auth:`: checks the keys its kind takes and reads its secrets. Null when it is
 * unusable; what is wrong goes to `problems`, located at `at` (the entry's `auth` key).
 */
export function resolveProviderAuth(p: ProviderConfig, configFile: string, at: string, env: NodeJS.ProcessEnv, problems: string[]): ProviderAuth | null {
  const a = p.auth;
  if (a === undefined) return null;
  const before = problems.length;
  if (p.apiKey !== undefined || p.apiKeyFile !== undefined) problems.push(`${at}: set auth or apiKey/apiKeyFile, not both`);
  for (const key of Object.keys(a)) if (key !== 'kind' && !KEYS[a.kind].includes(key)) problems.push(`${at}.${key}: not a key of auth kind ${a.kind} (it takes ${KEYS[a.kind].join(', ')})`);
  const need = (key: keyof ProviderAuthConfig, v: unknown) => {
    if (v === undefined || v === '') problems.push(`${at}: auth kind ${a.kind} needs ${key}`);
  };
  switch (a.kind) {
    case 'client-credentials': {
      need('tokenUrl', a.tokenUrl);
      need('clientId', a.clientId);
      if ((a.clientSecret === undefined) === (a.clientSecretFile === undefined)) problems.push(`${at}: set clientSecret or clientSecretFile, exactly one`);
      let secret = a.clientSecret;
      if (a.clientSecretFile !== undefined) {
        try {
          secret = readFileSync(fileOf(configFile, a.clientSecretFile), 'utf8').trim();
        } catch (err) {
          problems.push(`${at}.clientSecretFile: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      }
      if (problems.length > before) return null;
      return { kind: a.kind, tokenUrl: a.tokenUrl!, clientId: a.clientId!, clientSecret: secret!, scope: a.scope ?? AZURE_SCOPE };
    }
    case 'google-service-account': {
      need('credentialsFile', a.credentialsFile);
      if (problems.length > before) return null;
      let key: Record<string, unknown>;
      try {
        key = JSON.parse(readFileSync(fileOf(configFile, a.credentialsFile!), 'utf8')) as Record<string, unknown>;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        problems.push(`${at}.credentialsFile: ${code === undefined ? 'not a JSON key file' : `cannot read the file (${code})`}`);
        return null;
      }
      if (key.type !== 'service_account' || typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
        problems.push(`${at}.credentialsFile: not a service account key (type service_account with client_email and private_key)`);
        return null;
      }
      return {
        kind: a.kind,
        key: {
          client_email: key.client_email,
          private_key: key.private_key,
          ...(typeof key.private_key_id === 'string' ? { private_key_id: key.private_key_id } : {}),
          ...(typeof key.token_uri === 'string' ? { token_uri: key.token_uri } : {}),
        },
        scopes: a.scopes ?? [CLOUD_PLATFORM],
      };
    }
    case 'aws-sigv4': {
      const region = a.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
      need('region', region);
      const credentials = awsCredentialSource(a, configFile, at, env, problems);
      if (problems.length > before || credentials === null) return null;
      return { kind: a.kind, region: region!, service: a.service ?? 'bedrock', credentials, ...(a.stsEndpoint === undefined ? {} : { stsEndpoint: a.stsEndpoint }) };
    }
  }
}

/**
 * The AWS credential source of an `aws-sigv4` auth, in the order the AWS SDK's default chain takes
 * them: `webIdentityTokenFile` (with `roleArn` or AWS_ROLE_ARN) is that web identity; otherwise
 * `roleArn` is a role assumed with the base credentials (keys, or the pod's web identity from the
 * environment: role chaining); otherwise keys (config, then AWS_ACCESS_KEY_ID…), then the web
 * identity the environment names (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as EKS IRSA sets).
 */
function awsCredentialSource(a: ProviderAuthConfig, configFile: string, at: string, env: NodeJS.ProcessEnv, problems: string[]): AwsCredentialSource | null {
  const sessionName = a.roleSessionName ?? env.AWS_ROLE_SESSION_NAME ?? 'aos-gateway';
  const configKeys = a.accessKeyId !== undefined || a.secretAccessKey !== undefined || a.sessionToken !== undefined;
  const keys = (): AwsStaticKeys | null => {
    const accessKeyId = a.accessKeyId ?? env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = a.secretAccessKey ?? env.AWS_SECRET_ACCESS_KEY;
    const sessionToken = a.sessionToken ?? (a.accessKeyId === undefined ? env.AWS_SESSION_TOKEN : undefined);
    if (!accessKeyId || !secretAccessKey) return null;
    return { kind: 'static', accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  };
  const webIdentity = (file: string | undefined, roleArn: string | undefined, where: string): AwsWebIdentity | null => {
    if (!file || !roleArn) return null;
    const tokenFile = fileOf(configFile, file);
    try {
      readFileSync(tokenFile);
    } catch (err) {
      // Read again at every refresh (the kubelet rotates it); unreadable at start is a mistake.
      problems.push(`${at}${where}: cannot read the web identity token file ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return null;
    }
    return { kind: 'web-identity', roleArn, tokenFile, sessionName };
  };
  const fromEnv = () => webIdentity(env.AWS_WEB_IDENTITY_TOKEN_FILE, env.AWS_ROLE_ARN, ' (AWS_WEB_IDENTITY_TOKEN_FILE)');
  if (a.webIdentityTokenFile !== undefined) {
    if (configKeys) problems.push(`${at}: webIdentityTokenFile excludes accessKeyId, secretAccessKey and sessionToken`);
    const roleArn = a.roleArn ?? env.AWS_ROLE_ARN;
    if (!roleArn) problems.push(`${at}: webIdentityTokenFile needs roleArn (or AWS_ROLE_ARN)`);
    return webIdentity(a.webIdentityTokenFile, roleArn, '.webIdentityTokenFile');
  }
  const before = problems.length;
  const base = keys() ?? (configKeys ? null : fromEnv());
  if (base === null) {
    if (problems.length === before)
      problems.push(
        `${at}: auth kind aws-sigv4 needs accessKeyId and secretAccessKey (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), webIdentityTokenFile and roleArn, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN`,
      );
    return null;
  }
  if (a.roleArn === undefined) return base;
  return { kind: 'assume-role', roleArn: a.roleArn, sessionName, ...(a.externalId === undefined ? {} : { externalId: a.externalId }), base };
}
