/** The rules of an approval's life (control/approval-rules.ts), table-driven, and the audit encoding of the approval field. */
import t from 'tap';
import { canonicalEventJson, encodeEvent } from '../src/audit/canonical.js';
import { type AcquirePlan, effectiveStatus, planAcquire } from '../src/control/approval-rules.js';
import type { ApprovalAcquire, ApprovalView } from '../src/control/protocol.js';
import { sampleEvent } from './audit-events.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const HASH = 'a'.repeat(64);
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();

function approval(id: string, status: ApprovalView['status'], expiresInMs: number, over: Partial<ApprovalView> = {}): ApprovalView {
  return {
    id,
    agentId: 'desk',
    requestHash: HASH,
    request: {},
    status,
    createdAt: at(-1000),
    expiresAt: at(expiresInMs),
    decidedAt: null,
    decidedBy: null,
    reason: null,
    usedAt: null,
    gateway: null,
    ...over,
  };
}

const req = (approvalId: string | null = null): ApprovalAcquire => ({ agentId: 'desk', requestHash: HASH, request: {}, approvalId, timeoutSeconds: 60, ttlSeconds: 60 });

t.test('planAcquire', async (t) => {
  const cases: { name: string; req: ApprovalAcquire; named?: ApprovalView; forKey?: ApprovalView[]; want: Partial<AcquirePlan> & { id?: string } }[] = [
    { name: 'nothing yet: create', req: req(), want: { kind: 'create' } },
    { name: 'a pending one: wait on it', req: req(), forKey: [approval('p', 'pending', 1000)], want: { kind: 'pending', id: 'p' } },
    { name: 'an approved one: use it (before a pending one)', req: req(), forKey: [approval('p', 'pending', 1000), approval('a', 'approved', 1000)], want: { kind: 'use', id: 'a' } },
    { name: 'approved but past its ttl: create', req: req(), forKey: [approval('a', 'approved', -1)], want: { kind: 'create' } },
    { name: 'pending past its deadline: create', req: req(), forKey: [approval('p', 'pending', 0)], want: { kind: 'create' } },
    { name: 'named, unknown', req: req('x'), want: { kind: 'refuse', code: 'aos_approval_not_found' } },
    { name: 'named, approved', req: req('a'), named: approval('a', 'approved', 1000), want: { kind: 'use', id: 'a' } },
    { name: 'named, pending', req: req('p'), named: approval('p', 'pending', 1000), want: { kind: 'pending', id: 'p' } },
    { name: 'named, used: replay refused', req: req('u'), named: approval('u', 'used', 1000), want: { kind: 'refuse', code: 'aos_approval_used' } },
    { name: 'named, denied', req: req('d'), named: approval('d', 'denied', 1000), want: { kind: 'refuse', code: 'aos_approval_denied' } },
    { name: 'named, approved past its ttl', req: req('a'), named: approval('a', 'approved', -5), want: { kind: 'refuse', code: 'aos_approval_expired' } },
    { name: 'named, another agent', req: req('a'), named: approval('a', 'approved', 1000, { agentId: 'other' }), want: { kind: 'refuse', code: 'aos_approval_mismatch' } },
    { name: 'named, another request', req: req('a'), named: approval('a', 'approved', 1000, { requestHash: 'b'.repeat(64) }), want: { kind: 'refuse', code: 'aos_approval_mismatch' } },
  ];
  for (const c of cases) {
    const plan = planAcquire(c.req, c.named ?? null, c.forKey ?? [], NOW);
    const { id, ...want } = c.want;
    t.match(plan, want, c.name);
    if (id !== undefined) t.equal((plan as { approval: ApprovalView }).approval.id, id, `${c.name}: which one`);
  }
  t.equal(effectiveStatus({ status: 'denied', expiresAt: at(-1) }, NOW), 'denied', 'a decided approval keeps its status past its deadline');
});

t.test('the approval field is canonical where present, and absent events encode as before', async (t) => {
  const plain = sampleEvent(1);
  t.equal(encodeEvent(plain), canonicalEventJson(plain));
  t.notOk(encodeEvent(plain).includes('approval'), 'no key when no approval');
  const withApproval = { ...plain, approval: { id: 'x', status: 'used', approver: 'alice', reason: 'ok', waited_ms: 12 } };
  t.equal(encodeEvent(withApproval), canonicalEventJson(withApproval), 'the fast encoder agrees with the canonical one');
  t.match(encodeEvent(withApproval), /"approval":\{"approver":"alice","id":"x","reason":"ok","status":"used","waited_ms":12\}/);
});
