import { readFileSync, statSync } from 'node:fs';

/**
 * Target secrets held by the agent (CERTCTL_AGENT_TARGET_SECRETS_FILE). The server seals the
 * secret fields of a target's configuration and never hands them to agents: a deployment
 * work item names them in `secret_fields` only. The agent takes their values from this
 * local JSON file, `{"<target id>": {"<field>": "<value>"}}`, which must not be readable by
 * group or others (mode 0600 or 0400).
 */

export type TargetSecrets = Record<string, Record<string, string>>;

export const TARGET_SECRETS_VAR = 'CERTCTL_AGENT_TARGET_SECRETS_FILE';

export class TargetSecretsError extends Error {
  override name = 'TargetSecretsError';
}

/**
 * Reads and checks the file: a regular file, no group/other permission bits, a JSON object
 * of target ids to objects of string values. Throws TargetSecretsError naming the problem
 * (never a value). Read at start (refuse to start) and again for each deployment, so an
 * edited file takes effect without a restart.
 */
export function readTargetSecrets(path: string): TargetSecrets {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new TargetSecretsError(`${TARGET_SECRETS_VAR}: cannot read ${path}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new TargetSecretsError(`${TARGET_SECRETS_VAR}: ${path} is not a regular file`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    throw new TargetSecretsError(
      `${TARGET_SECRETS_VAR}: ${path} has mode ${mode.toString(8).padStart(4, '0')}; it holds target ` +
        `credentials and must not be accessible to group or others (chmod 600 ${path})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why = e instanceof SyntaxError ? 'is not valid JSON' : `cannot be read: ${(e as Error).message}`;
    throw new TargetSecretsError(`${TARGET_SECRETS_VAR}: ${path} ${why}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed)) {
    throw new TargetSecretsError(
      `${TARGET_SECRETS_VAR}: ${path} must hold a JSON object {"<target id>": {"<field>": "<value>"}}`,
    );
  }
  const out: TargetSecrets = {};
  for (const [targetId, fields] of Object.entries(parsed)) {
    if (!isObject(fields)) {
      throw new TargetSecretsError(
        `${TARGET_SECRETS_VAR}: ${path}: target ${JSON.stringify(targetId)} must map to an object of field values`,
      );
    }
    const values: Record<string, string> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (typeof value !== 'string' || value === '') {
        throw new TargetSecretsError(
          `${TARGET_SECRETS_VAR}: ${path}: ${JSON.stringify(targetId)}.${field} must be a non-empty string`,
        );
      }
      values[field] = value;
    }
    out[targetId] = values;
  }
  return out;
}

export interface SecretMergeInput {
  targetId: string;
  targetType: string;
  /** The non-secret configuration from the work item. */
  config: Record<string, unknown>;
  /** Secret fields the server holds for the target (`secret_fields`): each must come from the file. */
  requiredFields: readonly string[];
  /** Every secret field of the target type: the only fields the file may supply. */
  secretFieldsOfType: readonly string[];
  /** The file's path, when configured. */
  file?: string;
}

/**
 * The target configuration with the file's secrets merged in, ready for checkConfig. Throws
 * TargetSecretsError naming the target and field when a secret the target needs is missing,
 * or when the file supplies a field that is not a secret of the target type (a local file
 * must not rewrite paths or commands the server configured).
 */
export function mergeTargetSecrets(input: SecretMergeInput): Record<string, unknown> {
  const { targetId, targetType, requiredFields, secretFieldsOfType, file } = input;
  const target = `target ${JSON.stringify(targetId)} (${targetType})`;
  if (!file) {
    if (requiredFields.length === 0) return { ...input.config };
    throw new TargetSecretsError(
      `${target} needs secret field(s) ${requiredFields.map((f) => JSON.stringify(f)).join(', ')}, which the ` +
        `server never sends to agents: set ${TARGET_SECRETS_VAR} to a 0600 JSON file ` +
        `{"${targetId}": {"${requiredFields[0]}": "..."}} on this agent`,
    );
  }
  const own = readTargetSecrets(file)[targetId] ?? {};
  const missing = requiredFields.filter((f) => own[f] === undefined);
  if (missing.length) {
    throw new TargetSecretsError(
      `${target}: secret field ${missing.map((f) => JSON.stringify(f)).join(', ')} missing from ` +
        `${TARGET_SECRETS_VAR} (${file}); add it under ${JSON.stringify(targetId)}`,
    );
  }
  const foreign = Object.keys(own).filter((f) => !secretFieldsOfType.includes(f));
  if (foreign.length) {
    throw new TargetSecretsError(
      `${target}: ${TARGET_SECRETS_VAR} (${file}) sets ${foreign.map((f) => JSON.stringify(f)).join(', ')}, ` +
        `which ${foreign.length > 1 ? 'are not secret fields' : 'is not a secret field'} of ${targetType}` +
        (secretFieldsOfType.length ? ` (secret fields: ${secretFieldsOfType.join(', ')})` : ' (it has none)'),
    );
  }
  return { ...input.config, ...own };
}
