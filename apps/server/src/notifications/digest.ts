/**
 * The digest: what needs a person's attention, as one HTML page (preview and email) and a
 * plain-text twin (the email's text part). Pure functions over rows already read, so the
 * rendering and its escaping are tested without a database.
 */

export interface DigestCertificate {
  id: string;
  name: string;
  common_name: string;
  expires_at: Date;
  status: string;
  owner_email: string | null;
}

export interface DigestJob {
  id: string;
  type: string;
  certificate_id: string | null;
  common_name: string | null;
  last_error: string | null;
  updated_at: Date;
}

export interface DigestNotification {
  id: string;
  type: string;
  channel: string;
  last_error: string | null;
  updated_at: Date;
}

export interface DigestApproval {
  id: string;
  kind: string;
  certificate_id: string | null;
  common_name: string | null;
  requested_by: string;
  created_at: Date;
}

export interface DigestData {
  generatedAt: Date;
  /** Certificates expiring within this many days (and those already expired) are listed. */
  days: number;
  certificates: DigestCertificate[];
  failedJobs: DigestJob[];
  deadNotifications: DigestNotification[];
  pendingApprovals: DigestApproval[];
}

export type Urgency = 'expired' | 'critical' | 'warning' | 'upcoming';

const DAY_MS = 86_400_000;

/** Expired; within 7 days (the paging threshold of the default routing); within 30 days; later. */
export function urgencyOf(expiresAt: Date, now: Date): Urgency {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return 'expired';
  if (left <= 7 * DAY_MS) return 'critical';
  if (left <= 30 * DAY_MS) return 'warning';
  return 'upcoming';
}

const URGENCY_TITLES: Record<Urgency, string> = {
  expired: 'Expired',
  critical: 'Expiring within 7 days',
  warning: 'Expiring within 30 days',
  upcoming: 'Expiring later',
};

export function groupByUrgency(certs: readonly DigestCertificate[], now: Date): Map<Urgency, DigestCertificate[]> {
  const groups = new Map<Urgency, DigestCertificate[]>();
  for (const u of Object.keys(URGENCY_TITLES) as Urgency[]) groups.set(u, []);
  for (const c of certs) groups.get(urgencyOf(c.expires_at, now))!.push(c);
  return groups;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Every value that came from a certificate, job or user goes through this before it reaches HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

function daysLeft(expiresAt: Date, now: Date): string {
  const d = Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS);
  return d < 0 ? `expired ${-d} day(s) ago` : `${d} day(s) left`;
}

const iso = (d: Date): string => d.toISOString();

export function digestTitle(d: DigestData): string {
  const urgent = d.certificates.filter((c) => c.expires_at.getTime() - d.generatedAt.getTime() <= 7 * DAY_MS).length;
  return `Certificate digest: ${d.certificates.length} expiring within ${d.days} days (${urgent} urgent), ${d.failedJobs.length} failed jobs, ${d.deadNotifications.length} dead notifications, ${d.pendingApprovals.length} pending approvals`;
}

function table(headers: string[], rows: string[][]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function section(id: string, title: string, count: number, content: string): string {
  const inner = count === 0 ? '<p class="none">None.</p>' : content;
  return `<section id="${id}">\n<h2>${escapeHtml(title)} (${count})</h2>\n${inner}\n</section>`;
}

export function renderDigestHtml(d: DigestData): string {
  const now = d.generatedAt;
  const groups = groupByUrgency(d.certificates, now);
  const certSections = [...groups].map(([u, certs]) =>
    section(
      `certificates-${u}`,
      URGENCY_TITLES[u],
      certs.length,
      table(
        ['Certificate', 'Common name', 'Expires', 'Left', 'Status', 'Owner'],
        certs.map((c) => [
          c.name,
          c.common_name,
          iso(c.expires_at),
          daysLeft(c.expires_at, now),
          c.status,
          c.owner_email ?? '',
        ]),
      ),
    ),
  );
  return [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><title>certctl digest</title></head><body>',
    `<h1>${escapeHtml(digestTitle(d))}</h1>`,
    `<p>Generated ${iso(now)}.</p>`,
    ...certSections,
    section(
      'failed-jobs',
      'Failed jobs',
      d.failedJobs.length,
      table(
        ['Job', 'Type', 'Certificate', 'Error', 'Failed at'],
        d.failedJobs.map((j) => [
          j.id,
          j.type,
          j.common_name ?? j.certificate_id ?? '',
          j.last_error ?? '',
          iso(j.updated_at),
        ]),
      ),
    ),
    section(
      'dead-notifications',
      'Dead notifications',
      d.deadNotifications.length,
      table(
        ['Notification', 'Event', 'Channel', 'Last error', 'Since'],
        d.deadNotifications.map((n) => [n.id, n.type, n.channel, n.last_error ?? '', iso(n.updated_at)]),
      ),
    ),
    section(
      'pending-approvals',
      'Pending approvals',
      d.pendingApprovals.length,
      table(
        ['Request', 'Kind', 'Certificate', 'Requested by', 'Requested at'],
        d.pendingApprovals.map((a) => [
          a.id,
          a.kind,
          a.common_name ?? a.certificate_id ?? '',
          a.requested_by,
          iso(a.created_at),
        ]),
      ),
    ),
    '</body></html>',
    '',
  ].join('\n');
}

export function renderDigestText(d: DigestData): string {
  const now = d.generatedAt;
  const lines = [digestTitle(d), `Generated ${iso(now)}.`, ''];
  const block = (title: string, items: string[]): void => {
    lines.push(`${title} (${items.length})`, ...(items.length ? items.map((i) => `  - ${i}`) : ['  none']), '');
  };
  for (const [u, certs] of groupByUrgency(d.certificates, now))
    block(
      URGENCY_TITLES[u],
      certs.map((c) => `${c.common_name} (${c.name}): ${iso(c.expires_at)}, ${daysLeft(c.expires_at, now)}`),
    );
  block(
    'Failed jobs',
    d.failedJobs.map((j) => `${j.type} ${j.id} ${j.common_name ?? j.certificate_id ?? ''}: ${j.last_error ?? ''}`),
  );
  block(
    'Dead notifications',
    d.deadNotifications.map((n) => `${n.channel} ${n.type} ${n.id}: ${n.last_error ?? ''}`),
  );
  block(
    'Pending approvals',
    d.pendingApprovals.map((a) => `${a.kind} ${a.id} ${a.common_name ?? a.certificate_id ?? ''} by ${a.requested_by}`),
  );
  return lines.join('\n');
}
