/** The shape of the people's API routes (people-api.ts serves them; routes-*.ts define them). */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { Person } from './auth.js';
import { badRequest } from './errors.js';
import type { Hub } from './hub.js';
import type { Role } from './protocol.js';
import type { ControlStore, GatewayRecord } from './store.js';

export interface RouteContext {
  person: Person;
  params: string[];
  query: URLSearchParams;
  /** The JSON body (an object; 400 otherwise). */
  body(): Promise<Record<string, unknown>>;
  res: ServerResponse;
}

/** A route's answer: a status and a JSON body, or `null` when the handler wrote the response itself. */
export type RouteResult = { status?: number; body: unknown } | null;

export interface Route {
  method: string;
  path: RegExp;
  role: Role;
  handle(ctx: RouteContext): Promise<RouteResult>;
}

export interface PeopleApiDeps {
  store: ControlStore;
  hub: Hub;
  log: Logger;
}

/** The `reason` every change must give. */
export function reasonOf(body: Record<string, unknown>): string {
  const r = body.reason;
  if (typeof r !== 'string' || r.trim() === '') throw badRequest('reason: say why (a non-empty string)');
  if (r.length > 2000) throw badRequest('reason: longer than 2000 characters');
  return r;
}

/** A gateway as the people's API shows it (its credential's issuer and subject, never the token). */
export const gatewayViewOf = (hub: Pick<Hub, 'live'>) => (g: GatewayRecord) => ({
  id: g.id,
  version: g.version,
  labels: g.labels,
  snapshotVersion: g.snapshotVersion,
  snapshotError: g.snapshotError,
  policyRevision: g.policyRevision,
  firstSeen: g.firstSeen,
  lastSeen: g.lastSeen,
  connected: hub.live(g),
  revokedAt: g.revokedAt,
  revokedBy: g.revokedBy,
  auditSeq: g.auditSeq,
  credential: { issuer: g.issuer, subject: g.subject },
});
