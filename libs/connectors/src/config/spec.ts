import { z } from 'zod';
import { secretRegistry } from './fields';

/** What a secret field's value is replaced with in every API response. */
export const REDACTED = '[REDACTED]';

export type ConfigObject = Record<string, unknown>;

/** One connector type's configuration: its schema and the names of its secret fields. */
export interface ConfigSpec {
  schema: z.ZodType<ConfigObject>;
  /** Top-level fields sealed at rest and redacted in responses. */
  secretFields: readonly string[];
  /** Every top-level field the schema knows, in declaration order. */
  fields: readonly string[];
}

/** Schema-level refinement with access to the parsed object (cross-field rules). */
export type Refinement<T> = (value: T, ctx: RefineContext) => void;

export interface RefineContext {
  /** Reports a problem with one field. */
  issue(field: string, message: string): void;
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap();
  return s;
}

/**
 * Builds a connector config spec from a shape: unknown fields are rejected, fields built
 * with `secret()` are the secret ones, and `refine` adds cross-field rules.
 */
export function defineConfig<S extends z.ZodRawShape>(
  shape: S,
  refine?: Refinement<z.infer<z.ZodObject<S>>>,
): ConfigSpec & { schema: z.ZodType<z.infer<z.ZodObject<S>>> } {
  const base = z.strictObject(shape);
  const schema = refine
    ? base.superRefine((value, ctx) =>
        refine(value, { issue: (field, message) => ctx.addIssue({ code: 'custom', path: [field], message }) }),
      )
    : base;
  const fields = Object.keys(shape);
  const secretFields = fields.filter((k) => secretRegistry.has(unwrap(shape[k])));
  return { schema, secretFields, fields };
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

const EXPECTED: Record<string, string> = { int: 'integer', record: 'object' };

/** Messages for issues the schema did not word itself (per-parse error map: lowest precedence). */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${article(EXPECTED[iss.expected] ?? iss.expected)}`;
    case 'too_small':
      if (iss.origin === 'string')
        return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`;
      return `must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `must have at most ${iss.maximum} items`;
      return `must be at most ${iss.maximum}`;
    case 'invalid_value':
      return `must be one of: ${iss.values.map(String).join(', ')}`;
    case 'invalid_format':
      return `must be a valid ${iss.format}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_key':
    case 'invalid_union':
    case 'not_multiple_of':
    case 'unrecognized_keys':
      return undefined;
  }
};

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Flattens zod issues to `<where>.<field>: <message>` lines; unknown keys read "unknown field". */
export function formatIssues(issues: readonly z.core.$ZodIssue[], where: string): string[] {
  const out: string[] = [];
  for (const iss of issues) {
    const path = formatPath(iss.path);
    const at = path ? `${where}.${path}` : where;
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) out.push(`${at}.${k}: unknown field`);
    } else if (iss.code === 'invalid_union') {
      out.push(`${at}: ${iss.message === 'Invalid input' ? 'does not match any accepted form' : iss.message}`);
    } else {
      out.push(`${at}: ${iss.message}`);
    }
  }
  return out;
}

export type ConfigCheck = { ok: true; config: ConfigObject } | { ok: false; issues: string[] };

/**
 * Validates a config against a spec. `where` prefixes every message (`body.config`), so
 * the caller sees which field is wrong.
 */
export function checkConfig(spec: ConfigSpec, config: unknown, where = 'config'): ConfigCheck {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return { ok: false, issues: [`${where}: must be an object`] };
  }
  const r = spec.schema.safeParse(config, { error: errorMap });
  if (r.success) return { ok: true, config: r.data };
  return { ok: false, issues: formatIssues(r.error.issues, where) };
}

/** Splits a config into its plain part and its secret part (absent secrets are omitted). */
export function splitSecrets(
  config: ConfigObject,
  secretFields: readonly string[],
): { config: ConfigObject; secrets: ConfigObject } {
  const plain: ConfigObject = {};
  const secrets: ConfigObject = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    if (secretFields.includes(k)) secrets[k] = v;
    else plain[k] = v;
  }
  return { config: plain, secrets };
}

/** The config as clients see it: each stored secret is the string "[REDACTED]". */
export function redactConfig(config: ConfigObject, storedSecretFields: readonly string[]): ConfigObject {
  const out: ConfigObject = { ...config };
  for (const k of storedSecretFields) out[k] = REDACTED;
  return out;
}
