import type { ProviderAuth } from '../config/provider-auth.js';
import type { DialectName } from '../config/schema.js';
import type { Dialect as ErrorDialect } from '../errors.js';
import { anthropicDialect } from './anthropic.js';
import { bearerAuth, createTokenCache, type UpstreamAuth } from './auth.js';
import { createAwsCredentials } from './aws-credentials.js';
import { createSigV4Auth } from './aws-sigv4.js';
import { azureOpenaiDialect } from './azure-openai.js';
import { bedrockDialect } from './bedrock.js';
import type { WireDialect } from './dialect.js';
import { geminiDialect } from './gemini.js';
import { clientCredentialsToken, serviceAccountToken } from './oauth.js';
import { openaiDialect } from './openai.js';

export const dialects: Readonly<Record<DialectName, WireDialect>> = {
  openai: openaiDialect,
  'azure-openai': azureOpenaiDialect,
  anthropic: anthropicDialect,
  gemini: geminiDialect,
  bedrock: bedrockDialect,
};

/** The header every Anthropic SDK sends: it marks a request for the dialect that claims shared paths. */
export const CLAIM_HEADER = 'anthropic-version';

/** The error dialect of a path no mount claims: Anthropic's for a marked request or a Messages path, OpenAI's otherwise. */
export function unroutedErrors(path: string, marked: boolean): ErrorDialect {
  return marked || path.includes('/messages') ? anthropicDialect.errors : openaiDialect.errors;
}

/** The per-request credential of a provider's `auth:` (built once per config; close() stops its refreshes). */
export function createProviderAuth(name: string, auth: ProviderAuth): UpstreamAuth {
  switch (auth.kind) {
    case 'client-credentials':
      // An Azure key header the agent may send (`api-key`) is dropped anyway; the token replaces it.
      return bearerAuth(createTokenCache({ name, fetch: clientCredentialsToken(auth) }));
    case 'google-service-account':
      return bearerAuth(createTokenCache({ name, fetch: serviceAccountToken(auth.key, auth.scopes) }));
    case 'aws-sigv4':
      return createSigV4Auth({ name, region: auth.region, service: auth.service, credentials: createAwsCredentials(auth.credentials, { name, region: auth.region, stsEndpoint: auth.stsEndpoint }) });
  }
}
