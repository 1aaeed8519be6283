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
export function checkRequest(maxHeaders: number): Stage {
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
  };
}
