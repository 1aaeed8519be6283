/**
 * The bench's stand-in for an OpenTelemetry collector: an OTLP/HTTP receiver that answers 200 to
 * every POST to /v1/traces and /v1/logs and counts what it got (spans, log records, export requests,
 * bytes), so the realistic-mix scenarios measure a gateway that really exports, and the report can
 * say how much of it arrived. It parses the JSON encoding the gateway's exporters send (gzip too);
 * a body it cannot read is counted as `unreadable`, still answered 200.
 *
 * Usage: node bench/otlp-receiver.ts   → prints {"port":N}; GET /stats answers the counts as JSON.
 */
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';

const counts = { spans: 0, logs: 0, traceRequests: 0, logRequests: 0, bytes: 0, unreadable: 0 };

type Json = Record<string, unknown>;
const list = (o: unknown, key: string): unknown[] => {
  const v = o !== null && typeof o === 'object' ? (o as Json)[key] : undefined;
  return Array.isArray(v) ? v : [];
};

/** Records in an OTLP JSON export: resource → scope → records. */
function countRecords(body: Json, resources: string, scopes: string, records: string): number {
  let n = 0;
  for (const r of list(body, resources)) for (const s of list(r, scopes)) n += list(s, records).length;
  return n;
}

const EMPTY = Buffer.from('{}');

const server = createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    return;
  }
  const traces = req.url === '/v1/traces';
  const logs = req.url === '/v1/logs';
  if (req.method !== 'POST' || (!traces && !logs)) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let raw = Buffer.concat(chunks);
    counts.bytes += raw.length;
    try {
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const body = JSON.parse(raw.toString('utf8')) as Json;
      if (traces) {
        counts.traceRequests += 1;
        counts.spans += countRecords(body, 'resourceSpans', 'scopeSpans', 'spans');
      } else {
        counts.logRequests += 1;
        counts.logs += countRecords(body, 'resourceLogs', 'scopeLogs', 'logRecords');
      }
    } catch {
      counts.unreadable += 1;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': EMPTY.length }).end(EMPTY);
  });
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
