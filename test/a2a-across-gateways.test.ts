/**
 * Delegations across gateways (`identity.delegation`): two gateways, as two sidecars of a fleet,
 * each with its own data folder. The planner hands work to the researcher through gateway 1; the
 * researcher then calls a model and hands on to the writer through gateway 2, passing on the
 * delegation gateway 1 signed. Gateway 2 takes the chain when it trusts the key that signed it (one
 * key file shared by both, or gateway 1's public key in its `trust`): the chain is on its audit
 * events, the workflow is gateway 1's, and the depth limit counts the hand-off made behind
 * gateway 1. Otherwise the token is ignored and flagged, as with a single gateway.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import type { LoadedLocalSigner } from '../src/identity/local-key.js';
import { a2aClient, agentFetch, answerText, type Incoming, openaiAs, passOn, startA2aAgent, userMessage } from './a2a-agents.js';
import { auditEvents, type Harness, startHarness } from './helpers.js';

const ask = (content: string) => ({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user' as const, content }] });
const pem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const publicPem = (privatePem: string) => createPublicKey(privatePem).export({ format: 'pem', type: 'spki' }) as string;

interface TwoGateways {
  g1: Harness;
  g2: Harness;
  /** What the researcher's calls through gateway 2 came to. */
  notes: string[];
}

/** A gateway's `identity.delegation`, the files beside its config, and whether its registry names the agents' A2A endpoints (default: yes). */
type Side = { delegation?: Record<string, unknown>; files?: Record<string, string>; a2a?: false };

/** Researcher and writer (A2A servers), then gateway 1 and gateway 2 with one registry; `second` may read gateway 1 (its local key). */
async function twoGateways(t: Test, first: Side, second: (g1: Harness) => Side): Promise<TwoGateways> {
  const env = { g2: '', researcher: '' };
  const notes: string[] = [];
  const research = async (_text: string, incoming: Incoming) => {
    await openaiAs(env.g2, env.researcher, passOn(incoming)).chat.completions.create(ask('research'));
    notes.push('model ok');
    try {
      const writer = await a2aClient(env.g2, 'writer', 'jsonrpc', agentFetch(env.researcher, passOn(incoming)));
      await writer.sendMessage({ message: userMessage('write it up') } as never);
      notes.push('writer ok');
    } catch (err) {
      const e = err as { data?: { reason?: string }[]; message?: string };
      notes.push(`writer: ${Array.isArray(e.data) ? e.data[0]?.reason : e.message}`);
    }
    return 'researched';
  };
  const researcher = await startA2aAgent(t, 'researcher', research);
  const writer = await startA2aAgent(t, 'writer', async () => 'written');
  const registry = (a2a: boolean) =>
    stringify({
      templates: { worker: { version: 1, providers: ['openai'], models: ['gpt-4o*'], agents: ['*'] } },
      // One hand-off: planner → researcher is allowed, researcher → writer is one too many.
      delegation: { maxDepth: 1 },
      agents: [
        { id: 'planner', team: 'ops', template: 'worker' },
        { id: 'researcher', team: 'ops', template: 'worker', ...(a2a ? { a2a: researcher.endpoint } : {}) },
        { id: 'writer', team: 'ops', template: 'worker', ...(a2a ? { a2a: writer.endpoint } : {}) },
      ],
    });
  const start = (side: Side) =>
    startHarness(
      t,
      { identity: { mode: 'required', registry: 'agents.yaml', ...(side.delegation === undefined ? {} : { delegation: side.delegation }) } },
      { files: { 'agents.yaml': registry(side.a2a !== false), ...side.files } },
    );
  const g1 = await start(first);
  const g2 = await start(second(g1));
  env.g2 = g2.url;
  env.researcher = await g2.gateway.signer()!.mint({ subject: 'researcher', audience: 'aos-gateway', ttlSec: 600 });
  // The planner, behind gateway 1.
  const planner = await g1.gateway.signer()!.mint({ subject: 'planner', audience: 'aos-gateway', ttlSec: 600 });
  const client = await a2aClient(g1.url, 'researcher', 'jsonrpc', agentFetch(planner));
  t.equal(answerText((await client.sendMessage({ message: userMessage('the numbers') } as never)) as never), 'researched', 'the hand-off went through gateway 1');
  return { g1, g2, notes };
}

