/**
 * IBANs (ISO 13616): a country code, two check digits and the national account number, written
 * without spaces or in groups of four, upper case. Counts only when the length is the registry's
 * length for that country and the ISO 7064 mod 97-10 checksum holds. Does not count: lower-case
 * IBANs, IBANs of countries outside the table below, any IBAN with a bad checksum.
 */
import type { Detector, DetectorId } from './detector.js';

const IBAN: DetectorId = { id: 'pii.iban', severity: 'high', label: 'IBAN' };

/** IBAN lengths by country (the SWIFT IBAN registry). */
// biome-ignore format: a table, one row per line of the registry
const LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27,
  GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24,
  PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25,
  SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

const CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g;

/** ISO 7064 mod 97-10 over the rearranged IBAN (letters as 10–35). */
export function ibanChecksumOk(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) rest = (rest * 10 + (c - 48)) % 97;
    else rest = (rest * 100 + (c - 55)) % 97;
  }
  return rest === 1;
}

export function createIbanDetector(): Detector {
  return {
    ids: [IBAN],
    window: 34 + 8,
    detect(text, out) {
      CANDIDATE.lastIndex = 0;
      for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
        const iban = m[0].replaceAll(' ', '');
        if (LENGTHS[iban.slice(0, 2)] !== iban.length || !ibanChecksumOk(iban)) continue;
        out.push({ detector: IBAN.id, severity: IBAN.severity, label: IBAN.label, start: m.index, end: m.index + m[0].length });
      }
    },
  };
}
