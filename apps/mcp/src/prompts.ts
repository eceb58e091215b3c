import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

/**
 * Ready-made asks for common tasks. Each one only tells the model which tools to use and how
 * carefully; the tools do the work under the API key's own permissions.
 */
export function registerPrompts(server: McpServer): void {
  server.registerPrompt(
    'expiring_certificates',
    {
      title: 'Certificates expiring soon',
      description: 'List the certificates that expire within the next days (default 7: "this week") and what to do.',
      argsSchema: {
        days: z
          .string()
          .regex(/^\d{1,3}$/, 'a whole number of days')
          .optional()
          .describe('How many days ahead to look (default 7).'),
      },
    },
    ({ days }) => {
      const n = days ? Number(days) : 7;
      return {
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text:
                `Which certificates expire in the next ${n} days? Call certctl_list_certificates with ` +
                `expires_before set to now + ${n} days (RFC 3339) and status "Active,Expiring,Failed", ` +
                'sorted by expiresAt. Show a table: id, common name, environment, expiry date, status, owner/team. ' +
                'Point out any that have no renewal in progress (status not RenewalInProgress) and offer ' +
                'certctl_trigger_renewal for them; do not renew anything without my confirmation.',
            },
          },
        ],
      };
    },
  );

  server.registerPrompt(
    'revoke_compromised_certificate',
    {
      title: 'Revoke a compromised certificate',
      description: 'Walk through revoking a certificate whose private key is compromised, then replacing it.',
      argsSchema: {
        certificate: z.string().min(1).describe('The certificate id (mc-...) or its common name.'),
      },
    },
    ({ certificate }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text:
              `The private key of the certificate ${JSON.stringify(certificate)} is compromised. ` +
              '1) Find it: certctl_get_certificate if this is an id, else certctl_list_certificates with q set to it; ' +
              'if several match, ask me which. 2) Show me its id, common name, SANs, serial, expiry and deployments ' +
              '(certctl_list_certificate_deployments) and ask me to confirm. 3) Only after I confirm, call ' +
              'certctl_revoke_certificate with reason keyCompromise. 4) Offer certctl_trigger_renewal to issue a ' +
              'replacement with a new key, and tell me which targets will need the new certificate.',
          },
        },
      ],
    }),
  );

  server.registerPrompt(
    'fleet_health_overview',
    {
      title: 'Certificate fleet health',
      description: 'A short health report: totals by status, recent job failures, pending approvals.',
    },
    () => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text:
              'Give me a short health report of our certificates: certctl_dashboard_summary for totals, ' +
              'certctl_certificates_by_status, certctl_list_jobs with status Failed for recent failures, and ' +
              'certctl_list_approvals with state Pending for pending approvals. Summarize what needs attention first. Read only: ' +
              'do not change anything.',
          },
        },
      ],
    }),
  );
}
