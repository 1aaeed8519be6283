import { GatewayError } from '../errors.js';

const REALM = 'Bearer realm="aos-gateway"';

/**
 * 401 `aos_unauthenticated` with an RFC 6750 challenge. The description says what is wrong
 * (expired, wrong audience, unknown key) and never contains the token.
 */
export function unauthenticated(description: string, tokenPresent = true): GatewayError {
  const challenge = tokenPresent ? `${REALM}, error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"` : REALM;
  return new GatewayError('aos_unauthenticated', description, { headers: { 'www-authenticate': challenge } });
}
