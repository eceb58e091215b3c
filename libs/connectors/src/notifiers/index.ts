// Notification channels: the notifier port, its adapters, their configs and the registry.
export * from './notifier-port';
export * from './notifier-configs';
export * from './registry';
export { EmailNotifier } from './email';
export * from './webhook';
export { SlackNotifier } from './slack';
export { TeamsNotifier } from './teams';
export { PagerDutyNotifier } from './pagerduty';
export { OpsGenieNotifier } from './opsgenie';
