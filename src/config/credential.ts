import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

/**
 * The credential a provider or tool entry configures: `apiKey`, or the trimmed contents of
 * `apiKeyFile` (relative to the config file). Null when none is set or it cannot be had; what is
 * wrong goes to `problems`, located at `at` (the entry's `apiKeyFile` key).
 */
export function readCredential(entry: { apiKey?: string; apiKeyFile?: string }, configFile: string, at: string, problems: string[]): string | null {
  if (entry.apiKey !== undefined && entry.apiKeyFile !== undefined) {
    problems.push(`${at}: set apiKey or apiKeyFile, not both`);
    return null;
  }
  if (entry.apiKeyFile !== undefined) {
    const keyFile = isAbsolute(entry.apiKeyFile) ? entry.apiKeyFile : resolve(dirname(configFile), entry.apiKeyFile);
    try {
      return readFileSync(keyFile, 'utf8').trim();
    } catch (err) {
      problems.push(`${at}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return null;
    }
  }
  return entry.apiKey ? entry.apiKey : null;
}
