import { createHash, createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as x509 from '@peculiar/x509';
import { DataSource } from 'typeorm';
import { DomainError, ErrorCode, IssuerType } from '@certctl/domain';
import {
  certsOnlyPkcs7,
  derToPem,
  ensureCryptoProvider,
  exportPrivateKeyPem,
  generateKeyPair,
  issueLeaf,
  pemToDers,
  randomSerialHex,
  spkiDerOf,
  type ScepRa,
} from '@certctl/pki';
import { CaStore, type LoadedCa } from '../ca/ca-store';
import { AppConfig, ConfigError, pkiPublicBaseUrl } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import type { ScepLabelConfig } from '../enrollment/enrollment-config';
import { sealContextOf } from '../secrets/seal-contexts';
import { SecretBox } from '../secrets/secret-box';

/** What a label answers GetCACert with, and the RA that decrypts and signs its PKIMessages. */
export interface ScepRaMaterial {
  ra: ScepRa;
  /** DER certificates GetCACert returns, the RA first. */
  served: Buffer[];
}

interface RaRow {
  cert_pem: string;
  sealed_key: Buffer;
  fingerprint_sha256: string;
  not_after: Date;
}

/** Generated RA certificates live a year and are replaced in their last 30 days. */
const RA_VALIDITY_DAYS = 365;
const RA_RENEW_BEFORE_MS = 30 * 86_400_000;
/** How long a generated label's material is reused before the table (rotation, a new issuing CA) is read again. */
const GENERATED_CACHE_MS = 5 * 60_000;

/** CERTCTL_SCEP_ or CERTCTL_SCEP_PROFILE_<LABEL>_ (as enrollment-config names the variables). */
export function scepEnvPrefix(label: string): string {
  return label === '' ? 'CERTCTL_SCEP_' : `CERTCTL_SCEP_PROFILE_${label.toUpperCase().replace(/-/g, '_')}_`;
}

const isRsa = (der: Uint8Array): boolean =>
  createPublicKey({ key: Buffer.from(new x509.X509Certificate(der).publicKey.rawData), format: 'der', type: 'spki' })
    .asymmetricKeyType === 'rsa';

/**
 * The SCEP RA of each label: an RSA certificate and key that clients encrypt their requests
 * to and that sign our CertReps.
 *
 * - From files (CERTCTL_SCEP[_PROFILE_<L>]_RA_CERT_PATH / _RA_KEY_PATH), checked at boot: the
 *   key file must not be readable by group or others, the key must be RSA and match the
 *   certificate. Certificates after the first in the file are served as the RA's chain.
 * - Otherwise generated once per label and shared by every replica through `scep_ra_keys`
 *   (key sealed with the config encryption key). When the label's issuer is a Local CA the
 *   RA certificate is issued by its issuing CA (digitalSignature + keyEncipherment), so a
 *   client that checks the RA against the CA accepts it; for other issuers it is self-signed.
 *
 * GetCACert serves the RA followed by the CA chain, leaving out every certificate whose key
 * is not RSA: micromdm scepclient (and other clients built on the same Go pkcs7 code)
 * encrypts its request to every certificate GetCACert returns and crashes on a non-RSA key,
 * and our Local CAs are ECDSA P-256 by default. Such clients need only the RA to encrypt to
 * and to verify CertReps with, so with an ECDSA CA the answer is the RA alone as raw DER
 * (application/x-x509-ca-cert); with an RSA CA it is RA + CA as a certs-only PKCS#7.
 */
@Injectable()
export class ScepRaService implements OnModuleInit {
  private readonly logger = new Logger(ScepRaService.name);
  private readonly fromFiles = new Map<string, ScepRaMaterial>();
  private readonly generated = new Map<string, { until: number; material: Promise<ScepRaMaterial> }>();

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly ds: DataSource,
    private readonly box: SecretBox,
    private readonly cas: CaStore,
  ) {}

  /** Refuses to boot with an RA key file others can read, or RA files that do not load. */
  async onModuleInit(): Promise<void> {
    if (!this.config.enrollment.scep.enabled) return;
    const problems: string[] = [];
    for (const label of this.config.enrollment.scep.labels) {
      if (!label.raCertPath || !label.raKeyPath) continue;
      try {
        this.fromFiles.set(label.label, await loadRaFiles(label));
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (problems.length) throw new ConfigError(problems);
  }

  /** The label's RA and GetCACert certificates. */
  async material(label: ScepLabelConfig): Promise<ScepRaMaterial> {
    const files = this.fromFiles.get(label.label);
    if (files) return files;
    const now = Date.now();
    const hit = this.generated.get(label.label);
    if (hit && hit.until > now) return hit.material;
    const material = this.loadGenerated(label);
    this.generated.set(label.label, { until: now + GENERATED_CACHE_MS, material });
    material.catch(() => this.generated.delete(label.label));
    return material;
  }

  /** GetCACert: raw DER for one certificate, else a certs-only PKCS#7 (RA first). */
  async caCertResponse(label: ScepLabelConfig): Promise<{ body: Buffer; contentType: string }> {
    const { served } = await this.material(label);
    if (served.length === 1) return { body: served[0], contentType: 'application/x-x509-ca-cert' };
    return { body: certsOnlyPkcs7(served), contentType: 'application/x-x509-ca-ra-cert' };
  }

  private async loadGenerated(label: ScepLabelConfig): Promise<ScepRaMaterial> {
    const ca = await this.localCa(label);
    let row = await this.row(label.label);
    if (!row || row.not_after.getTime() - Date.now() < RA_RENEW_BEFORE_MS) {
      row = await this.generate(label, ca, row);
    }
    const opened = await this.box.open(row.sealed_key, sealContextOf(label.label));
    const [certDer] = pemToDers(row.cert_pem, ['CERTIFICATE'], 'scep_ra_keys.cert_pem');
    const ra: ScepRa = { certificate: certDer, privateKey: createPrivateKey(String(opened.private_key_pem)) };
    const chain = ca ? [ca.signer.certificate, ...ca.signer.chain].map((c) => new Uint8Array(c.rawData)) : [];
    return { ra, served: [Buffer.from(certDer), ...chain.filter(isRsa).map((d) => Buffer.from(d))] };
  }

  /** The issuing CA of the label's issuer when it is a Local CA (created on first use, like issuance does). */
  private async localCa(label: ScepLabelConfig): Promise<LoadedCa | undefined> {
    let issuer;
    try {
      issuer = await this.cas.issuer(label.issuerId);
    } catch (e) {
      if (e instanceof DomainError && e.code === ErrorCode.NotFound) {
        throw new DomainError(
          ErrorCode.Unavailable,
          `SCEP ${label.label ? `label "${label.label}"` : 'default label'} cannot serve: issuer ${label.issuerId} does not exist`,
        );
      }
      throw e;
    }
    return issuer.type === IssuerType.LocalCA ? this.cas.issuing(issuer) : undefined;
  }

  private async row(label: string): Promise<RaRow | undefined> {
    return rowsOf<RaRow>(
      await this.ds.query(
        `SELECT cert_pem, sealed_key, fingerprint_sha256, not_after FROM scep_ra_keys WHERE label = $1`,
        [label],
      ),
    )[0];
  }

  /**
   * Makes RA material and stores it unless another replica got there first: a new label is
   * inserted with ON CONFLICT DO NOTHING, an expiring one replaced only if it is still the
   * one we read; either way the stored row is what everyone then uses.
   */
  private async generate(label: ScepLabelConfig, ca: LoadedCa | undefined, old: RaRow | undefined): Promise<RaRow> {
    if (!this.box.enabled) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `SCEP needs an RA key: set ${scepEnvPrefix(label.label)}RA_CERT_PATH and RA_KEY_PATH, or CERTCTL_CONFIG_ENCRYPTION_KEY to generate one`,
      );
    }
    ensureCryptoProvider();
    const keys = await generateKeyPair('RSA-2048');
    const commonName = `certctl SCEP RA ${label.label || 'default'}`;
    let certDer: Uint8Array;
    if (ca) {
      const issued = await issueLeaf(ca.signer, {
        publicKey: spkiDerOf(keys.publicKey),
        commonName,
        ekus: ['emailProtection'],
        ttlSeconds: RA_VALIDITY_DAYS * 86_400,
        publicUrl: pkiPublicBaseUrl(this.config),
        issuerId: ca.urlId,
      });
      certDer = issued.certDer;
    } else {
      const notBefore = new Date(Date.now() - 60_000);
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomSerialHex(),
        name: `CN=${commonName}`,
        notBefore,
        notAfter: new Date(notBefore.getTime() + RA_VALIDITY_DAYS * 86_400_000),
        keys,
        signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      certDer = new Uint8Array(cert.rawData);
    }
    const keyPem = exportPrivateKeyPem(keys.privateKey);
    const sealed = await this.box.seal({ private_key_pem: keyPem }, sealContextOf(label.label));
    const fingerprint = createHash('sha256').update(certDer).digest('hex');
    const notAfter = new x509.X509Certificate(certDer).notAfter;
    const params = [label.label, derToPem(certDer, 'CERTIFICATE'), sealed, fingerprint, ca?.row.id ?? null, notAfter];
    if (old) {
      await this.ds.query(
        `UPDATE scep_ra_keys SET cert_pem = $2, sealed_key = $3, fingerprint_sha256 = $4, issuer_ca_id = $5,
                not_after = $6, created_at = now()
          WHERE label = $1 AND fingerprint_sha256 = $7`,
        [...params, old.fingerprint_sha256],
      );
    } else {
      await this.ds.query(
        `INSERT INTO scep_ra_keys (label, cert_pem, sealed_key, fingerprint_sha256, issuer_ca_id, not_after)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (label) DO NOTHING`,
        params,
      );
    }
    const stored = await this.row(label.label);
    if (!stored) throw new Error(`SCEP RA of label "${label.label}" was not stored`);
    if (stored.fingerprint_sha256 === fingerprint) {
      this.logger.log(
        `SCEP ${label.label || 'default'}: generated RA certificate (${ca ? `issued by CA ${ca.row.id}` : 'self-signed'})`,
      );
    }
    return stored;
  }
}

