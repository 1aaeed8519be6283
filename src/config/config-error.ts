/**
 * The error every configuration file (gateway config, agent registry, price table, key files)
 * fails with. `message` names the file, the line and column, the key path and the fix; `code` tells
 * the cases apart without reading the message.
 */

import { AosError, INTERNAL_ERRORS } from '../errors.js';

export type ConfigErrorCode = 'AOS_ERR_CONFIG_NOT_FOUND' | 'AOS_ERR_CONFIG_UNREADABLE' | 'AOS_ERR_CONFIG_SYNTAX' | 'AOS_ERR_CONFIG_ENV_UNSET' | 'AOS_ERR_CONFIG_INVALID';

/** Each code and what it means (docs/configuration.md lists them), from the one registry in errors.ts. */
export const CONFIG_ERRORS: Readonly<Record<ConfigErrorCode, string>> = {
  AOS_ERR_CONFIG_NOT_FOUND: INTERNAL_ERRORS.AOS_ERR_CONFIG_NOT_FOUND,
  AOS_ERR_CONFIG_UNREADABLE: INTERNAL_ERRORS.AOS_ERR_CONFIG_UNREADABLE,
  AOS_ERR_CONFIG_SYNTAX: INTERNAL_ERRORS.AOS_ERR_CONFIG_SYNTAX,
  AOS_ERR_CONFIG_ENV_UNSET: INTERNAL_ERRORS.AOS_ERR_CONFIG_ENV_UNSET,
  AOS_ERR_CONFIG_INVALID: INTERNAL_ERRORS.AOS_ERR_CONFIG_INVALID,
};

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
    this.name = 'ConfigError';
  }
}
