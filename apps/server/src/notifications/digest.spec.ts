import { escapeHtml, renderDigestHtml, renderDigestText, urgencyOf, type DigestData } from './digest';
import { digestTickDecision } from './digest.service';

const DAY = 86_400_000;
const NOW = new Date('2026-12-01T12:00:00Z');
const at = (days: number) => new Date(NOW.getTime() + days * DAY);

function data(overrides: Partial<DigestData> = {}): DigestData {
  return {
    generatedAt: NOW,
    days: 45,
    certificates: [
      {
        id: 'mc-1',
        name: 'old',
        common_name: 'old.example.com',
        expires_at: at(-2),
        status: 'Expired',
        owner_email: null,
      },
      {
        id: 'mc-2',
        name: 'api',
        common_name: 'api.example.com',
        expires_at: at(3),
        status: 'Active',
        owner_email: 'a@example.com',
      },
      {
        id: 'mc-3',
        name: 'web',
        common_name: 'web.example.com',
        expires_at: at(20),
        status: 'Active',
        owner_email: null,
      },
      {
        id: 'mc-4',
        name: 'far',
        common_name: 'far.example.com',
        expires_at: at(40),
        status: 'Active',
        owner_email: null,
      },
    ],
    failedJobs: [
      {
        id: 'job-1',
        type: 'Renewal',
        certificate_id: 'mc-2',
        common_name: 'api.example.com',
        last_error: 'CA said <no>',
        updated_at: NOW,
      },
    ],
    deadNotifications: [],
    pendingApprovals: [
      {
        id: 'apr-1',
        kind: 'cert_issuance',
        certificate_id: 'mc-3',
        common_name: 'web.example.com',
        requested_by: 'ak-x',
        created_at: NOW,
      },
    ],
    ...overrides,
  };
}

/** The rows of one section of the HTML, by its id. */
function sectionOf(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html);
  if (!m) throw new Error(`no section ${id}`);
  return m[1];
}

describe('digest rendering', () => {
  it('classifies expiry by urgency at the 0, 7 and 30 day boundaries', () => {
    expect(urgencyOf(at(0), NOW)).toBe('expired');
    expect(urgencyOf(at(-1), NOW)).toBe('expired');
    expect(urgencyOf(new Date(NOW.getTime() + 1), NOW)).toBe('critical');
    expect(urgencyOf(at(7), NOW)).toBe('critical');
    expect(urgencyOf(new Date(at(7).getTime() + 1), NOW)).toBe('warning');
    expect(urgencyOf(at(30), NOW)).toBe('warning');
    expect(urgencyOf(at(31), NOW)).toBe('upcoming');
  });

  it('puts each certificate in its urgency section and counts every section', () => {
    const html = renderDigestHtml(data());
    expect(sectionOf(html, 'certificates-expired')).toContain('old.example.com');
    expect(sectionOf(html, 'certificates-critical')).toContain('api.example.com');
    expect(sectionOf(html, 'certificates-critical')).not.toContain('web.example.com');
    expect(sectionOf(html, 'certificates-warning')).toContain('web.example.com');
    expect(sectionOf(html, 'certificates-upcoming')).toContain('far.example.com');
    expect(sectionOf(html, 'failed-jobs')).toMatch(/<h2>Failed jobs \(1\)<\/h2>[\s\S]*job-1/);
    expect(sectionOf(html, 'dead-notifications')).toMatch(/\(0\)<\/h2>\s*<p class="none">None.<\/p>/);
    expect(sectionOf(html, 'pending-approvals')).toContain('apr-1');
    expect(html).toContain(
      '<h1>Certificate digest: 4 expiring within 45 days (2 urgent), 1 failed jobs, 0 dead notifications, 1 pending approvals</h1>',
    );
  });

  it('escapes every certificate, job and approval value', () => {
    const evil = '<script>alert("x")</script>&\'';
    const d = data();
    d.certificates[1] = { ...d.certificates[1], name: evil, common_name: evil, owner_email: evil };
    d.failedJobs[0] = { ...d.failedJobs[0], last_error: evil };
    d.pendingApprovals[0] = { ...d.pendingApprovals[0], requested_by: evil };
    d.deadNotifications = [{ id: 'n-1', type: evil, channel: 'webhook', last_error: evil, updated_at: NOW }];
    const html = renderDigestHtml(d);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('"x"');
    expect(html.split('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;').length - 1).toBe(7);
    expect(escapeHtml(`a<b>"c"&'d'`)).toBe('a&lt;b&gt;&quot;c&quot;&amp;&#39;d&#39;');
  });

  it('renders the same facts as plain text', () => {
    const text = renderDigestText(data());
    expect(text).toContain('Expired (1)\n  - old.example.com (old): 2026-11-29T12:00:00.000Z, expired 2 day(s) ago');
    expect(text).toContain(
      'Expiring within 7 days (1)\n  - api.example.com (api): 2026-12-04T12:00:00.000Z, 3 day(s) left',
    );
    expect(text).toContain('Dead notifications (0)\n  none');
    expect(text).toContain('Failed jobs (1)\n  - Renewal job-1 api.example.com: CA said <no>');
  });
});

describe('digest loop ticks', () => {
  const EVERY = 3_600_000;
  const START = 1_000_000_000;

  it('skips the ticks of the first half interval after this process started', () => {
    expect(digestTickDecision(START, START, null, EVERY)).toBe('skipped-startup');
    expect(digestTickDecision(START + EVERY / 2 - 1, START, null, EVERY)).toBe('skipped-startup');
    expect(digestTickDecision(START + EVERY, START, null, EVERY)).toBe('send');
  });

  it('skips a tick within half an interval of the last digest any replica sent', () => {
    expect(digestTickDecision(START + 5 * EVERY, START, START + 5 * EVERY - 1_000, EVERY)).toBe('skipped-recent');
    expect(digestTickDecision(START + 5 * EVERY, START, START + 4 * EVERY, EVERY)).toBe('send');
  });
});
