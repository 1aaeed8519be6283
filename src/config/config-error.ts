/**
 * The error every configuration file (gateway config, agent registry, price table, key files)
 * fails with. `message` names the file, the line and column, the key path and the fix; `code` tells
 * the cases apart without reading the message.
 */

import { AosError, INTERNAL_ERRORS, type InternalErrorCode } from '../errors.js';

export type ConfigErrorCode = Extract<InternalErrorCode, `AOS_ERR_CONFIG_${string}`>;

/** Each code and what it means (docs/configuration.md lists them): the config codes of the one registry in errors.ts. */
export const CONFIG_ERRORS = Object.fromEntries(Object.entries(INTERNAL_ERRORS).filter(([code]) => code.startsWith('AOS_ERR_CONFIG_'))) as Readonly<Record<ConfigErrorCode, string>>;

export class ConfigError extends AosError<ConfigErrorCode> {
  /**
   * @param problems one entry per problem, each `line:col: key.path: what is wrong` (or starting
   * with a space when there is no position); the message is every problem prefixed by the file.
   */
  constructor(
    readonly file: string,
    readonly problems: string[],
    code: ConfigErrorCode = 'AOS_ERR_CONFIG_INVALID',
  ) {
    super(code, problems.map((p) => `${file}:${p}`).join('\n'));
  }
}
