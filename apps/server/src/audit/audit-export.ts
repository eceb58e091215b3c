import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { AuditEventDto } from './dto/audit-event.dto';
import type { AuditEventEntity } from './audit-event.entity';

export const AUDIT_CSV_COLUMNS = [
  'id',
  'timestamp',
  'category',
  'actor',
  'actor_type',
  'action',
  'resource_type',
  'resource_id',
  'details',
] as const;

/**
 * One CSV cell (RFC 4180 quoting). Cells that a spreadsheet would run as a formula
 * (leading = + - @, tab, CR) get a leading apostrophe: audit data is attacker-influenced.
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvRow(e: AuditEventDto): string {
  return (
    AUDIT_CSV_COLUMNS.map((c) => csvCell(c === 'details' ? JSON.stringify(e.details) : String(e[c]))).join(',') + '\r\n'
  );
}

/** Writes with backpressure: a slow client slows the database scan instead of buffering. */
async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

export async function streamAuditExport(
  batches: AsyncIterable<AuditEventEntity[]>,
  format: 'csv' | 'json',
  out: Writable,
): Promise<number> {
  let n = 0;
  if (format === 'csv') {
    await write(out, AUDIT_CSV_COLUMNS.join(',') + '\r\n');
    for await (const batch of batches) {
      await write(out, batch.map((e) => csvRow(AuditEventDto.from(e))).join(''));
      n += batch.length;
    }
  } else {
    await write(out, '[');
    for await (const batch of batches) {
      const json = batch.map((e) => JSON.stringify(AuditEventDto.from(e))).join(',\n');
      await write(out, (n === 0 ? '\n' : ',\n') + json);
      n += batch.length;
    }
    await write(out, n === 0 ? ']\n' : '\n]\n');
  }
  return n;
}
