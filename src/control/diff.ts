/**
 * A unified diff of two texts by lines (the `diff -u` format, 3 lines of context), from a longest
 * common subsequence table. Templates are a few dozen lines: the O(n·m) table is small.
 */
type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

function lines(text: string): string[] {
  if (text === '') return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

/** The edit script from `a` to `b`: kept, removed and added lines, with their line numbers (0-based). */
function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', line: a[i], a: i++, b: j++ });
    // Removals before additions, as `diff -u` writes a changed line.
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ kind: '-', line: a[i], a: i++, b: j });
    else ops.push({ kind: '+', line: b[j], a: i, b: j++ });
  }
  return ops;
}

/** `--- from` / `+++ to` and `@@ -l,s +l,s @@` hunks; empty when the texts are equal. */
export function unifiedDiff(from: string, to: string, fromName: string, toName: string, context = 3): string {
  const ops = editScript(lines(from), lines(to));
  const changed = ops.map((op, k) => (op.kind === ' ' ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  let k = 0;
  while (k < changed.length) {
    // A hunk: changes whose contexts touch, plus `context` lines around them.
    let last = k;
    while (last + 1 < changed.length && changed[last + 1] - changed[last] <= 2 * context) last++;
    const start = Math.max(0, changed[k] - context);
    const end = Math.min(ops.length, changed[last] + context + 1);
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((op) => op.kind !== '+').length;
    const bCount = hunk.filter((op) => op.kind !== '-').length;
    const aStart = aCount === 0 ? hunk[0].a : hunk[0].a + 1;
    const bStart = bCount === 0 ? hunk[0].b : hunk[0].b + 1;
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.line}`);
    k = last + 1;
  }
  return `${out.join('\n')}\n`;
}
