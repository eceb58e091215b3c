import { readFile } from 'node:fs/promises';
import { DomainError } from '@certctl/domain';
import type { ConnectorCheck } from '../../connector';
import type { AcmeIssuerConfig } from '../issuer-configs';
import { AcmeClient } from './acme-client';
import { zeroSslEabUrl } from './acme-connector';
import { AcmeTransport } from './acme-transport';

/**
 * The issuer's "test" action: the directory answers over TLS, is an RFC 8555 directory,
 * and the configuration has what it asks for (EAB credentials when it requires them).
 * Registers nothing at the CA.
 */
export async function checkAcme(cfg: AcmeIssuerConfig): Promise<ConnectorCheck> {
  try {
    const ca = cfg.trust_ca_path ? await readFile(cfg.trust_ca_path, 'utf8') : undefined;
    const dir = await new AcmeClient(cfg.directory_url, new AcmeTransport(ca)).directory();
    const eab = cfg.eab_kid !== undefined && cfg.eab_hmac_key !== undefined;
    const zeroSsl = zeroSslEabUrl(cfg) !== undefined;
    if (dir.meta?.externalAccountRequired && !eab && !zeroSsl) {
      return {
        ok: false,
        message: `${cfg.directory_url} requires External Account Binding: set eab_kid and eab_hmac_key`,
      };
    }
    const notes = [
      dir.meta?.termsOfService ? `terms of service ${dir.meta.termsOfService} (agreed on registration)` : undefined,
      dir.meta?.externalAccountRequired
        ? eab
          ? 'external account binding configured'
          : 'external account binding fetched from ZeroSSL for the email on registration'
        : undefined,
      dir.renewalInfo ? 'ARI (renewalInfo) supported' : 'no ARI: renewal follows the threshold rules',
      cfg.profile && dir.meta?.profiles && !(cfg.profile in dir.meta.profiles)
        ? `warning: profile ${cfg.profile} is not one the CA lists (${Object.keys(dir.meta.profiles).join(', ')})`
        : undefined,
    ].filter((n): n is string => n !== undefined);
    return { ok: true, message: `ACME directory ${cfg.directory_url} reachable; ${notes.join('; ')}` };
  } catch (e) {
    if (e instanceof DomainError || e instanceof Error) return { ok: false, message: e.message };
    return { ok: false, message: String(e) };
  }
}
