/**
 * Payment card numbers: 13 to 19 digits, optionally grouped by single spaces or hyphens, that pass
 * the Luhn check and are not glued to a letter or another digit. Well-known test numbers (from the
 * card networks' and payment providers' documentation: 4242 4242 4242 4242, 4111 1111 1111 1111, …)
 * are reported as `pii.card_test` with a low severity, so a table of findings shows them as such.
 *
 * Does not count: numbers that fail Luhn, runs of one repeated digit (`0000 0000 0000 0000` passes
 * Luhn), numbers grouped otherwise than cards are printed (groups of four, or 4-6-5 and 4-6-4), with
 * mixed separators, or with other separators (dots, slashes).
 */
import type { Detector, DetectorId } from './detector.js';

const CARD: DetectorId = { id: 'pii.card', severity: 'high', label: 'CARD' };
const CARD_TEST: DetectorId = { id: 'pii.card_test', severity: 'low', label: 'CARD' };

/** The look-behind makes a digit run one start candidate: a 1 MB run of digits stays linear. */
const CANDIDATE = /(?<![\p{L}\p{N}_])\d(?:[ -]?\d){12,18}(?![\p{L}\p{N}_])/gu;

/** Test card numbers published by Stripe, Adyen, Braintree and PayPal for sandbox use. */
export const TEST_CARDS: ReadonlySet<string> = new Set([
  '4242424242424242',
  '4000056655665556',
  '4111111111111111',
  '4012888888881881',
  '4222222222222',
  '4000000000000002',
  '4000000000009995',
  '4000000000000077',
  '4000000000003220',
  '5555555555554444',
  '5200828282828210',
  '5105105105105100',
  '2223003122003222',
  '2223000048400011',
  '378282246310005',
  '371449635398431',
  '378734493671000',
  '6011111111111117',
  '6011000990139424',
  '6011000000000004',
  '3056930009020004',
  '30569309025904',
  '38520000023237',
  '36227206271667',
  '3566002020360505',
  '3530111333300000',
  '6200000000000005',
  '5019717010103742',
]);

/** The Luhn check over the digits of `s` (a space or a hyphen between them is skipped). */
export function luhn(s: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = s.length - 1; i >= 0; i--) {
    let d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Written as cards are: no separator, or one kind of separator between groups of four (the last
 * group 1–4 digits), or the 4-6-5 / 4-6-4 grouping of American Express and Diners cards. One pass,
 * no allocation: most candidates in text are not cards, and every one is looked at.
 */
export function groupedAsCard(candidate: string): boolean {
  let sep = 0;
  let groups = 0;
  let first = 0;
  let second = 0;
  let fours = true;
  let run = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      run += 1;
      continue;
    }
    if (sep === 0) sep = c;
    else if (c !== sep) return false;
    if (groups === 0) first = run;
    else if (groups === 1) second = run;
    if (run !== 4) fours = false;
    groups += 1;
    run = 0;
  }
  if (groups === 0) return true;
  if (groups === 2 && first === 4 && second === 6 && (run === 5 || run === 4)) return true;
  return fours && run <= 4;
}

/** All the digits of `s` are one digit repeated (`0000 0000 0000 0000` passes Luhn). */
function oneDigit(s: string): boolean {
  const d = s.charCodeAt(0);
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== d && c >= 48 && c <= 57) return false;
  }
  return true;
}

export function createCardDetector(): Detector {
  return {
    ids: [CARD, CARD_TEST],
    window: 19 + 18,
    detect(text, out) {
      CANDIDATE.lastIndex = 0;
      for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
        const candidate = m[0];
        if (!luhn(candidate) || !groupedAsCard(candidate) || oneDigit(candidate)) continue;
        const k = TEST_CARDS.has(candidate.replace(/[ -]/g, '')) ? CARD_TEST : CARD;
        out.push({ detector: k.id, severity: k.severity, label: k.label, start: m.index, end: m.index + m[0].length });
      }
    },
  };
}
