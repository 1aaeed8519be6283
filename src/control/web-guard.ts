/**
 * The browser's side of the people listener (the console and its cookie sessions), guarded the way
 * the gateway guards its listeners (src/pipeline/request-checks.ts, which the control plane may not
 * import): the Host a request names must be one this listener answers to, so a web page whose
 * domain was re-pointed at this address (DNS rebinding) is refused; and a change made with a
 * session cookie must come from this very origin.
 */

import type { IncomingMessage } from 'node:http';
import { hostName, isLoopback, LOOPBACK_NAMES } from '../config/hosts.js';
import { ControlHttpError } from './errors.js';

export interface WebGuard {
  /** 403 `control_host_not_allowed` unless the Host is one this listener answers to. */
  host(req: IncomingMessage): void;
  /** 403 `control_csrf` unless the request's Origin is this listener's own (the Host it was sent to). */
  sameOrigin(req: IncomingMessage): void;
}

/**
 * `allowedHosts` absent: the loopback names when the listener is on loopback (what a browser on this
 * machine uses), any host otherwise (set the names people use, as with the gateway's `allowedHosts`).
 */
export function createWebGuard(listenHost: string, allowedHosts: readonly string[] | undefined): WebGuard {
  const hosts = allowedHosts ?? (isLoopback(listenHost) ? LOOPBACK_NAMES : ['*']);
  const any = hosts.includes('*');
  const allowed = new Set(hosts.map(hostName));
  return {
    host(req) {
      const host = req.headers.host;
      if (host === undefined) throw new ControlHttpError('control_host_not_allowed', 'a browser request needs a Host header');
      if (!any && !allowed.has(hostName(host))) {
        throw new ControlHttpError('control_host_not_allowed', `Host ${JSON.stringify(host.slice(0, 100))} is not served by this console (console.allowedHosts)`);
      }
    },
    sameOrigin(req) {
      const origin = req.headers.origin;
      const host = req.headers.host?.toLowerCase();
      let authority: string | null = null;
      try {
        authority = origin === undefined ? null : new URL(origin).host.toLowerCase();
      } catch {
        // `null` (a sandboxed frame, a file) or garbage: not this origin
      }
      if (authority === null || host === undefined || authority !== host) {
        throw new ControlHttpError('control_csrf', `a console change must come from the console's own origin (Origin ${JSON.stringify((origin ?? 'absent').slice(0, 100))})`);
      }
    },
  };
}
