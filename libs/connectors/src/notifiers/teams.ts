import type { ConnectorCheck } from '../connector';
import { clip, messageFacts, postJson, urlSecrets } from './http-delivery';
import { teamsNotifierConfig, type TeamsNotifierConfig } from './notifier-configs';
import {
  NotifierType,
  testBySending,
  type DeliveryResult,
  type NotificationMessage,
  type NotifierConnector,
} from './notifier-port';

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

export class TeamsNotifier implements NotifierConnector {
  readonly type = NotifierType.Teams;
  private readonly config: TeamsNotifierConfig;

  constructor(config: unknown) {
    this.config = teamsNotifierConfig.schema.parse(config);
  }

  async send(m: NotificationMessage): Promise<DeliveryResult> {
    const res = await postJson({
      channel: this.type,
      url: new URL(this.config.webhook_url),
      body: teamsPayload(m),
      options: this.config,
      secrets: urlSecrets(this.config.webhook_url),
    });
    return { channel: this.type, status: res.status, detail: `accepted with HTTP ${res.status}` };
  }

  test(): Promise<ConnectorCheck> {
    return testBySending(this);
  }
}
