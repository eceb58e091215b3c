import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { unwrap, type CertctlClient } from '@certctl/api-client';
import { parsePemCertificates, type PemCertificate } from './pem';

export type ImportOutcome = 'created' | 'skipped' | 'failed';

export interface ImportItem {
  file: string;
  fingerprint_sha256?: string;
  common_name?: string;
  outcome: ImportOutcome;
  managed_certificate_id?: string | null;
  error?: string;
}

export interface ImportSummary {
  created: number;
  skipped: number;
  failed: number;
  items: ImportItem[];
}

/** The server takes at most this many certificates per discovery report. */
const REPORT_CHUNK = 1000;

/** Progress on stderr: a redrawn bar on a terminal, a line per tenth otherwise (logs stay short). */
export function progress(label: string, total: number): (done: number) => void {
  const tty = process.stderr.isTTY;
  const step = Math.max(1, Math.ceil(total / 10));
  return (done) => {
    if (tty) {
      const width = 30;
      const filled = total ? Math.round((done / total) * width) : width;
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
      if (done === total) process.stderr.write('\n');
    } else if (done === total || done % step === 0) {
      process.stderr.write(`${label}: ${done}/${total}\n`);
    }
  };
}

/**
 * Bulk PEM import through the discovery API (the server has no "create from PEM" route): each
 * certificate not yet managed anywhere (looked up by SHA-256 fingerprint) is reported as found by
 * `agentId` at its file's path, then claimed with `create`, which makes the managed certificate.
 * A fingerprint already Managed is skipped without any write, so a rerun changes nothing.
 */
export async function importPemFiles(client: CertctlClient, agentId: string, files: string[]): Promise<ImportSummary> {
  const items: ImportItem[] = [];
  const todo = new Map<string, { file: string; cert: PemCertificate }>();
  for (const file of files) {
    const path = resolve(file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      items.push({ file, outcome: 'failed', error: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const blocks = parsePemCertificates(text);
    if (blocks.length === 0) items.push({ file, outcome: 'failed', error: 'no PEM CERTIFICATE block' });
    for (const b of blocks) {
      if ('error' in b) items.push({ file, outcome: 'failed', error: b.error });
      // The same certificate twice (in one file or several) is one import.
      else if (!todo.has(b.cert.fingerprint_sha256)) todo.set(b.cert.fingerprint_sha256, { file: path, cert: b.cert });
    }
  }

  const checked = progress('checking', todo.size);
  const fresh: { file: string; cert: PemCertificate }[] = [];
  let n = 0;
  for (const [fp, entry] of todo) {
    const item: ImportItem = {
      file: entry.file,
      fingerprint_sha256: fp,
      common_name: entry.cert.common_name,
      outcome: 'skipped',
    };
    try {
      const page = await unwrap(
        client.GET('/api/v1/discovered-certificates', { params: { query: { fingerprint_sha256: fp, per_page: 100 } } }),
      );
      const managed = page.data.find((d) => d.status === 'Managed');
      if (managed) {
        item.managed_certificate_id = managed.managed_certificate_id;
        items.push(item);
      } else fresh.push(entry);
    } catch (e) {
      items.push({ ...item, outcome: 'failed', error: (e as Error).message });
    }
    checked(++n);
  }

  const reported = new Set<string>();
  for (let i = 0; i < fresh.length; i += REPORT_CHUNK) {
    const chunk = fresh.slice(i, i + REPORT_CHUNK);
    const now = new Date().toISOString();
    try {
      await unwrap(
        client.POST('/api/v1/agents/{id}/discoveries', {
          params: { path: { id: agentId } },
          body: {
            scan: { source: 'filesystem', started_at: now, finished_at: now },
            certificates: chunk.map(({ file, cert }) => ({ ...cert, source_path: file, format: 'pem' as const })),
          },
        }),
      );
      chunk.forEach((c) => reported.add(c.cert.fingerprint_sha256));
    } catch (e) {
      for (const { file, cert } of chunk) {
        const error = `report: ${(e as Error).message}`;
        items.push({
          file,
          fingerprint_sha256: cert.fingerprint_sha256,
          common_name: cert.common_name,
          outcome: 'failed',
          error,
        });
      }
    }
  }

  const claimed = progress('importing', reported.size);
  n = 0;
  for (const { file, cert } of fresh.filter((f) => reported.has(f.cert.fingerprint_sha256))) {
    const item: ImportItem = {
      file,
      fingerprint_sha256: cert.fingerprint_sha256,
      common_name: cert.common_name,
      outcome: 'created',
    };
    try {
      const page = await unwrap(
        client.GET('/api/v1/discovered-certificates', {
          params: { query: { fingerprint_sha256: cert.fingerprint_sha256, agent_id: agentId, per_page: 100 } },
        }),
      );
      const row = page.data.find((d) => d.source_path === file) ?? page.data[0];
      if (!row) throw new Error('reported but not listed by the server');
      const done = await unwrap(
        client.POST('/api/v1/discovered-certificates/{id}/claim', {
          params: { path: { id: row.id } },
          body: { create: { name: cert.common_name || cert.subject_dn || cert.fingerprint_sha256 } },
        }),
      );
      item.managed_certificate_id = done.managed_certificate_id;
    } catch (e) {
      item.outcome = 'failed';
      item.error = (e as Error).message;
    }
    items.push(item);
    claimed(++n);
  }

  const count = (o: ImportOutcome): number => items.filter((i) => i.outcome === o).length;
  return { created: count('created'), skipped: count('skipped'), failed: count('failed'), items };
}
