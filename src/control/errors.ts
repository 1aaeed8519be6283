/**
 * The control plane's answers to bad requests: one table of stable `control_*` codes with their
 * HTTP status, rendered as the protocol's ControlError body (`{error: {code, message}}`). A code
 * never changes meaning; the message is for people and may.
 */
import type { ControlError } from './protocol.js';

export const CONTROL_ERRORS = {
  control_bad_request: { status: 400, summary: 'The request is malformed: not JSON, a missing or mistyped field, a bad query parameter.' },
  control_unauthenticated: { status: 401, summary: 'No credential, or one that does not verify (unknown issuer, bad signature, expired, wrong audience).' },
  control_forbidden: { status: 403, summary: "The credential is valid but its roles do not allow this call, or it names another gateway's id." },
  control_gateway_revoked: { status: 403, summary: 'This gateway was revoked (`POST /api/gateways/{id}/revoke`).' },
  control_csrf: { status: 403, summary: "A console change without its session's CSRF token (`x-aos-csrf`), or from another origin." },
  control_host_not_allowed: { status: 403, summary: 'The Host the request names is not one the console answers to (`console.allowedHosts`): DNS rebinding.' },
  control_self_review: { status: 403, summary: 'A template version must be approved by someone other than its author.' },
  control_not_found: { status: 404, summary: 'No such route, agent, template version, kill switch, approval or gateway.' },
  control_method_not_allowed: { status: 405, summary: 'The route exists but not with this method.' },
  control_conflict: { status: 409, summary: 'The change does not fit the current state (a version not approved, already decided, …).' },
  control_audit_gap: { status: 409, summary: 'An audit batch does not continue the chain held for the gateway: resend from `expected`.' },
  control_payload_too_large: { status: 413, summary: 'The request body is larger than `maxBodyBytes`.' },
  control_invalid: { status: 422, summary: 'The content is refused by its schema (a template, an agent, a budget).' },
  control_chain_broken: { status: 422, summary: 'An audit record does not verify: its hash, its link or its seq is not what the chain holds.' },
  control_internal: { status: 500, summary: 'An unexpected error in the control plane (logged).' },
  control_unavailable: { status: 503, summary: 'The store cannot be reached (PostgreSQL down).' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ControlErrorCode = keyof typeof CONTROL_ERRORS;

export class ControlHttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: ControlErrorCode,
    message: string,
    /** Extra members of the body next to `error` (the audit gap's `expected`). */
    readonly extra: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.name = 'ControlHttpError';
    this.status = CONTROL_ERRORS[code].status;
  }

  body(): ControlError & Record<string, unknown> {
    return { error: { code: this.code, message: this.message }, ...this.extra };
  }
}

export const badRequest = (message: string) => new ControlHttpError('control_bad_request', message);
export const notFound = (message: string) => new ControlHttpError('control_not_found', message);
export const conflict = (message: string) => new ControlHttpError('control_conflict', message);
