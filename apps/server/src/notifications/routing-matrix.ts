import { registerDecorator, type ValidationArguments } from 'class-validator';
import {
  NOTIFIER_TYPES,
  NotificationEventType,
  NotificationSeverity,
  type NotificationEventType as EventType,
  type NotificationSeverity as Severity,
  type NotifierType,
} from '@certctl/connectors';
import { eventTypeOf, isCritical, routeEvent, severityOf } from './routing';

/**
 * A renewal policy's routing matrix: event type -> severity -> channels, e.g.
 * `{"expiry_warning": {"warning": ["email"], "critical": ["pagerduty", "slack"]}}`.
 * A pair the matrix does not list keeps the default routing (routing.ts), so a policy only
 * states what it changes.
 */
export type RoutingMatrix = Partial<Record<EventType, Partial<Record<Severity, NotifierType[]>>>>;

/** Event types a matrix may name: everything producers emit (not the digest or a channel test). */
export const ROUTABLE_EVENTS: readonly EventType[] = Object.values(NotificationEventType).filter(
  (e) => e !== NotificationEventType.Digest && e !== NotificationEventType.Test,
);
const SEVERITIES: readonly Severity[] = Object.values(NotificationSeverity);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every problem of a candidate matrix, each naming its path; [] when it is valid. */
export function routingMatrixProblems(value: unknown, field = 'notification_routing'): string[] {
  if (!isObject(value)) return [`${field} must be an object of event type -> severity -> channels`];
  const problems: string[] = [];
  for (const [event, bySeverity] of Object.entries(value)) {
    const at = `${field}.${event}`;
    if (!ROUTABLE_EVENTS.includes(event as EventType)) {
      problems.push(`${at}: unknown event type; use one of ${ROUTABLE_EVENTS.join(', ')}`);
      continue;
    }
    if (!isObject(bySeverity)) {
      problems.push(`${at} must be an object of severity -> channels`);
      continue;
    }
    for (const [severity, channels] of Object.entries(bySeverity)) {
      const path = `${at}.${severity}`;
      if (!SEVERITIES.includes(severity as Severity)) {
        problems.push(`${path}: unknown severity; use one of ${SEVERITIES.join(', ')}`);
        continue;
      }
      if (!Array.isArray(channels) || channels.length === 0 || channels.length > NOTIFIER_TYPES.length) {
        problems.push(`${path} must be a list of 1 to ${NOTIFIER_TYPES.length} channels`);
        continue;
      }
      for (const c of channels)
        if (typeof c !== 'string' || !NOTIFIER_TYPES.includes(c as NotifierType))
          problems.push(`${path}: unknown channel ${JSON.stringify(c)}; use one of ${NOTIFIER_TYPES.join(', ')}`);
      if (new Set(channels).size !== channels.length) problems.push(`${path} must not repeat a channel`);
    }
  }
  return problems;
}

/** class-validator: a routing matrix, or null (the default routing). The message lists every problem. */
export function IsRoutingMatrix(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isRoutingMatrix',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (v: unknown) => v === null || routingMatrixProblems(v).length === 0,
        defaultMessage: (a: ValidationArguments) => routingMatrixProblems(a.value, a.property).join('; '),
      },
    });
}

/** The severity a matrix is looked up with: failures and revocations count as critical, as in the default routing. */
export function effectiveSeverity(event: { type: string; severity: string }): Severity {
  return isCritical(event) ? NotificationSeverity.Critical : severityOf(event.severity);
}

/**
 * The channels of one event, among the configured ones, in the default routing's order: the
 * policy's matrix entry for the event type and severity when there is one, else the default.
 */
/** The channels a matrix lists for an event (configured or not), or undefined when it does not decide. */
export function matrixChannels(
  event: { type: string; severity: string },
  matrix: RoutingMatrix | null | undefined,
): readonly NotifierType[] | undefined {
  return matrix?.[eventTypeOf(event.type)]?.[effectiveSeverity(event)];
}

export function resolveRoute(
  event: { type: string; severity: string },
  matrix: RoutingMatrix | null | undefined,
  configured: readonly NotifierType[],
): NotifierType[] {
  const listed = matrixChannels(event, matrix);
  if (!listed) return routeEvent(event, configured);
  return NOTIFIER_TYPES.filter((c) => listed.includes(c) && configured.includes(c));
}
