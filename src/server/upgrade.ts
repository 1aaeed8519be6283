import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpgradeRequest } from '../pipeline/context.js';
import { sessionProtocols } from '../providers/openai.js';

type Handler = (req: IncomingMessage, res: ServerResponse, upgrade: UpgradeRequest | null) => Promise<void>;

/**
 * The proxy listener's `upgrade` event: a request asking to switch protocols goes through the same
 * handler and pipeline as any other (checks, routing, identity, policy, budget, audit), answered on
 * an HTTP response bound to its socket, so every refusal is an HTTP error in the route's dialect
 * before any WebSocket exists. A decided WebSocket session is then accepted by the relay
 * (src/upstream/realtime.ts). Another protocol (`h2c`) on a request without a body is served as
 * plain HTTP/1.1 (then the connection closes); with a body it is refused.
 */
export function createUpgradeHandler(handle: Handler): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return function onUpgrade(req, socket, head) {
    const res = new ServerResponse(req);
    // Node's server parses nothing more on an upgraded connection: one request, then it closes.
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => (socket as Socket).destroySoon());
    socket.on('error', noop);
    const websocket = req.headers.upgrade?.toLowerCase() === 'websocket';
    if (websocket) {
      // Browsers cannot set headers: OpenAI's clients send the key as a subprotocol. It is read as
      // the agent's bearer token (a header the client sent wins) and never forwarded.
      const { token } = sessionProtocols(req.headers['sec-websocket-protocol']);
      if (token !== null && req.headers.authorization === undefined) {
        req.headers.authorization = `Bearer ${token}`;
        req.rawHeaders.push('Authorization', `Bearer ${token}`);
      }
    }
    const plain = !websocket && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    void handle(req, res, plain ? null : { socket, head, websocket });
  };
}

function noop() {}
