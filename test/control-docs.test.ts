/** docs/control-plane.md lists exactly the control plane's error codes, with their statuses and meanings. */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CONTROL_ERRORS, type ControlErrorCode, ControlHttpError } from '../src/control/errors.js';

t.test('the error table of docs/control-plane.md is the registry', async (t) => {
  const doc = readFileSync(new URL('../docs/control-plane.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `(control_[a-z_]+)` \| (\d+) \| (.+) \|$/gm)];
  t.same(rows.map((r) => r[1]).sort(), Object.keys(CONTROL_ERRORS).sort(), 'same codes');
  for (const [, code, status, summary] of rows) {
    const spec = CONTROL_ERRORS[code as ControlErrorCode];
    t.same([Number(status), summary], [spec.status, spec.summary], code);
  }
});

t.test('an error renders as the protocol ControlError body', async (t) => {
  const e = new ControlHttpError('control_audit_gap', 'records missing', { expected: 7 });
  t.equal(e.status, 409);
  t.same(e.body(), { error: { code: 'control_audit_gap', message: 'records missing' }, expected: 7 });
});
