/** Template lifecycle through the people's API: propose → approve by another person → active; rollback; diff; every step an action. */
import t from 'tap';
import { unifiedDiff } from '../src/control/diff.js';
import { startControl } from './control-fixtures.js';

const alice = { sub: 'alice', roles: ['admin'] };
const bob = { sub: 'bob', roles: ['approver'] };
const vera = { sub: 'vera', roles: ['viewer'] };

t.test('propose, approve by another person, diff, rollback', async (t) => {
  const h = await startControl(t);
  const list = await h.api('GET', '/api/templates', vera);
  t.match(list.body.templates, [
    { name: 'restricted', active: 1, latest: 1 },
    { name: 'standard', active: 1, latest: 1, versions: [{ version: 1, status: 'active', author: 'control-plane' }] },
  ]);
  const v1 = (await h.api('GET', '/api/templates/standard/versions/1', vera)).body;
  t.equal(v1.template.maxTokens, 4096);
  t.match(v1.yaml, /^version: 1\n/);

  const yaml = v1.yaml.replace('maxTokens: 4096', 'maxTokens: 2048').replace('version: 1\n', '');
  const proposed = await h.api('POST', '/api/templates/standard/versions', alice, { template: yaml, reason: 'halve the output cap' });
  t.equal(proposed.status, 201, 'a proposal as YAML text');
  t.match(proposed.body, { name: 'standard', version: 2, status: 'draft', author: 'alice', reason: 'halve the output cap', reviewer: null });
  t.equal(proposed.body.template.version, 2, 'the version is the control plane’s to give');

  const self = await h.api('POST', '/api/templates/standard/versions/2/approve', { sub: 'alice', roles: ['admin'] }, { reason: 'me' });
  t.same([self.status, self.body.error.code], [403, 'control_self_review'], 'the author cannot approve');
  t.equal((await h.api('POST', '/api/templates/standard/versions/2/approve', vera, { reason: 'x' })).status, 403, 'a viewer cannot approve');

  const diff = await h.api('GET', '/api/templates/standard/diff?from=1&to=2', vera);
  t.equal(diff.status, 200);
  t.equal(diff.body.diff, unifiedDiff(v1.yaml, proposed.body.yaml, 'standard@1', 'standard@2'));
  t.match(diff.body.diff, /^--- standard@1\n\+\+\+ standard@2\n@@ -1,\d+ \+1,\d+ @@\n-version: 1\n\+version: 2\n/);
  t.match(diff.body.diff, /\n-maxTokens: 4096\n\+maxTokens: 2048\n/);
  t.equal((await h.api('GET', '/api/templates/standard/diff', vera)).body.diff, diff.body.diff, 'default: active → latest');

  const approved = await h.api('POST', '/api/templates/standard/versions/2/approve', bob, { reason: 'reviewed' });
  t.match(approved.body, { version: 2, status: 'active', reviewer: 'bob', reviewReason: 'reviewed' });
  t.equal((await h.api('GET', '/api/snapshot', vera)).body.registry.templates.standard.maxTokens, 2048, 'the snapshot serves the new version');
  t.equal((await h.api('POST', '/api/templates/standard/versions/2/approve', bob, { reason: 'again' })).status, 409, 'approved once');

  const back = await h.api('POST', '/api/templates/standard/rollback', alice, { version: 1, reason: 'agents truncate' });
  t.match(back.body, { version: 1, status: 'active' });
  t.equal((await h.api('GET', '/api/snapshot', vera)).body.registry.templates.standard.maxTokens, 4096, 'rolled back');
  t.equal((await h.api('POST', '/api/templates/standard/rollback', alice, { version: 1, reason: 'again' })).status, 409, 'already active');

  const draft = await h.api('POST', '/api/templates/standard/versions', alice, { template: { ...v1.template, guardrails: 'strict' }, reason: 'stricter' });
  t.equal(draft.body.version, 3);
  t.equal((await h.api('POST', '/api/templates/standard/rollback', alice, { version: 3, reason: 'skip review' })).status, 409, 'a draft cannot be activated by rollback');
  const fresh = await h.api('POST', '/api/templates/brand-new/versions', alice, { template: { description: 'new' }, reason: 'new kind of agent' });
  t.match(fresh.body, { name: 'brand-new', version: 1, status: 'draft' });
  t.equal((await h.api('PUT', '/api/agents/a-new', alice, { team: 't', template: 'brand-new' })).status, 422, 'no agent on a template without an active version');

  const actions = (await h.api('GET', '/api/actions', vera)).body.actions.map((a: { action: string; target: string; actor: string }) => `${a.actor} ${a.action} ${a.target}`);
  t.same(actions.slice(0, 5), [
    'alice template.propose brand-new@1',
    'alice template.propose standard@3',
    'alice template.rollback standard@1',
    'bob template.approve standard@2',
    'alice template.propose standard@2',
  ]);
});

t.test('unifiedDiff', async (t) => {
  t.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '', 'equal texts: no diff');
  t.equal(unifiedDiff('', 'a\n', 'x', 'y'), '--- x\n+++ y\n@@ -0,0 +1,1 @@\n+a\n');
  const from = `${Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n')}\n`;
  const to = from.replace('l2\n', 'L2\n').replace('l17\n', '');
  t.equal(
    unifiedDiff(from, to, 'x', 'y'),
    ['--- x', '+++ y', '@@ -1,6 +1,6 @@', ' l0', ' l1', '-l2', '+L2', ' l3', ' l4', ' l5', '@@ -15,6 +15,5 @@', ' l14', ' l15', ' l16', '-l17', ' l18', ' l19', ''].join('\n'),
    'two hunks, 3 lines of context',
  );
});
