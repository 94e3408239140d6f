import { ConfigError, loadDotEnv, parseConfig, type ResolvedConfig, resolveSecrets } from '../src/config.ts';

/** Configuration for a one-shot script: same rules as the server, same one-line failure. */
export function scriptConfig(): ResolvedConfig {
  loadDotEnv();
  try {
    return resolveSecrets(parseConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Invalid configuration: ${error.problems.join('; ')}\n`);
      process.exit(78);
    }
    throw error;
  }
}

export const consoleLog = {
  info: (message: string) => process.stdout.write(`${message}\n`),
  debug: () => {},
};
