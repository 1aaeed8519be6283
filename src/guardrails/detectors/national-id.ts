/**
 * National identifiers, each checked as far as its format allows (one detector id, `pii.national_id`):
 * - US Social Security numbers written `AAA-GG-SSSS` (hyphens; nine bare digits are too common to
 *   count): area not 000, 666 or 900–999, group not 00, serial not 0000, and not one of the numbers
 *   known to be void (078-05-1120, the Woolworth wallet card; 219-09-9999 and 123-45-6789, used in
 *   advertising). SSNs have no checksum: this is structure only.
 * - UK National Insurance numbers (`AB 12 34 56 C`, spaces optional, upper case): the prefix letters
 *   HMRC allocates (first not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; not BG, GB, KN, NK,
 *   NT, TN, ZZ), six digits, a suffix A–D. Structure only.
 * - Spanish DNI (`12345678Z`) and NIE (`X1234567L`): the check letter is the number mod 23.
 */
import type { Match } from '../types.js';
import type { Detector, DetectorId } from './detector.js';

const NATIONAL_ID: DetectorId = { id: 'pii.national_id', severity: 'high', label: 'NATIONAL_ID' };

const SSN = /(?<![\p{L}\p{N}_-])(\d{3})-(\d{2})-(\d{4})(?![\p{L}\p{N}_]|-\d)/gu;
const VOID_SSNS = new Set(['078051120', '219099999', '123456789']);

const NINO = /(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g;
const NINO_VOID_PREFIXES = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);

const DNI = /(?<![A-Za-z0-9])([XYZ]-?\d{7}|\d{8})-?([A-Z])(?![A-Za-z0-9])/g;
const DNI_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE';

export function ssnValid(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area[0] === '9' || group === '00' || serial === '0000') return false;
  return !VOID_SSNS.has(area + group + serial);
}

export function dniValid(number: string, letter: string): boolean {
  const digits = number.replace('-', '').replace('X', '0').replace('Y', '1').replace('Z', '2');
  return DNI_LETTERS[Number.parseInt(digits, 10) % 23] === letter;
}

function push(out: Match[], start: number, end: number): void {
  out.push({ detector: NATIONAL_ID.id, severity: NATIONAL_ID.severity, label: NATIONAL_ID.label, start, end });
}

export function createNationalIdDetector(): Detector {
  return {
    ids: [NATIONAL_ID],
    window: 16,
    detect(text, out) {
      if (text.includes('-')) {
        SSN.lastIndex = 0;
        for (let m = SSN.exec(text); m !== null; m = SSN.exec(text)) if (ssnValid(m[1]!, m[2]!, m[3]!)) push(out, m.index, m.index + m[0].length);
      }
      NINO.lastIndex = 0;
      for (let m = NINO.exec(text); m !== null; m = NINO.exec(text)) if (!NINO_VOID_PREFIXES.has(m[1]!)) push(out, m.index, m.index + m[0].length);
      DNI.lastIndex = 0;
      for (let m = DNI.exec(text); m !== null; m = DNI.exec(text)) if (dniValid(m[1]!, m[2]!)) push(out, m.index, m.index + m[0].length);
    },
  };
}
