import { invalid } from '@certctl/domain';
import { checkConfig, type ConfigCheck, type ConfigSpec } from '../config/spec';
import { EmailNotifier } from './email';
import { NOTIFIER_CONFIGS } from './notifier-configs';
import { NOTIFIER_TYPES, NotifierType, type NotifierConnector } from './notifier-port';
import { OpsGenieNotifier } from './opsgenie';
import { PagerDutyNotifier } from './pagerduty';
import { SlackNotifier } from './slack';
import { TeamsNotifier } from './teams';
import { WebhookNotifier } from './webhook';

/** Adding a channel is one file and one line here (and its config in notifier-configs.ts). */
const NOTIFIERS: Record<NotifierType, new (config: unknown) => NotifierConnector> = {
  [NotifierType.Email]: EmailNotifier,
  [NotifierType.Webhook]: WebhookNotifier,
  [NotifierType.Slack]: SlackNotifier,
  [NotifierType.Teams]: TeamsNotifier,
  [NotifierType.PagerDuty]: PagerDutyNotifier,
  [NotifierType.OpsGenie]: OpsGenieNotifier,
};

export function isNotifierType(type: string): type is NotifierType {
  return (NOTIFIER_TYPES as readonly string[]).includes(type);
}

/** The config schema and secret fields of a notification channel type. */
export function notifierConfigSpec(type: NotifierType): ConfigSpec {
  return NOTIFIER_CONFIGS[type];
}

/** Validates a channel config; each issue names its field (`config.routing_key: ...`). */
export function validateNotifierConfig(type: NotifierType, config: unknown, where = 'config'): ConfigCheck {
  return checkConfig(notifierConfigSpec(type), config, where);
}

/**
 * The notifier for a channel type and its full (unsealed) configuration. An unknown type or
 * an invalid configuration is a validation error naming what is wrong (never a secret value).
 */
export function notifierFor(type: string, config: unknown): NotifierConnector {
  if (!isNotifierType(type))
    throw invalid(`unknown notification channel type "${type}"; one of: ${NOTIFIER_TYPES.join(', ')}`);
  const checked = validateNotifierConfig(type, config);
  if (!checked.ok)
    throw invalid(`invalid ${type} channel configuration: ${checked.issues.join('; ')}`, { issues: checked.issues });
  return new NOTIFIERS[type](checked.config);
}
