/**
 * The profile's own detectors: regular expressions (`custom.<name>`) and word lists (`word.<name>`).
 *
 * A user's regular expression is a ReDoS risk on text an agent controls: config loading refuses
 * the risky ones (src/config/regex-safety.ts says how); at scan time the text is bounded by the
 * profile's maxScanBytes.
 *
 * Word lists compile into one regular expression shaped as a trie of the (lower-cased) words, matched
 * case-insensitively between non-word characters: one pass over the text, each position costing at
 * most the longest word, whatever the number of words.
 */
import { patternProblem } from '../../config/regex-safety.js';
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
