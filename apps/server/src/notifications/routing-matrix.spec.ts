import { NOTIFIER_TYPES } from '@certctl/connectors';
import { resolveRoute, routingMatrixProblems, type RoutingMatrix } from './routing-matrix';

describe('per-policy routing matrix', () => {
  const all = NOTIFIER_TYPES;
  const matrix: RoutingMatrix = {
    expiry_warning: { warning: ['email'], critical: ['slack', 'pagerduty'] },
    certificate_revoked: { critical: ['webhook'] },
  };

  it('routes a listed event type and severity to exactly its channels, in the fixed order', () => {
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'critical' }, matrix, all)).toEqual([
      'slack',
      'pagerduty',
    ]);
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'warning' }, matrix, all)).toEqual(['email']);
    // Revocations count as critical whatever severity their producer wrote, as in the default routing.
    expect(resolveRoute({ type: 'Revocation', severity: 'warning' }, matrix, all)).toEqual(['webhook']);
  });

  it('keeps the default routing for pairs the matrix does not list, and without a matrix', () => {
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'info' }, matrix, all)).toEqual(['email', 'webhook']);
    expect(resolveRoute({ type: 'RenewalFailure', severity: 'warning' }, matrix, all)).toEqual([...all]);
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'warning' }, null, all)).toEqual(['email', 'webhook']);
  });

  it('drops channels that are not configured', () => {
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'critical' }, matrix, ['email', 'slack'])).toEqual([
      'slack',
    ]);
    expect(resolveRoute({ type: 'ExpirationWarning', severity: 'critical' }, matrix, ['email'])).toEqual([]);
  });

  it('accepts a valid matrix and names every wrong event type, severity and channel', () => {
    expect(routingMatrixProblems(matrix)).toEqual([]);
    expect(routingMatrixProblems({})).toEqual([]);
    expect(
      routingMatrixProblems({
        expiry_warnings: { warning: ['email'] },
        expiry_warning: { urgent: ['email'], critical: ['pager', 'slack', 'slack'], warning: [] },
        renewal_failed: ['email'],
        digest: { info: ['email'] },
      }),
    ).toEqual([
      expect.stringMatching(/^notification_routing\.expiry_warnings: unknown event type; use one of expiry_warning, /),
      expect.stringMatching(
        /^notification_routing\.expiry_warning\.urgent: unknown severity; use one of info, warning, critical$/,
      ),
      'notification_routing.expiry_warning.critical: unknown channel "pager"; use one of email, webhook, slack, teams, pagerduty, opsgenie',
      'notification_routing.expiry_warning.critical must not repeat a channel',
      'notification_routing.expiry_warning.warning must be a list of 1 to 6 channels',
      'notification_routing.renewal_failed must be an object of severity -> channels',
      expect.stringMatching(/^notification_routing\.digest: unknown event type/),
    ]);
    expect(routingMatrixProblems(['email'])).toEqual([
      'notification_routing must be an object of event type -> severity -> channels',
    ]);
  });
});
