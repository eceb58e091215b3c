import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DomainError, ErrorCode, notFound } from '@certctl/domain';
import { pemToDers } from '@certctl/pki';
import { AppConfig, ConfigError } from '../config/config.schema';
import type { EstLabelConfig } from '../enrollment/enrollment-config';
import {
  hashEnrollmentPasswordSync,
  parsePasswordHash,
  PasswordHashFormatError,
} from '../enrollment/enrollment-password';

/** A label as requests use it: the configuration plus what was read and checked at boot. */
export interface EstLabel {
  config: EstLabelConfig;
  /** `default` for the unnamed label (actor ids, audit rows, metrics). */
  name: string;
  passwordHash?: ReturnType<typeof parsePasswordHash>;
  /** CA certificates TLS client certificates must chain to (mtls, both, either). */
  trustAnchors: X509Certificate[];
}

/**
 * The EST labels of AppConfig.enrollment.est, prepared once at boot: a plain
 * CERTCTL_EST_PASSWORD is hashed and the plain text removed from the configuration, a
 * configured hash is parsed, and each trust bundle is read. Anything unusable refuses the
 * boot with a ConfigError naming the variable.
 */
@Injectable()
export class EstLabels implements OnModuleInit {
  private readonly logger = new Logger('EST');
  private readonly byName = new Map<string, EstLabel>();

  constructor(private readonly config: AppConfig) {}

  get enabled(): boolean {
    return this.config.enrollment.est.enabled;
  }

  onModuleInit(): void {
    const problems: string[] = [];
    for (const cfg of this.config.enrollment.est.labels) {
      const label = this.prepare(cfg, problems);
      if (label) this.byName.set(cfg.label, label);
    }
    if (problems.length) throw new ConfigError(problems);
  }

  /** The label of a request path; 404 naming the reason when EST is off or the label unknown. */
  get(label: string | undefined): EstLabel {
    if (!this.enabled)
      throw new DomainError(ErrorCode.NotFound, 'EST is not enabled on this server (CERTCTL_EST_ENABLED)');
    const found = this.byName.get(label ?? '');
    if (!found) throw notFound('EST label', label ?? '');
    return found;
  }

  private prepare(cfg: EstLabelConfig, problems: string[]): EstLabel | undefined {
    const prefix = cfg.label ? `CERTCTL_EST_PROFILE_${cfg.label.toUpperCase().replace(/-/g, '_')}_` : 'CERTCTL_EST_';
    const label: EstLabel = { config: cfg, name: cfg.label || 'default', trustAnchors: [] };
    if (cfg.password !== undefined) {
      this.logger.warn(
        `${prefix}PASSWORD is set in plain text; it is hashed now and dropped, but prefer ${prefix}PASSWORD_HASH ` +
          '(npm run est:hash-password) so the password never sits in the environment',
      );
      cfg.passwordHash = hashEnrollmentPasswordSync(cfg.password);
      delete cfg.password;
    }
    if (cfg.passwordHash !== undefined) {
      try {
        label.passwordHash = parsePasswordHash(cfg.passwordHash);
      } catch (e) {
        if (!(e instanceof PasswordHashFormatError)) throw e;
        problems.push(`${prefix}PASSWORD_HASH: ${e.message}`);
      }
    }
    if (cfg.auth !== 'basic' && cfg.trustBundlePath) {
      const path = cfg.trustBundlePath;
      try {
        label.trustAnchors = pemToDers(readFileSync(path, 'utf8'), ['CERTIFICATE'], `${prefix}TRUST_BUNDLE_PATH`).map(
          (der) => new X509Certificate(der),
        );
        if (label.trustAnchors.length === 0)
          problems.push(`${prefix}TRUST_BUNDLE_PATH: ${path} holds no PEM certificate`);
      } catch (e) {
        problems.push(`${prefix}TRUST_BUNDLE_PATH: cannot read ${path}: ${(e as Error).message}`);
      }
    }
    return label;
  }
}
