/**
 * Who is calling. Gateways: a JWT of a configured issuer for the gateway audience, verified by the
 * gateway's own verifier (identity/verifier.ts), plus the instance id they name themselves with; an
 * id stays bound to the credential that first used it, and a revoked id is refused. People: an
 * admin JWT whose roles claim names a role, or the static admin token (role admin).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { IdentityConfig, IssuerConfig } from '../config/schema.js';
import { configSchema } from '../config/schema.js';
import { validatorOf } from '../config/yaml-file.js';
import type { TokenVerifier } from '../identity/types.js';
import type { ControlConfig } from './config.js';
import { badRequest, ControlHttpError } from './errors.js';
import { bearer } from './http.js';
import { GATEWAY_ID_HEADER, type Role } from './protocol.js';
import type { ControlStore, GatewayRecord } from './store.js';

/** Roles in order: each includes the ones before it. */
export const ROLES: readonly Role[] = ['viewer', 'operator', 'approver', 'admin'];

export interface Person {
  actor: string;
  role: Role;
  /** When the credential it was read from expires (epoch ms: a JWT's `exp`); absent: it does not. */
  expiresAt?: number;
}

export interface GatewayCaller {
  id: string;
  issuer: string;
  subject: string;
  /** Null before its first hello. */
  record: GatewayRecord | null;
}

// The gateway's identity section on its own (wrapped: a schema root cannot carry a default).
const IDENTITY_SCHEMA = { type: 'object', properties: { identity: (configSchema.properties as Record<string, object>).identity }, required: ['identity'] };

const GATEWAY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The identity config the gateway's verifier takes, for one audience: `audience` for gateways,
 * `adminAudience` for people. Validated with the gateway's identity schema, so defaults (algorithms,
 * clock skew, token size, cache) are the gateway's.
 */
export function identityFor(control: ControlConfig, audience: 'gateways' | 'people'): IdentityConfig {
  const issuers: IssuerConfig[] = control[audience].issuers;
  const identity: Record<string, unknown> = {
    mode: 'required',
    audience: control.gateways.audience,
    adminAudience: control.people.audience,
    localIssuer: { enabled: control.localKey.enabled, issuer: control.localKey.issuer },
    issuers: structuredClone(issuers),
  };
  const check = validatorOf(IDENTITY_SCHEMA);
  const wrapped = { identity };
  if (!check(wrapped)) throw new Error(`control plane identity: ${JSON.stringify(check.errors)}`);
  return wrapped.identity as unknown as IdentityConfig;
}

export function createGatewayAuth(verifier: TokenVerifier, store: ControlStore) {
  return async (req: IncomingMessage): Promise<GatewayCaller> => {
    const verified = await verifier.verify(bearer(req), 'agent');
    const id = req.headers[GATEWAY_ID_HEADER];
    if (typeof id !== 'string' || !GATEWAY_ID.test(id)) throw badRequest(`${GATEWAY_ID_HEADER}: expected the gateway's id (letters, digits, . _ : -; 128 at most)`);
    const record = await store.gateway(id);
    if (record?.revokedAt) throw new ControlHttpError('control_gateway_revoked', `gateway ${id} was revoked at ${record.revokedAt}`);
    if (record !== null && (record.issuer !== verified.issuer || record.subject !== verified.subject)) {
      throw new ControlHttpError('control_forbidden', `gateway id ${id} belongs to another credential`);
    }
    return { id, issuer: verified.issuer, subject: verified.subject, record };
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** A person's credential (an admin JWT, or the static admin token) → who they are and their role. */
export type PeopleAuth = (token: string) => Promise<Person>;

export function createPeopleAuth(verifier: TokenVerifier, opts: { adminToken: string | null; rolesClaim: string }): PeopleAuth {
  const admin = opts.adminToken === null ? null : digest(opts.adminToken);
  return async (token) => {
    if (admin !== null && timingSafeEqual(digest(token), admin)) return { actor: 'admin-token', role: 'admin' };
    const verified = await verifier.verify(token, 'admin');
    const claim = verified.claims[opts.rolesClaim];
    const roles = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(' ') : [];
    const rank = Math.max(-1, ...roles.map((r) => ROLES.indexOf(r as Role)));
    if (rank < 0) throw new ControlHttpError('control_forbidden', `the token carries no control plane role (${ROLES.join(', ')}) in its ${opts.rolesClaim} claim`);
    const exp = verified.claims.exp;
    return { actor: verified.subject, role: ROLES[rank], ...(typeof exp === 'number' ? { expiresAt: exp * 1000 } : {}) };
  };
}

/** 403 unless `person` has `role` (or one after it). */
export function requireRole(person: Person, role: Role): void {
  if (ROLES.indexOf(person.role) < ROLES.indexOf(role)) throw new ControlHttpError('control_forbidden', `this call needs the ${role} role (${person.actor} has ${person.role})`);
}
