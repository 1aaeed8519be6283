import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * The proxy's HTTP server, with Node's strict parser (no lenient flags): conflicting
 * Content-Length/Transfer-Encoding, bad chunking, obs-fold, bare CR/LF, invalid methods and
 * versions, and oversized headers are refused by the parser before a request object exists, and
 * answered here with a 4xx and a closed connection. What llhttp lets through is refused by the
 * proxy handler before routing (HTTP/0.9 and HTTP/2.0 request lines, missing or repeated Host,
 * non-origin-form targets, dot segments, too many headers).
 */
export function createProxyServer(config: GatewayConfig, handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): Server {
  const limits = config.limits;
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout,
      // Node checks both timeouts on this interval (30 s by default): a stalled client is cut within
      // 125% of its limit instead of up to 30 s past it.
      connectionsCheckingInterval: Math.max(50, Math.floor(headersTimeout / 4)),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      insecureHTTPParser: false,
      // Checked by the proxy handler instead, so the refusal is a JSON aos_bad_request, not Node's bare 400.
      requireHostHeader: false,
      noDelay: true,
    },
    (req, res) => {
      if (res.socket === null) closeWhenConnectionDrops(req, res);
      handler(req, res);
    },
  );
  // One over the limit, so the handler can tell "too many" from "exactly the limit" and refuse.
  server.maxHeadersCount = limits.maxHeaders + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, log));
  // Without a listener Node drops a CONNECT connection without a word; the gateway is not a tunnel.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => refuse(socket as Socket, 'aos_bad_request', 'CONNECT is not supported: the gateway is not a forward proxy'));
  return server;
}

/**
 * A response queued behind a pipelined one has no socket yet, and Node 20 never closes it when the
 * connection drops (fixed upstream by nodejs/node#62534): its 'close' would never fire and the
 * request would stay in flight forever, holding up graceful shutdown. Close it ourselves.
 */
function closeWhenConnectionDrops(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  const onClose = () => {
    if (res.socket !== null || res.destroyed) return;
    res.destroyed = true;
    res.emit('close');
  };
  socket.once('close', onClose);
  res.once('socket', () => socket.off('close', onClose));
}

const PARSER_ERRORS: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'aos_header_too_large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'aos_payload_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'aos_request_timeout',
};

/** Sockets already refused: llhttp stays in its error state and reports it again for every later read. */
const refused = new WeakSet<Socket>();

function answerClientError(err: NodeJS.ErrnoException, socket: HttpSocket, log: Logger): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (refused.has(socket)) return;
  refused.add(socket);
  const code = PARSER_ERRORS[err.code ?? ''] ?? 'aos_bad_request';
  const reason = (err as { reason?: string }).reason ?? err.message;
  log.debug('malformed request refused', { code: err.code, reason });
  answerInTurn(socket, code, `malformed HTTP request: ${reason}`);
}

/**
 * Refuses the malformed request once it is its turn: responses owed to complete requests pipelined
 * before it go out first, in order. The request the error is in has either nothing sent yet (it is
 * refused in place of its answer) or a response already under way (the connection is cut).
 */
function answerInTurn(socket: HttpSocket, code: ErrorCode, message: string): void {
  if (!socket.writable) return;
  const pending = socket._httpMessage;
  if (pending == null) refuse(socket, code, message);
  else if (pending.req.complete) pending.once('close', () => answerInTurn(socket, code, message));
  else if (pending.headersSent) socket.destroy();
  else refuse(socket, code, message);
}

/** Answers on the raw socket with an aos_* error (OpenAI-shaped: no route is known) and closes it. */
function refuse(socket: Socket, code: ErrorCode, message: string): void {
  const status = ERRORS[code].status;
  const body = JSON.stringify({ error: { message, type: ERRORS[code].openai, code, param: null } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` + `X-Aos-Error-Code: ${code}\r\nConnection: close\r\n\r\n${body}`,
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
