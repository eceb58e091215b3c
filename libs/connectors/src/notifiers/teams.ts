import { clip, IncomingWebhookNotifier, messageFacts } from './http-delivery';
import { teamsNotifierConfig } from './notifier-configs';
import { NotifierType, type NotificationMessage } from './notifier-port';

const SEVERITY_COLOR = { info: 'Accent', warning: 'Warning', critical: 'Attention' } as const;

/**
 * The Workflows webhook body: a message with one Adaptive Card attachment (Teams renders
 * schema 1.4 and below everywhere): a title, the text, and the facts as a FactSet.
 */
export function teamsPayload(m: NotificationMessage): Record<string, unknown> {
  const title = `${m.resolve ? '[resolved] ' : ''}${m.title}`;
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            {
              type: 'TextBlock',
              text: clip(title, 500),
              weight: 'Bolder',
              size: 'Medium',
              color: m.resolve ? 'Good' : SEVERITY_COLOR[m.severity],
              wrap: true,
            },
            { type: 'TextBlock', text: clip(m.text, 10_000), wrap: true },
            { type: 'FactSet', facts: messageFacts(m).map(([title, value]) => ({ title, value })) },
          ],
        },
      },
    ],
  };
}

/** Teams workflow webhook: the URL is the credential. */
export class TeamsNotifier extends IncomingWebhookNotifier {
  constructor(config: unknown) {
    super(NotifierType.Teams, teamsNotifierConfig.schema.parse(config), teamsPayload);
  }
}
