/**
 * Phone numbers, by libphonenumber-js (`findNumbers`, leniency `VALID`, full metadata) with the
 * profile's default region for numbers written without a country code.
 *
 * `findNumbers` costs about 230 µs on 1 KB of prose without a single number, and 20–30 µs per
 * candidate it parses (bench/RESULTS-guardrails.md). So a cheap scan first finds candidate spans
 * (7 to 17 digits, separated by at most two of ` -./()`, not glued to a letter or digit) and only
 * those are handed to `findNumbers`. Two extra rules keep look-alikes out:
 * - grouping: a number written with separators must be grouped as its country writes it (the
 *   digit groups of the text fall on group boundaries of the national format): `2024-000123` is an
 *   order number, not `(202) 400-0123`; `123-45-6789` is an SSN, not a phone;
 * - more than 15 digits (E.164's maximum: card numbers), a dotted quad (an IPv4 address) or,
 *   without `+`, a digit count no number of the default region has, is not parsed at all;
 * - a bounded effort: at most 256 candidates per scanned string (a string of 100 KB of
 *   `12 34 56 78 …` would otherwise cost a second); past that, phones are not looked for.
 */
import { createRequire } from 'node:module';
import type { CountryCode } from 'libphonenumber-js/max';
import type { Detector, DetectorId } from './detector.js';

// The CommonJS build, as config loading uses it to check a profile's region: one copy of the metadata.
const require = createRequire(import.meta.url);
const { findNumbers } = require('libphonenumber-js/max') as typeof import('libphonenumber-js/max');

interface NumberingPlan {
  possibleLengths(): number[];
  callingCode(): string;
  nationalPrefix(): string | undefined;
  formats(): { pattern(): string }[];
}

/** What a number of the default region written without `+` looks like, read once from the metadata. */
interface NationalShape {
  /** Its digit counts: the national significant lengths, with a trunk prefix (`0…`) or the calling code in front (`1 212 …`). */
  counts: Set<number>;
  /** The digit groups of its national formats, as [min, max] lengths: `(\d{3})(\d{3})(\d{4})` is [[3,3],[3,3],[4,4]]. */
  formats: [number, number][][];
  /** Digits a first group may carry in front of the format's: the trunk prefix or the calling code. */
  prefixes: number[];
}

function nationalShape(region: string): NationalShape {
  const { Metadata } = require('libphonenumber-js/core') as { Metadata: new (m: unknown) => { selectNumberingPlan(c: string): void; numberingPlan: NumberingPlan } };
  const metadata = new Metadata(require('libphonenumber-js/metadata.max.json'));
  metadata.selectNumberingPlan(region);
  const plan = metadata.numberingPlan;
  const prefixes = [0, plan.nationalPrefix()?.length ?? 0, plan.callingCode().length];
  const counts = new Set<number>();
  for (const n of plan.possibleLengths()) for (const e of prefixes) counts.add(n + e);
  const formats = plan.formats().map((f) => [...f.pattern().matchAll(/\(\\d(?:\{(\d+)(?:,(\d+))?\})?\)/g)].map((m): [number, number] => [Number(m[1] ?? 1), Number(m[2] ?? m[1] ?? 1)]));
  return { counts, formats, prefixes };
}

/**
 * Whether digit groups written with separators (`212 555-0147`: 3, 3, 4) can be one of the
 * region's national formats with some of its separators left out, the first group possibly carrying
 * a trunk prefix or the calling code (`1-212-…` as its own group, or glued on). The check the parse
 * would make afterwards (groupedAsWritten), made before it and without it: most numbers in text
 * that are not phones (`4711-20250`, order and ticket ids) stop here.
 */
function fitsNationalFormat(groups: readonly number[], shape: NationalShape): boolean {
  for (const skipFirst of [false, true]) {
    const g = skipFirst ? groups.slice(1) : groups;
    if (g.length === 0) continue;
    for (const f of shape.formats) if (partitions(g, f, shape.prefixes)) return true;
  }
  return false;
}

