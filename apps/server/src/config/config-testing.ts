import { ConfigError, loadConfig } from './config.schema';

/** What loadConfig reports about `env` (empty when it is valid): for configuration tests. */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}
