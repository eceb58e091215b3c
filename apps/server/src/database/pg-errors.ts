import { conflict, invalid } from '@certctl/domain';

interface PgError {
  code?: string;
  constraint?: string;
  detail?: string;
  table?: string;
}

function pgError(e: unknown): PgError | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  // TypeORM wraps the driver error in QueryFailedError.driverError
  const inner = (e as { driverError?: unknown }).driverError ?? e;
  return typeof (inner as PgError).code === 'string' ? inner : undefined;
}

/** Postgres SQLSTATEs the API turns into client errors. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

export function isUniqueViolation(e: unknown, constraint?: string): boolean {
  const p = pgError(e);
  return p?.code === PG_UNIQUE_VIOLATION && (constraint === undefined || p.constraint === constraint);
}

/**
 * Translates constraint violations into 4xx domain errors, naming what clashed:
 * a duplicate -> 409; a reference to a missing row -> 400; deleting a referenced row -> 409.
 * Anything else is rethrown unchanged (an opaque 500 with the request id).
 */
export function rethrowConstraint(e: unknown, what: string): never {
  const p = pgError(e);
  if (p?.code === PG_UNIQUE_VIOLATION) {
    throw conflict(`${what} already exists${p.detail ? `: ${p.detail.replace(/^Key /, '')}` : ''}`);
  }
  if (p?.code === PG_FOREIGN_KEY_VIOLATION) {
    const detail = p.detail ?? '';
    // "Key (owner_id)=(o-x) is not present in table "owners"." vs "... is still referenced from table ..."
    const m = /Key \(([^)]+)\)=\(([^)]*)\) is (not present in|still referenced from) table "([^"]+)"/.exec(detail);
    if (m?.[3] === 'not present in') throw invalid(`body.${m[1]}: ${m[4]} ${JSON.stringify(m[2])} does not exist`);
    if (m?.[3] === 'still referenced from')
      throw conflict(`${what} is still referenced by ${m[4]}`, { referenced_by: m[4] });
    throw conflict(`${what} conflicts with related rows`);
  }
  throw e;
}
