import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError, ErrorCode, IssuerType, invalid } from '@certctl/domain';
import { derToPem } from '@certctl/pki';
import type { ConnectorCheck } from '../../connector';
import { openSslConfig, type OpenSslConfig } from '../issuer-configs';
import type {
  IssuanceRequest,
  IssuanceResult,
  IssuerConnector,
  IssuerConnectorContext,
  OrderStatus,
  RevocationRequest,
} from '../issuer-port';
import {
  evenHex,
  issuanceResult,
  lifetimeSeconds,
  pemCertificates,
  requireCsr,
  sanLists,
} from '../remote-ca/issued-certificate';
import { readCaBundle } from '../remote-ca/trust';
import { runScript } from './script-runner';

const WHAT = 'OpenSSL script CA';
const DEFAULT_TIMEOUT_SECONDS = 60;

/** `openssl ca -crl_reason` spells a few RFC 5280 reasons its own way. */
const OPENSSL_REASONS: Record<string, string> = {
  unspecified: 'unspecified',
  keycompromise: 'keyCompromise',
  cacompromise: 'CACompromise',
  affiliationchanged: 'affiliationChanged',
  superseded: 'superseded',
  cessationofoperation: 'cessationOfOperation',
  certificatehold: 'certificateHold',
  privilegewithdrawn: 'unspecified',
  aacompromise: 'unspecified',
};

