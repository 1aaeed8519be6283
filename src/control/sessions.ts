/**
 * Console sessions: an opaque random value in an HttpOnly, SameSite=Strict cookie, mapped to the
 * person who signed in and the CSRF token the page must echo on every change (`x-aos-csrf`). Kept
 * in the control plane's store (store-sessions.ts) under a SHA-256 of the cookie's value: every
 * replica sharing the store accepts the cookie, a restart signs nobody out, and the table holds
 * nothing a browser could present. A session ends at its expiry, after `idleMs` unused, or when
 * revoked (sign-out).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Person } from './auth.js';
import type { ControlStore } from './store.js';

export interface Session {
  /** The cookie's value (only in the answer to the sign-in that made it, and in memory). */
  readonly id: string;
  readonly person: Person;
  readonly csrf: string;
  readonly expiresAt: number;
  readonly via: string;
  readonly idToken: string | null;
}

export interface Sessions {
  create(person: Person, expiresAt: number, via: 'token' | 'oidc', idToken?: string | null): Promise<Session>;
  /** The live session with this cookie value, or null (unknown, expired, idle or revoked). */
  get(id: string): Promise<Session | null>;
  end(id: string): Promise<void>;
}

/** The key a session is stored under: never the cookie's value itself. */
export const sessionKey = (id: string) => createHash('sha256').update(id).digest('base64url');

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export function createSessions(opts: { store: ControlStore; idleMs: number; now?: () => number }): Sessions {
  const now = opts.now ?? Date.now;
  const { store, idleMs } = opts;
  return {
    async create(person, expiresAt, via, idToken = null) {
      const id = randomBytes(32).toString('base64url');
      const csrf = randomBytes(32).toString('base64url');
      const t = now();
      await store.putSession({ key: sessionKey(id), actor: person.actor, role: person.role, csrf, via, createdMs: t, lastMs: t, expiresMs: expiresAt, idToken }, idleMs);
      return { id, person, csrf, expiresAt, via, idToken };
    },
    async get(id) {
      // Not one we could have made: no store round trip for it.
      if (!COOKIE_VALUE.test(id)) return null;
      const s = await store.session(sessionKey(id), now(), idleMs);
      return s === null ? null : { id, person: { actor: s.actor, role: s.role, expiresAt: s.expiresMs }, csrf: s.csrf, expiresAt: s.expiresMs, via: s.via, idToken: s.idToken };
    },
    async end(id) {
      if (COOKIE_VALUE.test(id)) await store.endSession(sessionKey(id));
    },
  };
}

/** Constant-time equality of two tokens (false when either is missing). */
export function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** One cookie's value from a Cookie header, or null. */
export function cookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
