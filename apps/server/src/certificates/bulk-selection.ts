import { invalid } from '@certctl/domain';
import type { CertificatesRepository } from './certificates.repository';

/** Filters of the bulk actions: every given one must match (AND). */
export interface CertificateCriteria {
  certificate_ids?: string[];
  profile_id?: string;
  owner_id?: string;
  team_id?: string;
  issuer_id?: string;
  agent_id?: string;
}

export type CriterionName = keyof CertificateCriteria;

/** The criteria of a bulk request body (its other fields, such as a revocation reason, dropped). */
export function criteriaOf(body: CertificateCriteria, accepted: readonly CriterionName[]): CertificateCriteria {
  return Object.fromEntries(accepted.filter((k) => body[k] !== undefined).map((k) => [k, body[k]]));
}

/**
 * The live (not archived, not revoked) certificates a bulk action applies to. At least one
 * criterion is required, so an empty body never means "every certificate"; more than
 * `limit` matches is a 400 asking to narrow the filters instead of a partial run.
 */
export async function selectForBulk(
  repo: CertificatesRepository,
  body: CertificateCriteria,
  opts: { limit: number; accepted: readonly CriterionName[] },
): Promise<string[]> {
  const { limit, accepted } = opts;
  const criteria = criteriaOf(body, accepted);
  if (Object.keys(criteria).length === 0) throw invalid(`body: give at least one of ${accepted.join(', ')}`);
  const ids = await repo.transaction((m) => repo.matchLive(m, criteria, limit + 1));
  if (ids.length > limit) throw invalid(`body: the filters match more than ${limit} certificates; narrow them`);
  return ids;
}
