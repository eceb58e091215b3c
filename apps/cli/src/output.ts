import { isApiError } from '@certctl/api-client';

/** How results are printed: `table` for people, `json` for scripts (always the API's own JSON). */
export type Format = 'table' | 'json';

/** The options every subcommand inherits from the program. */
export interface GlobalOptions {
  server?: string;
  apiKey?: string;
  caBundle?: string;
  format: Format;
}

/** What a command hands back to be printed: rows with table columns, or one record. */
export type Result =
  { rows: Record<string, unknown>[]; columns: string[]; json?: unknown } | { record: object; json?: unknown };

export const FORMATS: readonly Format[] = ['table', 'json'];

/** One cell: nested values as compact JSON, absent values as `-`, so columns never break. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map((x) => cell(x)).join(',') : '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Rows as an aligned text table with a header line; an empty list says so instead of printing only a header. */
export function renderTable(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((r) => columns.map((c) => cell(r[c]).replace(/\s+/g, ' ')));
  const header = columns.map((c) => c.toUpperCase());
  const widths = columns.map((_, i) => Math.max(header[i].length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

/** One object as `key  value` lines, in the object's own key order. */
export function renderRecord(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  if (keys.length === 0) return '(empty)\n';
  const width = Math.max(...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(width)}  ${cell(obj[k])}`).join('\n') + '\n';
}

export function renderJson(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

export function print(g: GlobalOptions, r: Result): void {
  if (g.format === 'json') process.stdout.write(renderJson(r.json ?? ('record' in r ? r.record : r.rows)));
  else if ('record' in r) process.stdout.write(renderRecord(r.record as Record<string, unknown>));
  else process.stdout.write(renderTable(r.rows, r.columns));
}

/** The server's message (with status and request id) or the transport's, for stderr. */
export function describeError(e: unknown): string {
  if (isApiError(e)) {
    const id = e.request_id ? ` (request ${e.request_id})` : '';
    return `error: ${e.status} ${e.error}: ${e.message}${id}`;
  }
  const err = e as Error & { cause?: { message?: string } };
  return `error: ${err.message}${err.cause?.message ? ` (${err.cause.message})` : ''}`;
}
