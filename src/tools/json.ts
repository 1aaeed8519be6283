/** A JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The JSON object in `text`, or null when it is not JSON or not an object. */
export function parseRecord(text: string): Record<string, unknown> | null {
  try {
    const m: unknown = JSON.parse(text);
    return isRecord(m) ? m : null;
  } catch {
    return null;
  }
}
