/**
 * Console sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie, mapped here to the
 * person who signed in and the CSRF token the page must echo on every change (`x-aos-csrf`). Kept
 * in this replica's memory: a restart signs everyone out, and behind several replicas the console
 * needs sticky sessions (docs/console.md).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Person } from './auth.js';

export interface Session {
  readonly id: string;
  readonly person: Person;
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface Sessions {
  create(person: Person, expiresAt: number): Session;
  /** The live session with this id, or null (unknown, or expired: then forgotten). */
  get(id: string): Session | null;
  end(id: string): void;
  readonly size: number;
}

/** At most `max` sessions: the oldest is dropped first (a flood of sign-ins cannot grow memory without bound). */
export function createSessions(opts: { max?: number; now?: () => number } = {}): Sessions {
  const max = opts.max ?? 10_000;
  const now = opts.now ?? Date.now;
  const byId = new Map<string, Session>();
  return {
    create(person, expiresAt) {
      while (byId.size >= max) byId.delete(byId.keys().next().value as string);
      const s: Session = { id: randomBytes(32).toString('base64url'), person, csrf: randomBytes(32).toString('base64url'), expiresAt };
      byId.set(s.id, s);
      return s;
    },
    get(id) {
      const s = byId.get(id);
      if (s === undefined) return null;
      if (s.expiresAt <= now()) {
        byId.delete(id);
        return null;
      }
      return s;
    },
    end: (id) => void byId.delete(id),
    get size() {
      return byId.size;
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
