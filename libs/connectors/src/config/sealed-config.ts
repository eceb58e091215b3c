import { isDeepStrictEqual } from 'node:util';
import { DomainError, ErrorCode, invalid } from '@certctl/domain';
import { checkConfig, REDACTED, splitSecrets, type ConfigObject, type ConfigSpec } from './spec';

/** Seals secrets at rest (the server's SecretBox fits this shape). */
export interface SecretSealer {
  readonly enabled: boolean;
  seal(secret: ConfigObject, context: string): Promise<Buffer>;
  open(blob: Buffer, context: string): Promise<ConfigObject>;
}

/** A row's configuration as stored: the plain part and the sealed secret part. */
export interface StoredConfig {
  config: ConfigObject;
  secretConfig: Buffer | null;
  /** Names of the secrets inside `secretConfig` (readable without opening it). */
  secretFields: readonly string[];
}

export interface SealedConfig {
  config: ConfigObject;
  secretConfig: Buffer | null;
  secretFields: string[];
  /** Fields whose value changed, secret ones by name only (for the audit trail). */
  changedFields: string[];
}

export interface PrepareConfigOptions {
  spec: ConfigSpec;
  /** The config the client sent; undefined re-validates the stored one (e.g. on a type change). */
  input: ConfigObject | undefined;
  stored?: StoredConfig;
  sealer: SecretSealer;
  /** Binds the sealed blob to its row, e.g. `issuers:iss-x`. */
  context: string;
  /** Prefix naming the field in messages. */
  where?: string;
}

const KEY_ADVICE =
  'storing secrets needs CERTCTL_CONFIG_ENCRYPTION_KEY (at least 32 bytes) set on the server, which seals them at rest';

/** Opens a row's sealed secrets; a server that cannot is misconfigured (503, not the client's fault). */
export async function openSecrets(stored: StoredConfig, sealer: SecretSealer, context: string): Promise<ConfigObject> {
  if (!stored.secretConfig) return {};
  if (!sealer.enabled) {
    throw new DomainError(
      ErrorCode.Unavailable,
      `the sealed secrets of ${context} cannot be opened: CERTCTL_CONFIG_ENCRYPTION_KEY is not set`,
    );
  }
  try {
    return await sealer.open(stored.secretConfig, context);
  } catch (e) {
    throw new DomainError(ErrorCode.Unavailable, (e as Error).message);
  }
}

/** The full configuration (plain + opened secrets), for connectors and connection tests. */
export async function unsealConfig(stored: StoredConfig, sealer: SecretSealer, context: string): Promise<ConfigObject> {
  return { ...stored.config, ...(await openSecrets(stored, sealer, context)) };
}

type Directive = { kind: 'keep' } | { kind: 'set'; value: unknown } | { kind: 'clear' };

/**
 * Turns a client's config into what is stored. For each secret field: "[REDACTED]" or
 * absent keeps the stored value, null clears it, anything else replaces it. Plain fields
 * are taken as sent (null = absent); a missing `input` keeps the stored plain fields.
 * The merged config is validated as a whole, then the secret part is sealed (the old blob
 * is reused when no secret changed). Throws 400 naming the field on bad input, and when
 * secrets must be stored without CERTCTL_CONFIG_ENCRYPTION_KEY.
 */
export async function prepareConfig(opts: PrepareConfigOptions): Promise<SealedConfig> {
  const { spec, input, stored, sealer, context } = opts;
  const where = opts.where ?? 'body.config';
  const secretSet = new Set(spec.secretFields);
  const storedSecrets = new Set(stored?.secretFields ?? []);

  const plain: ConfigObject = {};
  const source = input ?? stored?.config ?? {};
  for (const [k, v] of Object.entries(source)) {
    if (v !== null && v !== undefined && (input === undefined || !secretSet.has(k))) plain[k] = v;
  }

  const directives = new Map<string, Directive>();
  const problems: string[] = [];
  for (const k of spec.secretFields) {
    const sent = input !== undefined && Object.prototype.hasOwnProperty.call(input, k);
    const v = sent ? input?.[k] : undefined;
    if (!sent || v === REDACTED) {
      if (storedSecrets.has(k)) directives.set(k, { kind: 'keep' });
      else if (sent)
        problems.push(`${where}.${k}: "${REDACTED}" stands for a stored secret, but none is stored; send the value`);
    } else if (v === null) {
      if (storedSecrets.has(k)) directives.set(k, { kind: 'clear' });
    } else {
      directives.set(k, { kind: 'set', value: v });
    }
  }
  if (problems.length) throw invalid(problems.join('; '));

  const keeps = [...directives].filter(([, d]) => d.kind === 'keep').map(([k]) => k);
  const opened = keeps.length && stored ? await openSecrets(stored, sealer, context) : {};
  const merged: ConfigObject = { ...plain };
  for (const [k, d] of directives) {
    if (d.kind === 'keep') merged[k] = opened[k];
    else if (d.kind === 'set') merged[k] = d.value;
  }

  const checked = checkConfig(spec, merged, where);
  if (!checked.ok) throw invalid(checked.issues.join('; '));
  const split = splitSecrets(checked.config, spec.secretFields);
  const secretFields = Object.keys(split.secrets).sort();

  if (secretFields.length && !sealer.enabled) {
    throw invalid(secretFields.map((k) => `${where}.${k}: is a secret; ${KEY_ADVICE}`).join('; '));
  }

  // A secret is unchanged only when it was kept and still has its stored value.
  const secretChanged = [...new Set([...secretFields, ...storedSecrets])].filter(
    (k) => !(directives.get(k)?.kind === 'keep' && isDeepStrictEqual(opened[k], split.secrets[k])),
  );
  let secretConfig: Buffer | null = null;
  if (secretFields.length) {
    secretConfig =
      stored?.secretConfig && secretChanged.length === 0
        ? stored.secretConfig
        : await sealer.seal(split.secrets, context);
  }

  const before = stored?.config ?? {};
  const plainChanged = [...new Set([...Object.keys(before), ...Object.keys(split.config)])].filter(
    (k) => !isDeepStrictEqual(before[k], split.config[k]),
  );
  const changedFields = [...new Set([...plainChanged, ...secretChanged])].sort();
  return { config: split.config, secretConfig, secretFields, changedFields };
}
