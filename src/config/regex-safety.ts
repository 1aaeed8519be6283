/**
 * The ReDoS check of the regular expressions a configuration supplies (guardrail custom patterns):
 * they run on text an agent controls. A pattern is refused when:
 * - it does not compile (Unicode mode), or matches the empty string;
 * - `safe-regex2` (fastify's star-height checker) rejects it: nested quantifiers such as `(a+)+`,
 *   more than 25 repetitions, or syntax it cannot analyse (back-references; a simple look-behind
 *   is left out of its check);
 * - a probe finds super-linear time: the pattern runs on strings of one repeated character (each
 *   literal character of the pattern, and `a`, `A`, `0`, space, `_`) followed by `!`, of 2 to 32
 *   characters and then of doubling lengths up to 16 K; a run over 20 ms, or time that more than
 *   triples when the length doubles (once above 2 ms), is refused. This catches what star height
 *   misses, such as `(a|aa)*b`, `\d+\d+x` and `[a-z]+@` (a repetition that can start anywhere in a
 *   long run rescans it).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** Loaded on the first pattern checked: most configurations have none. */
const safeRegex = (re: string): boolean => (require('safe-regex2') as typeof import('safe-regex2'))(re);

/** Why a pattern is refused, or null when it is accepted. */
export function patternProblem(source: string, ignoreCase = false): string | null {
  let re: RegExp;
  try {
    re = new RegExp(source, ignoreCase ? 'giu' : 'gu');
  } catch (e) {
    return `not a valid regular expression: ${(e as Error).message}`;
  }
  if (new RegExp(source, 'u').test('')) return 'matches the empty string (every position of every text)';
  // safe-regex2's parser knows no look-behind: a simple one (no group inside) is left out of its check;
  // the probe below still runs the whole pattern.
  if (!safeRegex(source.replace(/\(\?<[!=](?:[^()\\]|\\.)*\)/g, '')))
    return 'refused as a ReDoS risk: nested quantifiers like (a+)+, too many repetitions, or syntax the checker cannot analyse (back-references, look-behind with groups inside)';
  const growth = probeGrowth(re, source);
  if (growth !== null) {
    return `refused as a ReDoS risk: its time grows super-linearly on ${growth}. A repetition that can start anywhere inside a long run rescans it: anchor where it starts, e.g. (?<![a-z])[a-z]+ instead of [a-z]+`;
  }
  return null;
}

/** Time (ms) of one run of `re` over `text`, every match. */
function timeRun(re: RegExp, text: string): number {
  const start = process.hrtime.bigint();
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) if (m[0].length === 0) re.lastIndex++;
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** A linear pattern needs well under a millisecond for 16 KB; this much on the probes is refused. */
const PROBE_LIMIT_MS = 20;

/**
 * Runs the pattern on strings of one repeated character followed by `!`: first short ones growing
 * by two (exponential backtracking shows before it can hang the probe), then doubling lengths up to
 * 16 K, the best of three runs each (polynomial backtracking: time more than triples per doubling).
 * Names the input that gave it away, or null.
 */
function probeGrowth(re: RegExp, source: string): string | null {
  const chars = new Set(['a', 'A', '0', ' ', '_']);
  for (const c of source.replace(/\\[dswDSWbBnrtfv]|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}/g, '')) if (c.charCodeAt(0) > 32 && c.charCodeAt(0) < 127 && !'\\()[]{}|?*+^$'.includes(c)) chars.add(c);
  for (const c of chars) {
    const slow = (ms: number, n: number) => `${JSON.stringify(c)} repeated (${ms.toFixed(1)} ms for ${n} characters)`;
    for (let n = 2; n <= 32; n += 2) {
      const ms = timeRun(re, `${c.repeat(n)}!`);
      if (ms > PROBE_LIMIT_MS) return slow(ms, n);
    }
    let previous = 0;
    for (let n = 64; n <= 16_384; n *= 2) {
      const text = `${c.repeat(n)}!`;
      const ms = Math.min(timeRun(re, text), timeRun(re, text), timeRun(re, text));
      if (ms > PROBE_LIMIT_MS || (ms > 2 && ms > previous * 3)) return slow(ms, n);
      previous = ms;
    }
  }
  return null;
}
