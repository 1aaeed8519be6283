/**
 * The error every configuration file (gateway config, agent registry, price table, key files)
 * fails with. `message` names the file, the line and column, the key path and the fix; `code` tells
 * the cases apart without reading the message.
 */

/** Each code and what it means (docs/configuration.md lists them). */
export const CONFIG_ERRORS = {
  config_file_not_found: 'The file does not exist (ENOENT).',
  config_unreadable: 'The file exists but cannot be read (permissions, a directory, …).',
  config_syntax: 'The file cannot be parsed: invalid YAML (a key file: invalid JSON).',
  config_env_unset: 'A `${NAME}` reference names an environment variable that is not set and has no `:-default`.',
  config_invalid: 'The file parses but its content is refused: a wrong type, an unknown key, a missing key, a reference to nothing.',
} as const;

export type ConfigErrorCode = keyof typeof CONFIG_ERRORS;

export class ConfigError extends Error {
  /**
   * @param problems one entry per problem, each `line:col: key.path: what is wrong` (or starting
   * with a space when there is no position); the message is every problem prefixed by the file.
   */
  constructor(
    readonly file: string,
    readonly problems: string[],
    readonly code: ConfigErrorCode = 'config_invalid',
  ) {
    super(problems.map((p) => `${file}:${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}
