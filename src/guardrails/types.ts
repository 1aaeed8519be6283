/**
 * The guardrails contract: detectors find secrets and personal data in the text an agent sends (and,
 * by profile, in what the model answers); the pipeline turns matches into policy findings and, when
 * the policy obliges `redact`, into numbered placeholders. A finding never carries the matched value.
 */

export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** One finding as the policy input, the audit event and the metrics see it. */
export interface Finding {
  /** Stable detector id, dotted by family: `secret.aws_access_key`, `pii.email`, `custom.<name>`, `word.<list>`. */
  detector: string;
  severity: Severity;
  /** Where in the body: a dotted JSON path (`messages.2.content`, `params.arguments.query`). */
  path: string;
}

/**
 * A match inside one scanned string: UTF-16 offsets [start, end) of the value, for redaction only.
 * Matches never leave the process (not logged, not audited, not sent to the policy).
 */
export interface Match {
  detector: string;
  severity: Severity;
  /** The placeholder's type, upper case: `EMAIL`, `PHONE`, `CARD`, `IBAN`, `SECRET`, `IP`, … (redaction writes `[EMAIL_1]`). */
  label: string;
  start: number;
  end: number;
}

/** A profile's detectors, compiled once per configuration. */
export interface Scanner {
  /** The profile's name. */
  readonly profile: string;
  /**
   * Scans one string and pushes its matches to `out`, ordered by start, not overlapping (where two
   * detectors overlap the more severe wins). Linear in the text's length; never throws.
   */
  scan(text: string, out: Match[]): void;
  /** Scan at most this many UTF-16 code units of one request's text in total (the rest is not scanned and the call is flagged). */
  readonly maxChars: number;
  /** Scan model responses too (whole JSON and streams). */
  readonly responses: boolean;
  /** Put redacted values back into the response of the same request (the agent sees its own data; the provider never does). */
  readonly restore: boolean;
  /** Longest text a single match can span: a stream scanner keeps this much look-behind between chunks. */
  readonly window: number;
}
