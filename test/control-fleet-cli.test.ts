/** `aos agents … / kill … / gateways list --control-plane URL`: the real command line against a real control plane. */
import t from 'tap';
import { ADMIN_TOKEN, aosCli, startControl } from './control-fixtures.js';

// A dozen runs of the command line, each a fresh node with tsx: seconds each on a busy machine.
t.setTimeout(240_000);

t.test('fleet-wide suspension and kill switches from the command line; the fleet view', { timeout: 180_000 }, async (t) => {
  const h = await startControl(t);
  const cp = `--control-plane=${h.cp.addresses.people}`;
  const env = { AOS_CONTROL_TOKEN: ADMIN_TOKEN };
  const snapshot = async () =>
    (await (await fetch(`${h.cp.addresses.people}/api/snapshot`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      suspensions: { agentId: string }[];
      kills: { id: string; scope: string; value: string | null; live: string }[];
    };

  const noReason = await aosCli(['agents', 'suspend', 'agent-0', cp], env);
  t.equal(noReason.code, 1);
  t.match(noReason.stderr, /--reason TEXT is required/);
  const suspended = await aosCli(['agents', 'suspend', 'agent-0', '--reason', 'runaway loop', cp], env);
  t.equal(suspended.code, 0, suspended.stderr);
  t.match(suspended.stdout, /agent agent-0 suspended fleet-wide/);
  t.same(
    (await snapshot()).suspensions.map((s) => s.agentId),
    ['agent-0'],
    'in the snapshot every gateway gets',
  );
  const listed = await aosCli(['agents', 'list', cp], env);
  t.match(listed.stdout, /^agent-0\s+platform\s+standard@1\s+suspended\s+calls 0/m);
  t.equal((await aosCli(['agents', 'resume', 'agent-0', '--reason', 'fixed', cp], env)).code, 0);
  t.same((await snapshot()).suspensions, []);

  const killed = await aosCli(['kill', 'team', 'platform', '--reason', 'incident 42', '--finish', cp], env);
  t.equal(killed.code, 0, killed.stderr);
  t.match(killed.stdout, /new calls of team platform are refused on every connected gateway/);
  const [kill] = (await snapshot()).kills;
  t.match(kill, { scope: 'team', value: 'platform', live: 'finish' });
  t.match((await aosCli(['kill', 'list', cp], env)).stdout, new RegExp(`^${kill.id}\\s+team platform\\s+\\(finish\\)\\s+by admin-token .*: incident 42`, 'm'));
  t.match((await aosCli(['kill', 'everyone', '--reason', 'x', cp], env)).stderr, /expected one of agent, team, template, all, list or lift, got "everyone"/);
  t.equal((await aosCli(['kill', 'lift', kill.id, '--reason', 'over', cp], env)).code, 0);
  t.same((await snapshot()).kills, []);

  await h.gw('POST', '/v1/hello', 'gw-9', { version: '0.1.0', labels: { pod: 'agent-7' }, snapshotVersion: 0, policyRevision: null });
  const fleet = await aosCli(['gateways', 'list', cp], env);
  t.equal(fleet.code, 0, fleet.stderr);
  t.match(fleet.stdout, /^fleet version \d+\ngw-9\s+disconnected\s+at v0\s+v0\.1\.0/);
});
