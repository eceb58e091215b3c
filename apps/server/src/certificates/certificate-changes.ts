import type { CertificateRow } from './certificates.repository';
import { CERTIFICATE_REFS } from './dto/certificate.dto';

/** A validated, normalized update request: absent keys are left alone. */
export type CertificatePatchInput = Partial<CertificateRow> & { target_ids?: string[] };

export interface CertificateChanges {
  /** Column values to write. */
  patch: Partial<CertificateRow>;
  /** The new mapped target set, when it differs. */
  targetIds?: string[];
  /** field -> {from, to}, for the audit row. */
  changes: Record<string, { from: unknown; to: unknown }>;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000');

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * What an update really changes against the stored row: unchanged values (same SANs in
 * the same order, the same tags in any key order, the same target set) are dropped so a
 * no-op request writes and audits nothing.
 */
export function certificateChanges(
  before: CertificateRow & { target_ids: string[] },
  input: CertificatePatchInput,
): CertificateChanges {
  const patch: Partial<CertificateRow> = {};
  const changes: CertificateChanges['changes'] = {};
  const set = <K extends keyof CertificateRow>(key: K, value: CertificateRow[K]) => {
    patch[key] = value;
    changes[key] = { from: before[key], to: value };
  };
  for (const key of ['name', 'common_name', 'environment'] as const) {
    const v = input[key];
    if (v !== undefined && v !== before[key]) set(key, v);
  }
  for (const key of CERTIFICATE_REFS) {
    const v = input[key];
    if (v !== undefined && v !== before[key]) set(key, v);
  }
  if (input.sans !== undefined && !sameList(input.sans, before.sans)) set('sans', input.sans);
  if (input.tags !== undefined && !sameTags(input.tags, before.tags)) set('tags', input.tags);
  let targetIds: string[] | undefined;
  if (input.target_ids !== undefined && !sameSet(input.target_ids, before.target_ids)) {
    targetIds = input.target_ids;
    changes.target_ids = { from: before.target_ids, to: input.target_ids };
  }
  return { patch, targetIds, changes };
}