/** Can `f`'s groups be cut into `g.length` consecutive runs whose length ranges hold g's lengths? */
function partitions(g: readonly number[], f: readonly [number, number][], prefixes: readonly number[]): boolean {
  const walk = (gi: number, fi: number): boolean => {
    if (gi === g.length) return fi === f.length;
    let min = 0;
    let max = 0;
    for (let k = fi; k < f.length; k++) {
      min += f[k][0];
      max += f[k][1];
      const fits = gi === 0 ? prefixes.some((p) => g[0] >= min + p && g[0] <= max + p) : g[gi] >= min && g[gi] <= max;
      if (fits && walk(gi + 1, k + 1)) return true;
    }
    return false;
  };
  return walk(0, 0);
}

const PHONE: DetectorId = { id: 'pii.phone', severity: 'medium', label: 'PHONE' };

/** A run of digits with short separator runs, optionally opened by `+` or `(`. */
const CANDIDATE = /(?<![\p{L}\p{N}_+])(?:\+|\(\+?)?\d(?:[ \-./()]{0,2}\d){6,16}(?![\p{L}\p{N}_])/gu;

export const MAX_PHONE_CANDIDATES = 256;

export function createPhoneDetector(defaultRegion: string): Detector {
  const options = { defaultCountry: defaultRegion as CountryCode, v2: true as const };
  const national = nationalShape(defaultRegion);
  return {
    ids: [PHONE],
    window: 40,
    detect(text, out) {
      CANDIDATE.lastIndex = 0;
      let budget = MAX_PHONE_CANDIDATES;
      for (let m = CANDIDATE.exec(text); m !== null && budget > 0; m = CANDIDATE.exec(text), budget--) {
        const span = m[0];
        if (!worthParsing(span, national)) continue;
        let found: ReturnType<typeof findNumbers>;
        try {
          found = findNumbers(span, options);
        } catch {
          continue;
        }
        for (const n of found) {
          const raw = span.slice(n.startsAt, n.endsAt);
          if (!groupedAsWritten(raw, n.number.formatNational(), n.number.nationalNumber)) continue;
          out.push({ detector: PHONE.id, severity: PHONE.severity, label: PHONE.label, start: m.index + n.startsAt, end: m.index + n.endsAt });
        }
      }
    },
  };
}

const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Candidates that cannot be a phone number, rejected before the costly parse (20–70 µs each): more
 * than 15 digits (E.164's maximum; card numbers), a dotted quad (an IPv4 address), and, written
 * without `+`, a digit count no number of the default region has (`12345-678`, an order or ticket
 * number, in the US where numbers have 10 digits) or digit groups none of its formats has.
 */
function worthParsing(span: string, national: NationalShape): boolean {
  const groups: number[] = [];
  let digits = 0;
  let run = 0;
  for (let i = 0; i < span.length; i++) {
    const c = span.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      run++;
    } else if (run > 0) {
      groups.push(run);
      run = 0;
    }
  }
  if (run > 0) groups.push(run);
  if (digits > 15 || DOTTED_QUAD.test(span)) return false;
  if (span.charCodeAt(0) === 43 /* + */ || span.charCodeAt(1) === 43) return true;
  return national.counts.has(digits) && (groups.length === 1 || fitsNationalFormat(groups, national));
}

/**
 * True when the digit groups of `raw` (split at any non-digit) end on boundaries of the national
 * format's groups, ignoring a leading country code or trunk prefix. A number without separators
 * passes.
 */
function groupedAsWritten(raw: string, national: string, nationalNumber: string): boolean {
  const groups = raw.split(/\D+/).filter((g) => g.length > 0);
  if (groups.length <= 1) return true;
  const digits = groups.join('');
  // The national significant number is the tail of the written digits: drop what precedes it.
  const offset = digits.length - nationalNumber.length;
  if (offset < 0 || !digits.endsWith(nationalNumber)) return false;
  const want = new Set<number>();
  let n = 0;
  const nationalDigits = national.replace(/\D+/g, ' ').trim().split(' ');
  // The national format may carry a trunk prefix (`0` in `020 7946 0958`) the text may omit.
  const trunk = nationalDigits.join('').length - nationalNumber.length;
  for (const g of nationalDigits) {
    n += g.length;
    want.add(n - trunk);
  }
  let at = 0;
  for (const g of groups) {
    at += g.length;
    if (at <= offset) continue; // the country code or trunk prefix
    if (!want.has(at - offset)) return false;
  }
  return true;
}
