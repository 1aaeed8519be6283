import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The proxy's HTTP server, with Node's strict parser (no lenient flags): conflicting
 * Content-Length/Transfer-Encoding, bad chunking, obs-fold and oversized headers are refused by the
 * parser before a request object exists, and answered here with a 4xx and a closed connection.
 */
export function createProxyServer(config: GatewayConfig, handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): Server {
  const limits = config.limits;
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    insecureHTTPParser: false,
    requireHostHeader: true,
    noDelay: true,
  }, handler);
  // One over the limit, so the handler can tell "too many" from "exactly the limit" and refuse.
  server.maxHeadersCount = limits.maxHeaders + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, log));
  return server;
}

const PARSER_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'aos_header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'aos_request_timeout',
};

function answerClientError(err: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
    socket.destroy();
    return;
  }
  const code = PARSER_ERRORS[err.code ?? ''] ?? 'aos_bad_request';
  const status = ERRORS[code].status;
  const reason = (err as { reason?: string }).reason ?? err.message;
  log.debug('malformed request refused', { code: err.code, reason });
  const body = JSON.stringify({ error: { message: `malformed HTTP request: ${reason}`, type: ERRORS[code].openai, code, param: null } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Aos-Error-Code: ${code}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon?.();
}

export function listen(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('listener has no TCP address'));
      resolve({ host: addr.address, port: addr.port });
    });
  });
}
