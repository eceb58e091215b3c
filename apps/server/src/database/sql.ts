/**
 * The rows of a raw `manager.query()`: TypeORM's Postgres driver returns the rows for a
 * SELECT but `[rows, rowCount]` for UPDATE/DELETE ... RETURNING.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}
