/**
 * The `admission.k8s.io/v1` AdmissionReview exchange: the API server posts a review with a
 * `request`, the webhook answers the same review with a `response` that echoes the request's uid
 * and, to mutate, carries a base64 JSON Patch. Anything the injector does not handle (another kind,
 * another operation, a pod it cannot read) is allowed unchanged, or refused when `onInvalid: deny`:
 * never a patch that could break the pod.
 */
import type { InjectConfig } from './config.js';
import { planInjection } from './inject.js';

const API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; message: string };
  warnings?: string[];
}

/** What the webhook answers: an HTTP status and a body. Without a uid there is no review to answer: 400. */
export type Answer = { status: 200; review: { apiVersion: string; kind: 'AdmissionReview'; response: AdmissionResponse }; outcome: string; reason?: string } | { status: 400; message: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function answerReview(body: unknown, config: InjectConfig): Answer {
  if (!isRecord(body) || body.kind !== 'AdmissionReview' || body.apiVersion !== API_VERSION) return { status: 400, message: `expected an ${API_VERSION} AdmissionReview` };
  const request = body.request;
  if (!isRecord(request) || typeof request.uid !== 'string' || request.uid === '') return { status: 400, message: 'the AdmissionReview has no request.uid' };
  const uid = request.uid;
  const reply = (response: Omit<AdmissionResponse, 'uid'>, outcome: string, reason?: string): Answer => ({
    status: 200,
    review: { apiVersion: API_VERSION, kind: 'AdmissionReview', response: { uid, ...response } },
    outcome,
    ...(reason === undefined ? {} : { reason }),
  });
  const invalid = (reason: string): Answer =>
    config.onInvalid === 'deny'
      ? reply({ allowed: false, status: { code: 400, message: `aos injector: ${reason}` } }, 'denied', reason)
      : reply({ allowed: true, warnings: [`aos injector: not injected: ${reason}`] }, 'invalid', reason);
  const kind = request.kind;
  const isPod = isRecord(kind) && kind.group === '' && kind.version === 'v1' && kind.kind === 'Pod' && (request.subResource === undefined || request.subResource === '');
  if (!isPod) return reply({ allowed: true }, 'other-kind');
  if (request.operation !== 'CREATE') return reply({ allowed: true }, 'other-operation');
  const object = request.object;
  const metadataNamespace = isRecord(object) && isRecord(object.metadata) ? object.metadata.namespace : undefined;
  const namespace = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : metadataNamespace;
  if (typeof namespace !== 'string' || namespace === '') return invalid('the review names no namespace');
  const plan = planInjection(object, namespace, config);
  if (plan.kind === 'invalid') return invalid(plan.reason);
  if (plan.kind === 'skip') return reply({ allowed: true }, 'skipped', plan.reason);
  return reply({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(plan.patch)).toString('base64') }, 'injected');
}
