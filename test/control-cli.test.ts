/** `aos templates …` and `aos audit … --control-plane URL`: the real command line against a real control plane. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_TOKEN, aosCli, chain, startControl } from './control-fixtures.js';

// Ten runs of the command line, each a fresh node with tsx: seconds each on a busy machine.
t.test('templates: propose from a file, approve as someone else, diff, list; audit verify and query', { timeout: 180_000 }, async (t) => {
  const h = await startControl(t);
  const cp = `--control-plane=${h.cp.addresses.people}`;
  const reviewer = await h.peopleIssuer.mint({ sub: 'bob', aud: 'aos-admin', roles: ['approver'] });

  const shown = await aosCli(['templates', 'show', 'standard', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /^# standard@1 active: proposed by control-plane/);
  const file = join(h.dir, 'standard.yaml');
  writeFileSync(file, shown.stdout.replace('maxTokens: 4096', 'maxTokens: 512'));

  const noReason = await aosCli(['templates', 'propose', 'standard', file, cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.equal(noReason.code, 1);
  t.match(noReason.stderr, /--reason TEXT is required/);
  const proposed = await aosCli(['templates', 'propose', 'standard', file, '--reason', 'smaller answers', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.equal(proposed.code, 0, proposed.stderr);
  t.match(proposed.stdout, /standard@2 draft: proposed by admin-token .*\(smaller answers\)/);

  const self = await aosCli(['templates', 'approve', 'standard', '2', '--reason', 'me', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.equal(self.code, 1);
  t.match(self.stderr, /403 \(control_self_review/);
  const approved = await aosCli(['templates', 'approve', 'standard', '2', '--reason', 'reviewed', cp, '--token', reviewer]);
  t.equal(approved.code, 0, approved.stderr);
  t.match(approved.stdout, /standard@2 active: .*approved by bob/);

  const diff = await aosCli(['templates', 'diff', 'standard', '1', '2', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.match(diff.stdout, /^--- standard@1\n\+\+\+ standard@2\n/);
  t.match(diff.stdout, /\n-maxTokens: 4096\n\+maxTokens: 512\n/);
  const list = await aosCli(['templates', 'list', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.match(list.stdout, /standard\s+active v2\s+latest v2\n\s+v1\s+approved\s+control-plane → control-plane/);
  const noToken = await aosCli(['templates', 'list', cp]);
  t.match(noToken.stderr, /a token is required/);

  await h.gw('POST', '/v1/hello', 'gw-1', { version: '0.1.0', labels: {}, snapshotVersion: 0, policyRevision: null });
  await h.gw('POST', '/v1/audit', 'gw-1', { records: chain(5) });
  const verify = await aosCli(['audit', 'verify', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.equal(verify.code, 0, verify.stderr);
  t.match(verify.stdout, /^gw-1: ok, 5 events; head seq 5/);
  const query = await aosCli(['audit', 'query', '--decision', 'deny', '--json', cp], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });
  t.same(
    query.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).seq),
    [5],
  );
});
