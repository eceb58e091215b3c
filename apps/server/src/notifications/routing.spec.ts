import { NOTIFIER_TYPES, NotifierType } from '@certctl/connectors';
import { eventTypeOf, routeEvent, severityOf } from './routing';

describe('default notification routing', () => {
  const all = NOTIFIER_TYPES;

  it('sends expiry warnings (not critical) to email and the webhook only', () => {
    expect(routeEvent({ type: 'ExpirationWarning', severity: 'warning' }, all)).toEqual(['email', 'webhook']);
    expect(routeEvent({ type: 'ExpirationWarning', severity: 'info' }, all)).toEqual(['email', 'webhook']);
  });

  it('sends critical expiries, failures and revocations to every configured channel', () => {
    const everywhere = ['email', 'webhook', 'slack', 'teams', 'pagerduty', 'opsgenie'];
    expect(routeEvent({ type: 'ExpirationWarning', severity: 'critical' }, all)).toEqual(everywhere);
    // A revocation is critical even though its producer files it as a warning.
    expect(routeEvent({ type: 'Revocation', severity: 'warning' }, all)).toEqual(everywhere);
    expect(routeEvent({ type: 'RenewalFailure', severity: 'info' }, all)).toEqual(everywhere);
    expect(routeEvent({ type: 'deployment_failed', severity: 'warning' }, all)).toEqual(everywhere);
  });

  it('returns only configured channels, in a fixed order', () => {
    const configured = [NotifierType.OpsGenie, NotifierType.Webhook, NotifierType.Slack];
    expect(routeEvent({ type: 'Revocation', severity: 'warning' }, configured)).toEqual([
      'webhook',
      'slack',
      'opsgenie',
    ]);
    expect(routeEvent({ type: 'ExpirationWarning', severity: 'warning' }, [NotifierType.PagerDuty])).toEqual([]);
    expect(routeEvent({ type: 'Revocation', severity: 'critical' }, [])).toEqual([]);
  });

  it('maps row types and severities to what receivers see', () => {
    expect(eventTypeOf('ExpirationWarning')).toBe('expiry_warning');
    expect(eventTypeOf('Revocation')).toBe('certificate_revoked');
    expect(eventTypeOf('RenewalFailure')).toBe('renewal_failed');
    expect(eventTypeOf('renewal_succeeded')).toBe('renewal_succeeded');
    expect(eventTypeOf('SomethingNew')).toBe('expiry_warning');
    expect(severityOf('CRITICAL')).toBe('critical');
    expect(severityOf('info')).toBe('info');
    expect(severityOf('bogus')).toBe('warning');
  });
});
