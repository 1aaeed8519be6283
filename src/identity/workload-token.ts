/**
 * Sidecar mode: the identity of the workload the gateway sits beside, from a token file (in
 * Kubernetes the pod's projected ServiceAccount token, rotated in place by the kubelet).
 *
 * Calls never touch the file: it is stat-ed every `reloadCheckMs` (fs.watchFile, which follows the
 * kubelet's symlink swap) and read again only when it changed. The token is verified by the
 * gateway's verifier, with the same issuers as any agent token, and its verification is kept until
 * its `exp`. Past it, and until a rotated token is seen, calls are refused: an expired workload token
 * means the kubelet stopped rotating it, and the pod is then nobody.
 */
import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import type { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TokenVerifier, VerifiedToken } from './types.js';
import { unauthenticated } from './unauthenticated.js';

export interface WorkloadToken {
  readonly file: string;
  /** The workload's verified token: synchronous while a verification holds, else a promise. Fails with 401 `aos_unauthenticated` naming the file. */
  current(): VerifiedToken | Promise<VerifiedToken>;
  /** For the admin API: whose token the file holds, until when, and why calls are refused if they are. */
  status(): { file: string; subject: string | null; expiresAt: string | null; error: string | null };
  close(): void;
}

export interface WorkloadTokenOptions {
  /** Absolute path of the token file. */
  file: string;
  verifier: TokenVerifier;
  reloadCheckMs: number;
  log: Logger;
  /** Clock in epoch milliseconds (the verifier's). */
  now?: () => number;
}

export function createWorkloadToken(opts: WorkloadTokenOptions): WorkloadToken {
  const { file, verifier, log } = opts;
  const now = opts.now ?? Date.now;
  const refused = (why: string): GatewayError => unauthenticated(`workload token (${file}): ${why}`);
  // What the file holds (the token, or why it could not be read), and its verification.
  let token: string | null = null;
  let unreadable: string | null = null;
  let verified: VerifiedToken | null = null;
  let pending: Promise<VerifiedToken> | null = null;
  // Why the last verification of the current token failed (cleared by a change of the file).
  let failed: string | null = null;

  const read = () => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (err) {
      // Gone for a moment (being replaced): the token read last stays, until its exp.
      unreadable = `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      log.warn('workload token unreadable', { file, reason: unreadable, keeping: token !== null });
      return;
    }
    if (text === token) return;
    verified = null;
    pending = null;
    failed = null;
    token = text === '' ? null : text;
    unreadable = token === null ? 'the file is empty' : null;
    if (token === null) log.warn('workload token file is empty', { file });
    else log.info('workload token loaded', { file });
  };
  // Called with the new and previous stats when any of them differ (mtime, size, inode, ...).
  const changed = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino || cur.nlink === 0) read();
  };
  read();
  watchFile(file, { interval: opts.reloadCheckMs, persistent: false }, changed);

  const verify = (text: string): Promise<VerifiedToken> => {
    const p = Promise.resolve()
      .then(() => verifier.verify(text, 'agent'))
      .then(
        (v) => {
          // Only if the file has not changed meanwhile.
          if (pending === p) {
            pending = null;
            verified = v;
          }
          return fresh(v);
        },
        (err: unknown) => {
          if (pending === p) {
            pending = null;
            failed = (err as Error).message;
          }
          throw refused((err as Error).message);
        },
      );
    pending = p;
    return p;
  };
  const expired = (v: VerifiedToken) => `expired at ${new Date(v.expiresAt).toISOString()} and not rotated yet`;
  const fresh = (v: VerifiedToken): VerifiedToken => {
    if (now() >= v.expiresAt) throw refused(expired(v));
    return v;
  };

  return {
    file,
    current() {
      if (verified !== null) return fresh(verified);
      if (pending !== null) return pending;
      if (token === null) throw refused(unreadable ?? 'no token');
      return verify(token);
    },
    status() {
      const v = verified;
      const error = v !== null ? (now() >= v.expiresAt ? expired(v) : null) : token === null ? (unreadable ?? 'no token') : failed;
      return { file, subject: v?.subject ?? null, expiresAt: v === null ? null : new Date(v.expiresAt).toISOString(), error };
    },
    close() {
      unwatchFile(file, changed);
    },
  };
}
