import type { IncomingHttpHeaders } from 'node:http';
import { hostName, isLoopback, LOOPBACK_NAMES } from '../config/hosts.js';
import type { ListenConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Stage } from './context.js';

/** Dot segments (plain or percent-encoded) and backslashes: a path must not climb out of its mount. */
const BAD_PATH = /(?:^|\/)\.\.?(?:\/|$)|%2e|%5c|\\/i;

/** How many Host header lines a request carries (RFC 9112 §3.2: exactly one in HTTP/1.1). */
function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++;
  return n;
}

/**
 * What Node's HTTP parser lets through and a proxy must still refuse: other HTTP versions, targets
 * that are not a path, paths that climb out of their mount, too many headers, a missing or doubled Host.
 */
export function checkRequest(maxHeaders: number, listen: ListenConfig): Stage {
  const checkHost = hostCheck(listen);
  return function checkRequestStage(ctx) {
    const { req, res } = ctx;
    if (req.httpVersionMajor !== 1) {
      // llhttp parses HTTP/0.9 (no version) and HTTP/2.0 request lines; only HTTP/1.x is spoken here.
      res.shouldKeepAlive = false;
      throw new GatewayError('aos_bad_request', `HTTP/${req.httpVersion} is not supported: use HTTP/1.1`, { headers: { connection: 'close' } });
    }
    if (req.url?.charCodeAt(0) !== 47 /* '/' */) {
      throw new GatewayError('aos_bad_request', 'only origin-form request targets are accepted (a path starting with /)');
    }
    if (BAD_PATH.test(ctx.path)) throw new GatewayError('aos_bad_request', 'the path contains dot segments or backslashes');
    if (req.rawHeaders.length / 2 > maxHeaders) {
      throw new GatewayError('aos_header_too_large', `more than ${maxHeaders} request headers`);
    }
    const hosts = hostLines(req.rawHeaders);
    if (hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) {
      throw new GatewayError('aos_bad_request', hosts > 1 ? 'more than one Host header' : 'an HTTP/1.1 request needs a Host header');
    }
    const refused = checkHost(req.headers);
    if (refused !== null) throw refused;
  };
}

/**
 * Against DNS rebinding (a web page whose domain was re-pointed at 127.0.0.1 reaching a local
 * listener, with the gateway's credentials injected): the Host a request names must be one the
 * listener serves, and a browser request (one with `Origin`) must come from an allowed origin. A
 * listener on a loopback address serves loopback names only, unless configured; one on another
 * address any Host. Returns the refusal, or null.
 */
export function hostCheck(listen: ListenConfig): (headers: IncomingHttpHeaders) => GatewayError | null {
  const loopback = isLoopback(listen.host);
  const hosts = listen.allowedHosts ?? (loopback ? LOOPBACK_NAMES : ['*']);
  const anyHost = hosts.includes('*');
  const allowedHosts = new Set(hosts.map((h) => hostName(h)));
  const origins = listen.allowedOrigins ?? [];
  const anyOrigin = origins.includes('*');
  const allowedOrigins = new Set(origins.map((o) => o.toLowerCase().replace(/\/+$/, '')));
  return (headers) => {
    const host = headers.host;
    if (!anyHost && host !== undefined && !allowedHosts.has(hostName(host))) {
      return new GatewayError('aos_host_not_allowed', `Host ${JSON.stringify(host.slice(0, 100))} is not served by this listener (listen.allowedHosts)`);
    }
    const origin = headers.origin;
    if (origin === undefined || anyOrigin) return null;
    const o = origin.toLowerCase();
    if (allowedOrigins.has(o)) return null;
    let name: string | null = null;
    try {
      name = new URL(o).host;
    } catch {
      // `null` (a sandboxed page, a file) or garbage: not an allowed origin
    }
    if (loopback && name !== null && isLoopback(hostName(name))) return null;
    return new GatewayError('aos_origin_not_allowed', `requests from origin ${JSON.stringify(origin.slice(0, 100))} are not allowed (listen.allowedOrigins)`);
  };
}
