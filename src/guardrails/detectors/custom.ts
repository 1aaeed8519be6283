/**
 * The profile's own detectors: regular expressions (`custom.<name>`) and word lists (`word.<name>`).
 *
 * A user's regular expression is a ReDoS risk on text an agent controls. At config load a pattern is
 * refused when:
 * - it does not compile, or matches the empty string;
 * - `safe-regex2` (fastify's star-height checker) rejects it: nested quantifiers such as `(a+)+`,
 *   more than 25 repetitions, or syntax it cannot analyse (back-references; a simple look-behind
 *   is left out of its check);
 * - a probe finds super-linear time: the pattern runs on strings of one repeated character (each
 *   literal character of the pattern, and `a`, `A`, `0`, space, `_`) followed by `!`, of 2 to 32
 *   characters and then of doubling lengths up to 16 K; a run over 20 ms, or time that more than
 *   triples when the length doubles (once above 2 ms), is refused. This catches what star height
 *   misses, such as `(a|aa)*b` and `\d+\d+x`.
 * At scan time the text is bounded by the profile's maxScanBytes.
 *
 * Word lists compile into one regular expression shaped as a trie of the (lower-cased) words, matched
 * case-insensitively between non-word characters: one pass over the text, each position costing at
 * most the longest word, whatever the number of words.
 */
import safeRegex from 'safe-regex2';
import type { Match, Severity } from '../types.js';
import type { Detector, DetectorId } from './detector.js';

export interface CustomPattern {
  readonly name: string;
  readonly pattern: string;
  readonly severity: Severity;
  readonly label?: string | undefined;
  readonly ignoreCase?: boolean | undefined;
}

export interface WordList {
  readonly name: string;
  readonly words: readonly string[];
  readonly severity: Severity;
  readonly label?: string | undefined;
}

/** Longest match of a custom pattern a stream scanner is asked to keep in view. */
export const CUSTOM_WINDOW = 1024;

const labelOf = (name: string) => name.toUpperCase().replace(/[^A-Z0-9]+/g, '_');

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

export function createPatternDetector(p: CustomPattern): Detector {
  const problem = patternProblem(p.pattern, p.ignoreCase === true);
  if (problem !== null) throw new Error(`pattern ${p.name}: ${problem}`);
  const re = new RegExp(p.pattern, p.ignoreCase === true ? 'giu' : 'gu');
  const id: DetectorId = { id: `custom.${p.name}`, severity: p.severity, label: p.label ?? labelOf(p.name) };
  return { ids: [id], window: CUSTOM_WINDOW, detect: (text, out) => exec(re, text, id, out) };
}

export function createWordsDetector(list: WordList): Detector {
  const id: DetectorId = { id: `word.${list.name}`, severity: list.severity, label: list.label ?? labelOf(list.name) };
  const words = [...new Set(list.words.map((w) => w.trim().toLowerCase()).filter((w) => w.length > 0))];
  if (words.length === 0) return { ids: [id], window: 0, detect: () => {} };
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${trieSource(words)})(?![\\p{L}\\p{N}_])`, 'giu');
  return { ids: [id], window: Math.max(...words.map((w) => w.length)), detect: (text, out) => exec(re, text, id, out) };
}

function exec(re: RegExp, text: string, id: DetectorId, out: Match[]): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    out.push({ detector: id.id, severity: id.severity, label: id.label, start: m.index, end: m.index + m[0].length });
  }
}

interface TrieNode {
  end: boolean;
  next: Map<string, TrieNode>;
}

/** A regular expression source matching exactly the words, factored as a trie (longest first). */
export function trieSource(words: readonly string[]): string {
  const root: TrieNode = { end: false, next: new Map() };
  for (const word of words) {
    let node = root;
    for (const ch of word) {
      let child = node.next.get(ch);
      if (child === undefined) {
        child = { end: false, next: new Map() };
        node.next.set(ch, child);
      }
      node = child;
    }
    node.end = true;
  }
  const render = (node: TrieNode): string => {
    const branches = [...node.next].sort(([a], [b]) => (a < b ? -1 : 1)).map(([ch, child]) => escapeChar(ch) + render(child));
    if (branches.length === 0) return '';
    const body = branches.length === 1 ? branches[0]! : `(?:${branches.join('|')})`;
    // A word that ends here and continues: the longer one is tried first (greedy `?`).
    return node.end ? `(?:${body})?` : body;
  };
  return render(root);
}

function escapeChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}
