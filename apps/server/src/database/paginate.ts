import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { invalid, LIST_DEFAULT_PER_PAGE, type ListResult } from '@certctl/domain';
import type { ListQueryDto } from '../http/list-query.dto';

export interface ListSpec<E, Dto extends { id: string }> {
  /** API sort name -> column of the query builder's main alias. */
  sortable: Record<string, string>;
  /** Default order, e.g. `-created_at`. */
  defaultSort: string;
  /** The fields a `fields=` selection may name. */
  fields: readonly (keyof Dto & string)[];
  toDto: (row: E) => Dto;
}

interface CursorKey {
  t: string; // created_at, microsecond precision, as Postgres printed it
  id: string;
}

function encodeCursor(k: CursorKey): string {
  return Buffer.from(JSON.stringify([k.t, k.id])).toString('base64url');
}

function decodeCursor(raw: string): CursorKey {
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') {
      if (!Number.isNaN(Date.parse(v[0]))) return { t: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw invalid('query.cursor: not a cursor this server issued');
}

function parseSort(
  sort: string,
  sortable: Record<string, string>,
): { column: string; dir: 'ASC' | 'DESC'; name: string } {
  const desc = sort.startsWith('-');
  const name = desc ? sort.slice(1) : sort;
  const column = sortable[name];
  if (!column) {
    throw invalid(`query.sort: cannot sort by ${JSON.stringify(name)}; allowed: ${Object.keys(sortable).join(', ')}`);
  }
  return { column, dir: desc ? 'DESC' : 'ASC', name };
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

/**
 * Runs a list query under the API's list conventions. The builder carries the filters;
 * this adds ordering, the page or keyset window, the total and sparse fields.
 * Keyset (cursor) mode orders by (created_at, id), the index every listed table has.
 */
export async function paginate<E extends ObjectLiteral, Dto extends { id: string }>(
  qb: SelectQueryBuilder<E>,
  query: ListQueryDto,
  spec: ListSpec<E, Dto>,
): Promise<ListResult<Partial<Dto>>> {
  const alias = qb.alias;
  const cursorMode = query.cursor !== undefined || query.page_size !== undefined;
  if (cursorMode && (query.page !== undefined || query.per_page !== undefined)) {
    throw invalid('query: use either page/per_page or cursor/page_size, not both');
  }
  const sort = parseSort(query.sort ?? spec.defaultSort, spec.sortable);
  const total = await qb.clone().getCount();

  if (!cursorMode) {
    const page = query.page ?? 1;
    const perPage = query.per_page ?? LIST_DEFAULT_PER_PAGE;
    const rows = await qb
      .orderBy(sort.column, sort.dir)
      .addOrderBy(`${alias}.id`, sort.dir)
      .skip((page - 1) * perPage)
      .take(perPage)
      .getMany();
    return { data: pickFields(rows.map(spec.toDto), query.fields, spec.fields), total, page, per_page: perPage };
  }

  if (sort.name !== 'created_at') {
    throw invalid('query.sort: cursor pagination orders by created_at (use sort=created_at or sort=-created_at)');
  }
  const pageSize = query.page_size ?? LIST_DEFAULT_PER_PAGE;
  const createdAt = `${alias}.created_at`;
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor);
    const op = sort.dir === 'ASC' ? '>' : '<';
    qb.andWhere(`(${createdAt}, ${alias}.id) ${op} (CAST(:cursorT AS timestamptz), :cursorId)`, {
      cursorT: c.t,
      cursorId: c.id,
    });
  }
  const { entities, raw } = await qb
    .addSelect(`to_char(${createdAt} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, 'cursor_t')
    .orderBy(createdAt, sort.dir)
    .addOrderBy(`${alias}.id`, sort.dir)
    .limit(pageSize + 1)
    .getRawAndEntities<{ cursor_t: string }>();
  const more = entities.length > pageSize;
  const pageRows = entities.slice(0, pageSize);
  const last = pageRows[pageRows.length - 1] as (E & { id: string }) | undefined;
  const lastRaw = raw[pageRows.length - 1];
  return {
    data: pickFields(pageRows.map(spec.toDto), query.fields, spec.fields),
    total,
    next_cursor: more && last && lastRaw ? encodeCursor({ t: lastRaw.cursor_t, id: last.id }) : null,
    page_size: pageSize,
  };
}
