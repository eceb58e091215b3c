import { CertificateStatus } from '@certctl/domain';
import type { StatusCounts } from './dto/stats.dto';

/** Every certificate status with its count (0 when absent), in the vocabulary's order. */
export function statusCounts(rows: Iterable<{ status: string; count: number }>): StatusCounts {
  const out = Object.fromEntries(Object.values(CertificateStatus).map((s) => [s, 0])) as StatusCounts;
  for (const r of rows) {
    // Rows written outside the API may carry an odd case; fold them onto the vocabulary.
    const status = Object.values(CertificateStatus).find((s) => s.toLowerCase() === r.status.toLowerCase());
    if (status) out[status] += r.count;
  }
  return out;
}

/** completed / (completed + failed) in percent, two decimals; 0 when nothing finished. */
export function successRate(completed: number, failed: number): number {
  const total = completed + failed;
  return total === 0 ? 0 : Math.round((completed / total) * 10_000) / 100;
}
