/**
 * The floor: a bare pass-through proxy (node:http server + undici Pool) with no inspection at all.
 * Whatever the gateway costs beyond this is the gateway's own work.
 *
 * Usage: node --import tsx bench/floor-proxy.ts http://127.0.0.1:UPSTREAM_PORT   → prints {"port":N}
 */
import { createServer } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);
const pool = new Pool(process.argv[2]!, { connections: 256, pipelining: 1 });

const server = createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url!, headers, body: hasBody ? req : null }, {
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
  });
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