/** Loads and checks an RA from files; errors name the variable to fix. */
async function loadRaFiles(label: ScepLabelConfig): Promise<ScepRaMaterial> {
  const p = scepEnvPrefix(label.label);
  const keyPath = label.raKeyPath!;
  const certPath = label.raCertPath!;
  let st;
  try {
    st = await stat(keyPath);
  } catch (e) {
    throw new Error(`${p}RA_KEY_PATH ${keyPath} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: e,
    });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `${p}RA_KEY_PATH ${keyPath} has mode ${(st.mode & 0o777).toString(8)}: the RA private key must be readable by its owner only (chmod 600)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(keyPath, 'utf8'));
  } catch (e) {
    throw new Error(
      `${p}RA_KEY_PATH ${keyPath} is not a readable unencrypted PEM private key (${(e as Error).message})`,
      { cause: e },
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new Error(`${p}RA_KEY_PATH ${keyPath} holds a ${key.asymmetricKeyType} key: SCEP clients need an RSA RA key`);
  }
  let ders: Uint8Array[];
  try {
    ders = pemToDers(await readFile(certPath, 'utf8'), ['CERTIFICATE'], `${p}RA_CERT_PATH`);
    if (!ders.length) throw new Error('no certificate');
    new x509.X509Certificate(ders[0]);
  } catch (e) {
    throw new Error(`${p}RA_CERT_PATH ${certPath} holds no readable PEM certificate (${(e as Error).message})`, {
      cause: e,
    });
  }
  const certSpki = Buffer.from(new x509.X509Certificate(ders[0]).publicKey.rawData);
  if (!certSpki.equals(Buffer.from(spkiDerOf(key)))) {
    throw new Error(`${p}RA_CERT_PATH ${certPath} does not match the key in ${p}RA_KEY_PATH`);
  }
  return {
    ra: { certificate: ders[0], privateKey: key },
    served: [
      Buffer.from(ders[0]),
      ...ders
        .slice(1)
        .filter(isRsa)
        .map((d) => Buffer.from(d)),
    ],
  };
}