/** `openssl ca -enddate` format: YYYYMMDDHHMMSSZ (UTC). */
function opensslTime(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * An operator's own CA driven by scripts (typically wrapping `openssl ca`). Each script is
 * executed directly with an argument vector and a minimal environment, in a private temp
 * directory, under a deadline; see docs/connectors/issuers/openssl.md for the contract:
 *
 * - sign_script `<csr-path> <cert-path>`: CERTCTL_* variables carry the names and lifetime;
 *   the certificate (optionally followed by its chain) is read from `<cert-path>`, or from
 *   stdout when the script leaves that file empty.
 * - revoke_script `<serial-hex> <reason>`.
 * - crl_script `<crl-path>`: writes the CA's current CRL (PEM or DER), or prints it.
 */
export class OpenSslConnector implements IssuerConnector {
  readonly type = IssuerType.OpenSSL;
  private readonly cfg: OpenSslConfig;
  private readonly timeoutMs: number;

  constructor(ctx: Pick<IssuerConnectorContext, 'config'>) {
    this.cfg = openSslConfig.schema.parse(ctx.config);
    this.timeoutMs = (this.cfg.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  }

  async issue(req: IssuanceRequest): Promise<IssuanceResult> {
    const csr = requireCsr(req, WHAT);
    const s = sanLists(req);
    const days = this.cfg.default_validity_days;
    const ttl = lifetimeSeconds(req, days === undefined ? undefined : days * 86_400);
    const now = req.now ?? new Date();
    const san = [
      ...s.dns.map((v) => `DNS:${v}`),
      ...s.ip.map((v) => `IP:${v}`),
      ...s.email.map((v) => `email:${v}`),
      ...s.uri.map((v) => `URI:${v}`),
    ];
    return this.inWorkDir(async (dir) => {
      const csrPath = join(dir, 'request.csr');
      const certPath = join(dir, 'certificate.pem');
      await writeFile(csrPath, derToPem(csr.der, 'CERTIFICATE REQUEST'), { mode: 0o600 });
      await writeFile(certPath, '', { mode: 0o600 });
      const env: Record<string, string> = {
        CERTCTL_CSR_PATH: csrPath,
        CERTCTL_CERT_PATH: certPath,
        CERTCTL_COMMON_NAME: req.commonName,
        CERTCTL_SANS_DNS: s.dns.join(','),
        CERTCTL_SANS_IP: s.ip.join(','),
        CERTCTL_SANS_EMAIL: s.email.join(','),
        CERTCTL_SANS_URI: s.uri.join(','),
        CERTCTL_SUBJECT_ALT_NAME: san.join(','),
        CERTCTL_TTL_SECONDS: ttl === undefined ? '' : String(ttl),
        // Whole days, never more than asked for (at least one: `openssl ca -days 0` is refused).
        CERTCTL_VALIDITY_DAYS: ttl === undefined ? '' : String(Math.max(1, Math.floor(ttl / 86_400))),
        CERTCTL_NOT_AFTER: ttl === undefined ? '' : opensslTime(new Date(now.getTime() + ttl * 1000)),
      };
      const out = await runScript({
        role: 'sign_script',
        path: this.cfg.sign_script,
        args: [csrPath, certPath],
        env,
        cwd: dir,
        timeoutMs: this.timeoutMs,
      });
      const fromFile = await readFile(certPath, 'utf8');
      const text = pemCertificates(fromFile).length ? fromFile : out.stdout.toString('utf8');
      const [leaf, ...rest] = pemCertificates(text);
      if (!leaf) {
        throw invalid(`sign_script ${this.cfg.sign_script} exited 0 but produced no PEM certificate (file or stdout)`);
      }
      const ca = this.cfg.ca_cert_path ? pemCertificates(await this.caBundle()) : [];
      return issuanceResult(leaf, [...rest, ...ca], csr.spkiDer, WHAT);
    });
  }

  renew(req: IssuanceRequest): Promise<IssuanceResult> {
    return this.issue(req);
  }

  async revoke(req: RevocationRequest): Promise<void> {
    const script = this.cfg.revoke_script;
    if (script === undefined) {
      throw invalid(`${WHAT}: no revoke_script is configured, so the CA was not told about this revocation`);
    }
    const serial = evenHex(req.serialHex);
    const reason = OPENSSL_REASONS[req.reason.toLowerCase()];
    if (reason === undefined)
      throw invalid(`revocation reason ${JSON.stringify(req.reason)} is not an RFC 5280 reason`);
    await this.inWorkDir((dir) =>
      runScript({
        role: 'revoke_script',
        path: script,
        args: [serial, req.reason],
        env: {
          // openssl ca names issued files by upper-case hex serial (newcerts/<SERIAL>.pem).
          CERTCTL_SERIAL_HEX: serial.toUpperCase(),
          CERTCTL_REASON: req.reason,
          CERTCTL_OPENSSL_REASON: reason,
        },
        cwd: dir,
        timeoutMs: this.timeoutMs,
      }),
    );
  }

  /**
   * The CA's current CRL as DER, made by crl_script. Not part of the issuer port (this
   * server signs CRLs only for CAs it holds); for publishing the script CA's own CRL.
   */
  async fetchCrl(): Promise<Buffer> {
    const script = this.cfg.crl_script;
    if (script === undefined) throw invalid(`${WHAT}: no crl_script is configured`);
    return this.inWorkDir(async (dir) => {
      const crlPath = join(dir, 'ca.crl');
      await writeFile(crlPath, '', { mode: 0o600 });
      const out = await runScript({
        role: 'crl_script',
        path: script,
        args: [crlPath],
        env: { CERTCTL_CRL_PATH: crlPath },
        cwd: dir,
        timeoutMs: this.timeoutMs,
      });
      const fromFile = await readFile(crlPath);
      const raw = fromFile.length ? fromFile : out.stdout;
      const pem = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/.exec(raw.toString('latin1'));
      const der = pem ? Buffer.from(pem[1].replace(/\s+/g, ''), 'base64') : raw;
      // A DER CRL is a SEQUENCE: anything else is not a CRL.
      if (der.length < 2 || der[0] !== 0x30) throw invalid(`crl_script ${script} produced no CRL (PEM or DER)`);
      return der;
    });
  }

  async getCaCertPem(): Promise<string> {
    if (this.cfg.ca_cert_path === undefined) throw invalid(`${WHAT}: no ca_cert_path is configured`);
    const [ca] = pemCertificates(await this.caBundle());
    return ca;
  }

  async getOrderStatus(orderId: string): Promise<OrderStatus> {
    return { state: 'failed', message: `${WHAT} issues synchronously; there is no order ${orderId}` };
  }

  /** The connection test: every configured script is an executable regular file, the CA certificate reads. */
  async check(): Promise<ConnectorCheck> {
    try {
      const scripts = [
        ['sign_script', this.cfg.sign_script],
        ['revoke_script', this.cfg.revoke_script],
        ['crl_script', this.cfg.crl_script],
      ] as const;
      for (const [field, path] of scripts) if (path !== undefined) await executable(field, path);
      if (this.cfg.ca_cert_path !== undefined) await this.caBundle();
      const missing = scripts.filter(([, p]) => p === undefined).map(([f]) => f);
      return {
        ok: true,
        message: `scripts are executable${missing.length ? ` (not configured: ${missing.join(', ')})` : ''}`,
      };
    } catch (e) {
      return { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
  }

  private caBundle(): Promise<string> {
    return readCaBundle(this.cfg.ca_cert_path ?? '', 'config.ca_cert_path');
  }

  /** A private (0700) directory for one script run, removed afterwards whatever happens. */
  private async inWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'certctl-openssl-'));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

async function executable(field: string, path: string): Promise<void> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new DomainError(
      ErrorCode.Validation,
      `config.${field} ${path} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.code})`}`,
    );
  });
  if (!st.isFile()) throw invalid(`config.${field} ${path} is not a regular file`);
  await access(path, constants.X_OK).catch(() => {
    throw invalid(`config.${field} ${path} is not executable by the server process`);
  });
}
