/**
 * The injector's HTTPS server: `POST /mutate` answers AdmissionReviews as the API server sends them,
 * `GET /healthz` for probes. TLS from files (cert-manager; re-read when the certificate changes) or
 * a CA generated at start (its PEM written to `tls.caBundleFile` for the webhook's caBundle).
 */
import { readFileSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { answerReview } from './admission.js';
import type { InjectConfig } from './config.js';
import { selfSignedServing } from './x509.js';

/** The API server sends objects up to about 3 MiB; a review is a little larger. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface Injector {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** https://host:port once started. */
  readonly url: string;
  /** The CA that signed the serving certificate, when generated here (else null). */
  readonly caPem: string | null;
}

interface Tls {
  cert: string;
  key: string;
  caPem: string | null;
}

function loadTls(config: InjectConfig): Tls {
  const { certFile, keyFile, selfSignedHosts, caBundleFile } = config.tls;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('tls.certFile and tls.keyFile go together');
  if (certFile !== undefined && keyFile !== undefined) return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), caPem: null };
  const generated = selfSignedServing(selfSignedHosts, 365);
  if (caBundleFile !== undefined) writeFileSync(caBundleFile, generated.caPem);
  return { cert: generated.certPem, key: generated.keyPem, caPem: generated.caPem };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function createInjector(config: InjectConfig, log: Logger): Injector {
  const tls = loadTls(config);
  let url = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && req.method === 'GET') return json(res, 200, { status: 'ok' });
    if (path !== '/mutate') return json(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return json(res, 405, { error: 'POST an AdmissionReview' });
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'expected application/json' });
    const body = await readBody(req);
    if (body === null) return json(res, 413, { error: `the review is larger than ${MAX_BODY_BYTES} bytes` });
    let review: unknown;
    try {
      review = JSON.parse(body.toString('utf8'));
    } catch {
      return json(res, 400, { error: 'the body is not JSON' });
    }
    const answer = answerReview(review, config);
    if (answer.status === 400) {
      log.warn('admission review refused', { reason: answer.message });
      return json(res, 400, { error: answer.message });
    }
    const { response } = answer.review;
    log.info('admission review', {
      uid: response.uid,
      namespace: (review as { request: { namespace?: string } }).request.namespace,
      outcome: answer.outcome,
      ...(answer.reason ? { reason: answer.reason } : {}),
    });
    json(res, 200, answer.review);
  };

  const server: Server = createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('admission review failed', { err });
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  // cert-manager renews the Secret in place: the kubelet updates the mounted files, we pick them up.
  const { certFile, keyFile } = config.tls;
  const reload = () => {
    try {
      server.setSecureContext({ cert: readFileSync(certFile!, 'utf8'), key: readFileSync(keyFile!, 'utf8'), minVersion: 'TLSv1.2' });
      log.info('serving certificate reloaded', { certFile });
    } catch (err) {
      log.error('serving certificate reload failed; keeping the previous one', { err });
    }
  };

  return {
    get url() {
      return url;
    },
    caPem: tls.caPem,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.listen.port, config.listen.host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      url = `https://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      if (certFile !== undefined) watchFile(certFile, { interval: config.tls.reloadCheckMs, persistent: false }, reload);
    },
    async stop() {
      if (certFile !== undefined) unwatchFile(certFile, reload);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
