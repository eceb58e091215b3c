import { clip, IncomingWebhookNotifier, messageFacts } from './http-delivery';
import { slackNotifierConfig, type SlackNotifierConfig } from './notifier-configs';
import { NotifierType, type NotificationMessage } from './notifier-port';

const SEVERITY_EMOJI = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

/** Slack mrkdwn treats &, < and > as markup (links, mentions): certificate names must not. */
function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The incoming-webhook body: `text` is the notification fallback (and what screen readers
 * read), `blocks` the Block Kit layout. Limits: header 150 characters, section text 3000,
 * at most 10 context elements. `channel` and `username` are sent only when configured:
 * legacy webhooks honour them, app webhooks ignore them.
 */
export function slackPayload(
  m: NotificationMessage,
  config: Pick<SlackNotifierConfig, 'channel' | 'username'> = {},
): Record<string, unknown> {
  const prefix = m.resolve ? '[resolved] ' : '';
  const facts = messageFacts(m)
    .slice(0, 10)
    .map(([k, v]) => ({ type: 'mrkdwn', text: clip(`*${escapeMrkdwn(k)}:* ${escapeMrkdwn(v)}`, 300) }));
  return {
    ...(config.channel ? { channel: config.channel } : {}),
    ...(config.username ? { username: config.username } : {}),
    text: clip(`${prefix}${m.title}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(`${prefix}${m.title}`, 150), emoji: true } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: clip(`${SEVERITY_EMOJI[m.severity]} ${escapeMrkdwn(m.text)}`, 3000) },
      },
      { type: 'context', elements: facts },
    ],
  };
}

/** Slack incoming webhook: the URL is the credential. */
export class SlackNotifier extends IncomingWebhookNotifier {
  constructor(config: unknown) {
    const checked = slackNotifierConfig.schema.parse(config);
    super(NotifierType.Slack, checked, (m) => slackPayload(m, checked));
  }
}
