/**
 * The pieces of the A2A hand-offs on their own: delegation tokens (signed by the gateway's key,
 * verified by it only), the HTTP+JSON operations, the JSON-RPC codes on A2A routes, the card as a
 * caller sees it, and an audit intent line with a delegation that survives a crash.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { canonicalEventJson, encodeEvent } from '../src/audit/canonical.js';
import { openJournal, recoverJournal } from '../src/audit/journal.js';
import { rewriteCard } from '../src/coordination/a2a.js';
import type { A2aAgent } from '../src/coordination/a2a-registry.js';
import { createDelegationKeys, MAX_CHAIN } from '../src/coordination/delegation.js';
import { a2aRpcCode, GatewayError, renderError, renderStreamError } from '../src/errors.js';
import { delegationKeySet } from '../src/identity/delegation-keys.js';
import { loadLocalSigner } from '../src/identity/local-key.js';
import { Ledger } from '../src/metering/ledger.js';
import { restMethod } from '../src/providers/a2a.js';
import { sampleEvent } from './audit-events.js';

const NONE = { usd: null, handoffs: null };
const dir = mkdtempSync(join(tmpdir(), 'aos-a2a-units-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('delegation tokens: signed and verified by the gateway key only, bound in time, RFC 8693 act claims', async (t) => {
  let now = Date.UTC(2026, 11, 7);
  const signer = await loadLocalSigner(join(dir, 'a'), 'aos-local');
  const other = await loadLocalSigner(join(dir, 'b'), 'aos-local');
  const keys = createDelegationKeys(delegationKeySet(null, signer, 'aos-local')!, 60, () => now);
  const otherKeys = createDelegationKeys(delegationKeySet(null, other, 'aos-local')!, 60, () => now);
  const token = keys.sign(['planner', 'researcher', 'writer'], 'wf-1', { usd: 0.5, handoffs: 3 });
  t.match(keys.verify(token), { chain: ['planner', 'researcher', 'writer'], depth: 2, workflowId: 'wf-1', workflowUsd: 0.5, workflowHandoffs: 3 });
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  t.match(payload, {
    iss: 'aos-local',
    aud: 'aos-delegation',
    sub: 'planner',
    act: { sub: 'writer', act: { sub: 'researcher' } },
    aos_workflow_id: 'wf-1',
    aos_workflow_usd: 0.5,
    aos_workflow_handoffs: 3,
  });
  t.equal(payload.act.act.act, undefined, 'the first agent is the subject, not an actor');
  t.equal(otherKeys.verify(token), null, "another gateway's key: not ours");

  const [h, p, s] = token.split('.');
  const tampered = Buffer.from(JSON.stringify({ ...payload, sub: 'admin' })).toString('base64url');
  const cases: [string, string][] = [
    ['a changed payload', `${h}.${tampered}.${s}`],
    ['no signature', `${h}.${p}.`],
    ['a JWT header (an agent token)', `${Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString('base64url')}.${p}.${s}`],
    ['not three parts', 'abc'],
    ['garbage', '..'],
  ];
  for (const [name, bad] of cases) t.equal(keys.verify(bad), null, name);
  t.equal(keys.verify(keys.sign(['solo'], null, NONE)), null, 'a chain of one is no delegation');

  const long = Array.from({ length: MAX_CHAIN + 2 }, (_, i) => `a${i}`);
  t.equal(keys.verify(keys.sign(long, null, NONE)), null, `more than ${MAX_CHAIN} actors are refused`);

  t.equal(keys.sign(['planner', 'researcher', 'writer'], 'wf-1', { usd: 0.5, handoffs: 3 }), token, 'the same chain reuses its token while more than half its life is left');
  t.not(keys.sign(['planner', 'researcher', 'writer'], 'wf-2', { usd: 0.5, handoffs: 3 }), token, 'another workflow: another token');
  now += 31_000;
  const renewed = keys.sign(['planner', 'researcher', 'writer'], 'wf-1', { usd: 0.5, handoffs: 3 });
  t.not(renewed, token, 'renewed past half its life');
  now -= 31_000;
  const cached = keys.verify(token);
  t.ok(cached, 'verified (and remembered)');
  now += 61_000;
  t.equal(keys.verify(token), null, 'expired, even when remembered');
  t.match(keys.verify(keys.sign(['a', 'b'], null, NONE)), { workflowUsd: null, workflowHandoffs: null }, 'no workflow limits: null');
});

t.test('HTTP+JSON operations (A2A 1.0 §11) map to their methods', async (t) => {
  const table: [string, string, string | null][] = [
    ['POST', '/message:send', 'SendMessage'],
    ['POST', '/message:stream', 'SendStreamingMessage'],
    ['GET', '/tasks/t1', 'GetTask'],
    ['GET', '/tasks', 'ListTasks'],
    ['POST', '/tasks/t1:cancel', 'CancelTask'],
    ['GET', '/tasks/t1:subscribe', 'SubscribeToTask'],
    ['POST', '/tasks/t1/pushNotificationConfigs', 'CreateTaskPushNotificationConfig'],
    ['GET', '/tasks/t1/pushNotificationConfigs', 'ListTaskPushNotificationConfigs'],
    ['GET', '/tasks/t1/pushNotificationConfigs/c1', 'GetTaskPushNotificationConfig'],
    ['DELETE', '/tasks/t1/pushNotificationConfigs/c1', 'DeleteTaskPushNotificationConfig'],
    ['GET', '/extendedAgentCard', 'GetExtendedAgentCard'],
    ['POST', '/acme/message:send', 'SendMessage'],
    ['GET', '/message:send', null],
    ['POST', '/tasks/t1', null],
    ['POST', '/message:fly', null],
    ['GET', '/', null],
  ];
  for (const [method, path, want] of table) t.equal(restMethod(method, path), want, `${method} ${path}`);
});

t.test('errors on A2A routes: JSON-RPC codes A2A does not reserve, the code in an ErrorInfo, the stream shapes', async (t) => {
  const table: [ConstructorParameters<typeof GatewayError>[0], number][] = [
    ['aos_bad_request', -32600],
    ['aos_invalid_arguments', -32602],
    ['aos_route_not_found', -32601],
    ['aos_unauthenticated', -32041],
    ['aos_policy_denied', -32043],
    ['aos_delegation_loop', -32043],
    ['aos_delegation_too_deep', -32043],
    ['aos_session_not_found', -32044],
    ['aos_budget_exceeded', -32029],
    ['aos_internal_error', -32603],
    ['aos_upstream_error', -32052],
    ['aos_unavailable', -32053],
    ['aos_upstream_timeout', -32054],
  ];
  for (const [code, rpc] of table) {
    const err = new GatewayError(code, 'why');
    t.equal(a2aRpcCode(err), rpc, code);
    t.notOk(rpc <= -32001 && rpc >= -32009, `${code}: not one of A2A's own`);
  }
  const loop = new GatewayError('aos_delegation_loop', 'a loop');
  t.same(JSON.parse(renderError(loop, 'a2a', 3)), {
    jsonrpc: '2.0',
    id: 3,
    error: { code: -32043, message: 'a loop', data: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'aos_delegation_loop', domain: 'aos-gateway', metadata: { status: '403' } }] },
  });
  t.match(JSON.parse(renderError(loop, 'a2a-rest')), { error: { code: 403, status: 'PERMISSION_DENIED', details: [{ reason: 'aos_delegation_loop' }] } });
  t.match(renderStreamError(loop, 'a2a', 3), /^data: \{"jsonrpc":"2.0","id":3,"error"/);
  t.match(renderStreamError(loop, 'a2a-rest'), /^event: error\ndata: \{"error":\{"code":403/);
});

t.test('the card a caller sees: interfaces at the gateway, gRPC left out, the token scheme, skills filtered, signatures dropped', async (t) => {
  const agent = { id: 'writer', rest: null } as unknown as A2aAgent;
  const own = {
    name: 'writer',
    supportedInterfaces: [
      { url: 'http://10.0.0.7/a2a/jsonrpc', protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      { url: 'http://10.0.0.7/a2a/rest', protocolBinding: 'HTTP+JSON', protocolVersion: '1.0' },
      { url: 'http://10.0.0.7:50051', protocolBinding: 'GRPC', protocolVersion: '1.0' },
    ],
    securitySchemes: { key: { apiKeySecurityScheme: { name: 'x-api-key' } } },
    skills: [{ id: 'draft' }, { id: 'publish' }, { name: 'no id' }],
    signatures: [{ protected: 'x', signature: 'y' }],
  };
  const card = rewriteCard(own, agent, 'http://gw/a2a/writer', (skill) => skill === 'draft');
  t.same(card.supportedInterfaces, [{ url: 'http://gw/a2a/writer', protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }], 'no HTTP+JSON without `rest`; no gRPC');
  t.same(card.skills, [{ id: 'draft' }]);
  t.same(Object.keys(card.securitySchemes as object), ['aos_agent_token']);
  t.equal(card.signatures, undefined);
  t.equal(own.skills.length, 3, "the agent's own card is left as it was");
  const bare = rewriteCard({ name: 'x' }, { id: 'x', rest: {} } as unknown as A2aAgent, 'http://gw/a2a/x', () => true);
  t.same(
    (bare.supportedInterfaces as { protocolBinding: string }[]).map((i) => i.protocolBinding),
    ['JSONRPC', 'HTTP+JSON'],
    'a card without interfaces gets the ones the gateway relays',
  );
});

t.test('an audit intent line with a delegation reads back whole after a crash', async (t) => {
  const jdir = join(dir, 'journal');
  mkdirSync(jdir);
  const journal = openJournal(jdir, 'audit');
  const plain = sampleEvent(1);
  const delegated = { ...sampleEvent(2), kind: 'a2a', delegation: { chain: ['planner', 'researcher'], depth: 1 } };
  const both = { ...sampleEvent(3), approval: { id: 'ap1', status: 'used', approver: 'ann', reason: null, waited_ms: 0 }, delegation: { chain: ['a', 'b', 'c'], depth: 2 } };
  for (const e of [plain, delegated, both]) journal.intent(e);
  journal.close(false);
  const read: Record<string, unknown>[] = [];
  recoverJournal(jdir, 'audit', (lines) => {
    for (const l of lines) read.push(l.event as unknown as Record<string, unknown>);
  });
  t.equal(read.length, 3);
  t.equal(read[0].delegation, undefined, 'an event without one has no key');
  t.same(read[1].delegation, delegated.delegation);
  t.equal(read[1].mcp, undefined, 'the mcp slot before it stays absent');
  t.same([read[2].approval, read[2].delegation], [both.approval, both.delegation]);
  t.equal(encodeEvent(delegated), canonicalEventJson(delegated), 'canonical encoding covers the new key');
});

t.test("a workflow's counter lives on with each reservation, then expires", async (t) => {
  const ledger = new Ledger();
  const line = (until: number) => ({ key: 'workflow:w1|usd|workflow|w', limitId: 'workflow:w1|usd|workflow', limit: 100, amount: 10, until });
  t.ok(ledger.reserve('r1', [line(1_000)], 10_000).ok);
  ledger.settleLines('r1', [line(1_000)], [4]);
  t.ok(ledger.reserve('r2', [line(5_000)], 10_000).ok, 'a later call of the workflow');
  ledger.settleLines('r2', [line(5_000)], [4]);
  t.same(ledger.prune(3_000), [], 'still in use: its expiry moved on with the second call');
  t.equal(ledger.state(line(0)).spent, 8, 'one counter for both calls');
  t.same(ledger.prune(6_000), ['workflow:w1|usd|workflow|w'], 'forgotten once its time is up');
  t.equal(ledger.state(line(0)).spent, 0);
});
