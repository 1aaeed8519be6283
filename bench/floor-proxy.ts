/**
 * The floor: a bare pass-through proxy (node:http server + undici Pool) that inspects nothing. It
 * reads the request body into memory first, as the gateway does, then forwards method, path,
 * headers (minus hop-by-hop ones) and body, and streams the answer back with backpressure.
 * Whatever the gateway costs beyond this is the gateway's own work.
 *
 * Usage: node bench/floor-proxy.ts http://127.0.0.1:UPSTREAM_PORT [connections]   → prints {"port":N}
 * (connections: the upstream pool's size, 256 by default as the gateway's `upstream.connections`;
 * the `streams-10k` scenario needs one per open stream)
 */
import { createServer } from 'node:http';
import { type Dispatcher, Pool } from 'undici';

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);
const pool = new Pool(process.argv[2]!, { connections: Number(process.argv[3] ?? 256), pipelining: 1 });

const server = createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const body = chunks.length === 0 ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    pool.dispatch(
      { method: req.method as Dispatcher.HttpMethod, path: req.url!, headers, body },
      {
        onRequestStart() {},
        onResponseStart(_c, status, upstreamHeaders) {
          const out: Record<string, string | string[]> = {};
          for (const name in upstreamHeaders) if (!HOP.has(name)) out[name] = upstreamHeaders[name]!;
          res.writeHead(status, out);
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_c, err) {
          if (res.headersSent) res.destroy(err);
          else res.writeHead(502).end();
        },
      },
    );
  });
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
