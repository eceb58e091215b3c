import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { invalid, LIST_DEFAULT_PER_PAGE, type ListResult } from '@certctl/domain';
import type { ListQueryDto } from '../http/list-query.dto';

/** A sortable column: its SQL expression on the main alias, and how to keyset on it. */
export interface SortColumn {
  column: string;
  kind: 'timestamp' | 'text' | 'number' | 'boolean';
  /** Nullable columns sort NULLS LAST in both directions. */
  nullable?: boolean;
}

export interface ListSpec<E, Dto extends { id: string }> {
  /** API sort name -> column. A string is a non-null timestamp column. */
  sortable: Record<string, string | SortColumn>;
  /** Default order, e.g. `-created_at`. */
  defaultSort: string;
  /** The fields a `fields=` selection may name. */
  fields: readonly (keyof Dto & string)[];
  toDto: (row: E) => Dto;
}

interface Cursor {
  s: string; // the sort it was issued for
  v: string | null; // the sort value of the last row, as Postgres printed it
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.s, c.v, c.id])).toString('base64url');
}

function decodeCursor(raw: string, sort: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    typeof v[0] !== 'string' ||
    (typeof v[1] !== 'string' && v[1] !== null) ||
    typeof v[2] !== 'string'
  ) {
    throw invalid('query.cursor: not a cursor this server issued');
  }
  if (v[0] !== sort) throw invalid(`query.cursor: issued for sort=${v[0]}, not sort=${sort}`);
  return { s: v[0], v: v[1] as string | null, id: v[2] };
}

function normalize(col: string | SortColumn): SortColumn {
  return typeof col === 'string' ? { column: col, kind: 'timestamp' } : col;
}

function parseSort(sort: string, sortable: Record<string, string | SortColumn>) {
  const desc = sort.startsWith('-');
  const name = desc ? sort.slice(1) : sort;
  const col = sortable[name];
  if (!col) {
    throw invalid(`query.sort: cannot sort by ${JSON.stringify(name)}; allowed: ${Object.keys(sortable).join(', ')}`);
  }
  return { ...normalize(col), dir: desc ? ('DESC' as const) : ('ASC' as const), name, raw: sort };
}

function pickFields<Dto extends { id: string }>(
  rows: Dto[],
  fields: string | undefined,
  allowed: readonly string[],
): Partial<Dto>[] {
  if (!fields) return rows;
  const wanted = fields.split(',');
  const unknown = wanted.filter((f) => !allowed.includes(f));
  if (unknown.length) {
    throw invalid(`query.fields: unknown field(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`);
  }
  const keep = new Set(['id', ...wanted]);
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => keep.has(k))) as Partial<Dto>);
}

const CAST: Record<SortColumn['kind'], string> = {
  timestamp: 'timestamptz',
  text: 'text',
  number: 'numeric',
  boolean: 'boolean',
};

/**
 * Runs a list query under the API's list conventions. The builder carries the filters;
 * this adds ordering, the page or keyset window, the total and sparse fields.
 * Cursor (keyset) mode orders by (sort column, id) so each page is an index range scan;
 * the cursor carries the last row's sort value and id, and the sort it belongs to.
 */
export async function paginate<E extends ObjectLiteral, Dto extends { id: string }>(
  qb: SelectQueryBuilder<E>,
  query: ListQueryDto,
  spec: ListSpec<E, Dto>,
): Promise<ListResult<Partial<Dto>>> {
  const alias = qb.alias;
  const idCol = `${alias}.id`;
  const cursorMode = query.cursor !== undefined || query.page_size !== undefined;
  if (cursorMode && (query.page !== undefined || query.per_page !== undefined)) {
    throw invalid('query: use either page/per_page or cursor/page_size, not both');
  }
  const sort = parseSort(query.sort ?? spec.defaultSort, spec.sortable);
  const nulls = sort.nullable ? 'NULLS LAST' : undefined;
  // The count runs beside the page query (same filters, no window) instead of before it.
  const countQb = qb.clone();

  if (!cursorMode) {
    const page = query.page ?? 1;
    const perPage = query.per_page ?? LIST_DEFAULT_PER_PAGE;
    const [rows, total] = await Promise.all([
      qb
        .orderBy(sort.column, sort.dir, nulls)
        .addOrderBy(idCol, sort.dir)
        .skip((page - 1) * perPage)
        .take(perPage)
        .getMany(),
      countQb.getCount(),
    ]);
    return { data: pickFields(rows.map(spec.toDto), query.fields, spec.fields), total, page, per_page: perPage };
  }

  const pageSize = query.page_size ?? LIST_DEFAULT_PER_PAGE;
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor, sort.raw);
    const op = sort.dir === 'ASC' ? '>' : '<';
    const cast = CAST[sort.kind];
    if (c.v === null) {
      // Past the last non-null value: only the NULL tail remains, ordered by id.
      qb.andWhere(`${sort.column} IS NULL AND ${idCol} ${op} :cursorId`, { cursorId: c.id });
    } else if (sort.nullable) {
      qb.andWhere(
        `((${sort.column}, ${idCol}) ${op} (CAST(:cursorV AS ${cast}), :cursorId) OR ${sort.column} IS NULL)`,
        { cursorV: c.v, cursorId: c.id },
      );
    } else {
      qb.andWhere(`(${sort.column}, ${idCol}) ${op} (CAST(:cursorV AS ${cast}), :cursorId)`, {
        cursorV: c.v,
        cursorId: c.id,
      });
    }
  }
  const printed =
    sort.kind === 'timestamp'
      ? `to_char(${sort.column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
      : `CAST(${sort.column} AS text)`;
  const [{ entities, raw }, total] = await Promise.all([
    qb
      .addSelect(printed, 'cursor_v')
      .orderBy(sort.column, sort.dir, nulls)
      .addOrderBy(idCol, sort.dir)
      .limit(pageSize + 1)
      .getRawAndEntities<{ cursor_v: string | null }>(),
    countQb.getCount(),
  ]);
  const more = entities.length > pageSize;
  const pageRows = entities.slice(0, pageSize);
  const last = pageRows[pageRows.length - 1] as (E & { id: string }) | undefined;
  const lastRaw = raw[pageRows.length - 1];
  return {
    data: pickFields(pageRows.map(spec.toDto), query.fields, spec.fields),
    total,
    next_cursor: more && last && lastRaw ? encodeCursor({ s: sort.raw, v: lastRaw.cursor_v, id: last.id }) : null,
    page_size: pageSize,
  };
}
