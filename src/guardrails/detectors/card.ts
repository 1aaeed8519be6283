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

export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
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
 * group 1–4 digits), or the 4-6-5 / 4-6-4 grouping of American Express and Diners cards.
 */
export function groupedAsCard(candidate: string): boolean {
  const separators = new Set(candidate.replace(/\d/g, ''));
  if (separators.size === 0) return true;
  if (separators.size > 1) return false;
  const groups = candidate.split(/[ -]/).map((g) => g.length);
  const shape = groups.join('-');
  if (shape === '4-6-5' || shape === '4-6-4') return true;
  return groups.slice(0, -1).every((n) => n === 4) && groups[groups.length - 1]! <= 4;
}

export function createCardDetector(): Detector {
  return {
    ids: [CARD, CARD_TEST],
    window: 19 + 18,
    detect(text, out) {
      CANDIDATE.lastIndex = 0;
      for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
        const digits = m[0].replace(/[ -]/g, '');
        if (!groupedAsCard(m[0]) || !luhn(digits) || /^(\d)\1*$/.test(digits)) continue;
        const k = TEST_CARDS.has(digits) ? CARD_TEST : CARD;
        out.push({ detector: k.id, severity: k.severity, label: k.label, start: m.index, end: m.index + m[0].length });
      }
    },
  };
}