/** Gateway 2's events of the researcher's own calls, and gateway 1's hand-off. */
async function outcome(f: TwoGateways) {
  const handoff = (await auditEvents(f.g1, 2)).find((e) => e.kind === 'a2a' && e.operation === 'SendMessage')!;
  const events = (await auditEvents(f.g2, 3)).filter((e) => e.operation !== 'GetAgentCard');
  return {
    handoff,
    calls: events.map((e) => ({ kind: e.kind, error: e.error_code, flags: e.flags, delegation: e.delegation ?? null, sameWorkflow: e.workflow_id === handoff.workflow_id })),
  };
}

const TRUSTED = [
  { kind: 'model', error: null, flags: null, delegation: { chain: ['planner', 'researcher'], depth: 1 }, sameWorkflow: true },
  { kind: 'a2a', error: 'aos_delegation_too_deep', flags: null, delegation: { chain: ['planner', 'researcher', 'writer'], depth: 2 }, sameWorkflow: true },
];
const IGNORED = [
  { kind: 'model', error: null, flags: ['delegation_ignored'], delegation: null, sameWorkflow: false },
  { kind: 'a2a', error: null, flags: ['delegation_ignored'], delegation: { chain: ['researcher', 'writer'], depth: 1 }, sameWorkflow: false },
];

t.test('one key file shared by both gateways: gateway 2 takes the chain gateway 1 signed', async (t) => {
  const shared = pem();
  const side = { delegation: { keyFile: 'delegation.pem' }, files: { 'delegation.pem': shared } };
  const f = await twoGateways(t, side, () => side);
  t.same(f.notes, ['model ok', 'writer: aos_delegation_too_deep'], 'the hand-off made behind gateway 1 counts against the depth limit behind gateway 2');
  const { handoff, calls } = await outcome(f);
  t.match(handoff, { agent_id: 'planner', delegation: { chain: ['planner', 'researcher'], depth: 1 } });
  t.same(calls, TRUSTED, "the researcher's calls act under the planner's delegation, in its workflow");
});

t.test('each gateway with its own key, no trust: the delegation is ignored and flagged, as with one gateway', async (t) => {
  const f = await twoGateways(t, {}, () => ({}));
  t.same(f.notes, ['model ok', 'writer ok'], 'the chain starts again behind gateway 2');
  t.same((await outcome(f)).calls, IGNORED);
});

t.test("gateway 2 lists gateway 1's public key (its local key, as a JWK) in trust: accepted", async (t) => {
  const f = await twoGateways(t, {}, (g1) => ({
    delegation: { keyFile: 'own.pem', trust: ['gateway-1.jwk'] },
    files: { 'own.pem': pem(), 'gateway-1.jwk': JSON.stringify((g1.gateway.signer() as LoadedLocalSigner).publicJwk) },
  }));
  t.same(f.notes, ['model ok', 'writer: aos_delegation_too_deep']);
  t.same((await outcome(f)).calls, TRUSTED);
});

t.test('a token signed by a key gateway 2 does not trust: ignored', async (t) => {
  const f = await twoGateways(t, { delegation: { keyFile: 'one.pem' }, files: { 'one.pem': pem() } }, () => ({
    // A rotation that left gateway 1's key out: its own key and a third one.
    delegation: { keyFile: 'two.pem', trust: ['three.pub.pem'] },
    files: { 'two.pem': pem(), 'three.pub.pem': publicPem(pem()) },
    // Gateway 2 hands work to no agent itself: with identity.delegation it still reads the header.
    a2a: false,
  }));
  t.match(f.notes, ['model ok', /^writer: .*404/], 'no A2A route behind gateway 2');
  t.same(
    (await outcome(f)).calls.filter((c) => c.kind === 'model'),
    [IGNORED[0]],
    'read, and ignored',
  );
});
