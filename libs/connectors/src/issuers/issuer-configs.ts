import { IssuerType } from '@certctl/domain';
import { z } from 'zod';
import {
  absolutePath,
  awsArn,
  awsRegion,
  bool,
  duration,
  email,
  httpUrl,
  httpsUrl,
  iamRoleArn,
  int,
  oneOf,
  secret,
  text,
  str,
} from '../config/fields';
import { awsAccessKeyId, awsCredentials, together } from '../config/rules';
import { defineConfig, type ConfigSpec } from '../config/spec';

const KEY_ALGORITHMS = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096'] as const;

/**
 * Local CA: signs with a CA held by the server. Self-signed mode generates its own root;
 * sub-CA mode (ca_cert_path + ca_key_path) signs with an enterprise-issued intermediate.
 */
export const localCaConfig = defineConfig(
  {
    ca_cert_path: absolutePath().optional(),
    ca_key_path: absolutePath().optional(),
    /** Passphrase of an encrypted (PKCS#8) CA key file. */
    ca_key_passphrase: secret(1024).optional(),
    ca_common_name: text(64).optional(),
    organization: text(64).optional(),
    key_algorithm: oneOf(KEY_ALGORITHMS).optional(),
    ca_validity_days: int(1, 7300).optional(),
    default_validity_days: int(1, 825).optional(),
    crl_distribution_url: httpUrl().optional(),
    ocsp_url: httpUrl().optional(),
  },
  (v, ctx) => {
    together(v, ctx.issue, 'ca_cert_path', 'ca_key_path');
    if (v.ca_key_passphrase !== undefined && v.ca_key_path === undefined) {
      ctx.issue('ca_key_passphrase', 'is only used with ca_key_path (sub-CA mode)');
    }
    if (v.ca_cert_path !== undefined) {
      for (const f of ['ca_common_name', 'ca_validity_days', 'key_algorithm'] as const) {
        if (v[f] !== undefined)
          ctx.issue(f, 'only applies to self-signed mode (the CA certificate comes from ca_cert_path)');
      }
    }
  },
);
export type LocalCaConfig = z.infer<typeof localCaConfig.schema>;

const CHALLENGES = ['http-01', 'dns-01', 'dns-persist-01'] as const;

/** ACME v2 (RFC 8555): Let's Encrypt, ZeroSSL, Google Trust Services, Sectigo, step-ca ACME. */
export const acmeConfig = defineConfig(
  {
    directory_url: httpsUrl(),
    email: email(),
    /** External Account Binding (ZeroSSL, Google Trust Services, SSL.com...). */
    eab_kid: text(256).optional(),
    eab_hmac_key: secret(512, {
      test: (k) => /^[A-Za-z0-9_-]+={0,2}$/.test(k),
      message: 'must be the base64url HMAC key the CA issued',
    }).optional(),
    challenge_type: oneOf(CHALLENGES).optional(),
    /** Port of the built-in HTTP-01 responder (behind a port-80 forward). */
    http01_port: int(1, 65_535).optional(),
    /** http-01 by writing the challenge file below this document root instead of the built-in responder. */
    http01_webroot: absolutePath().optional(),
    /** CA bundle that signs the ACME server's TLS certificate, when not publicly trusted (Pebble, internal CAs). */
    trust_ca_path: absolutePath().optional(),
    /** Hook scripts for DNS-01: called with the domain and the TXT value, never via a shell. */
    dns_present_script: absolutePath().optional(),
    dns_cleanup_script: absolutePath().optional(),
    dns_propagation_seconds: int(0, 3600).optional(),
    /** dns-persist-01: the CA's issuer domain named in the standing TXT record. */
    dns_persist_issuer_domain: text(253).optional(),
    /** ACME profile (draft-aaron-acme-profiles), e.g. "tlsserver" or "shortlived". */
    profile: text(64).optional(),
    preferred_chain: text(256).optional(),
    /** Use ACME Renewal Information (RFC 9773) for renewal timing. */
    ari_enabled: bool().optional(),
    /**
     * ZeroSSL: where EAB credentials are fetched for `email` when none are configured
     * (default https://api.zerossl.com/acme/eab-credentials-email when directory_url is
     * ZeroSSL's; setting it turns the fetch on for any directory, e.g. behind a proxy).
     */
    zerossl_eab_url: httpsUrl().optional(),
  },
  (v, ctx) => {
    together(v, ctx.issue, 'eab_kid', 'eab_hmac_key');
    const challenge = v.challenge_type ?? 'http-01';
    if (challenge === 'dns-01') {
      for (const f of ['dns_present_script', 'dns_cleanup_script'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for challenge_type dns-01');
      }
    }
    if (challenge === 'http-01') {
      for (const f of [
        'dns_present_script',
        'dns_cleanup_script',
        'dns_propagation_seconds',
        'dns_persist_issuer_domain',
      ] as const) {
        if (v[f] !== undefined) ctx.issue(f, 'only applies to challenge_type dns-01 or dns-persist-01');
      }
    } else {
      for (const f of ['http01_port', 'http01_webroot'] as const) {
        if (v[f] !== undefined) ctx.issue(f, 'only applies to challenge_type http-01');
      }
    }
    if (challenge === 'dns-persist-01' && v.dns_persist_issuer_domain === undefined) {
      ctx.issue('dns_persist_issuer_domain', 'is required for challenge_type dns-persist-01');
    }
  },
);
export type AcmeIssuerConfig = z.infer<typeof acmeConfig.schema>;

/** Smallstep step-ca via its native /sign API with a JWK provisioner. */
export const stepCaConfig = defineConfig(
  {
    ca_url: httpsUrl(),
    /** SHA-256 fingerprint of the step-ca root, pinned for the TLS connection (as `step ca bootstrap`). */
    root_fingerprint: str()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be the 64-hex-digit SHA-256 fingerprint of the root certificate')
      .optional(),
    /** Alternatively, the root (PEM bundle) that signs step-ca's TLS certificate. */
    ca_cert_path: absolutePath().optional(),
    provisioner_name: text(128),
    /** Decrypts the provisioner's encrypted JWK (JWE, PBES2); not needed for a plain JWK. */
    provisioner_password: secret(1024).optional(),
    /** The provisioner's private JWK: plain JSON, or encrypted as step writes it (JWE JSON or compact). */
    provisioner_key: secret(65_536).optional(),
    /** A file holding the same; with neither, the encrypted key is fetched from the CA's /provisioners. */
    provisioner_key_path: absolutePath().optional(),
    validity: duration().optional(),
    /** Deadline of each call to step-ca (default 30 s). */
    timeout_seconds: int(1, 300).optional(),
  },
  (v, ctx) => {
    if (v.root_fingerprint === undefined && v.ca_cert_path === undefined)
      ctx.issue('root_fingerprint', 'is required unless ca_cert_path names the root that signs the CA');
    if (v.provisioner_key !== undefined && v.provisioner_key_path !== undefined)
      ctx.issue('provisioner_key', 'use either provisioner_key or provisioner_key_path, not both');
    if (v.provisioner_key === undefined && v.provisioner_key_path === undefined && v.provisioner_password === undefined)
      ctx.issue(
        'provisioner_password',
        "is required to decrypt the provisioner key fetched from the CA's /provisioners",
      );
  },
);
export type StepCaConfig = z.infer<typeof stepCaConfig.schema>;

/** Vault path segments go into request URLs: no `.`/`..` segments (URL normalization would resolve them). */
const VAULT_PATH = /^(?!(.*\/)?\.{1,2}(\/|$))[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/** HashiCorp Vault PKI secrets engine, signing CSRs through /<mount>/sign/<role>. */
export const vaultPkiConfig = defineConfig(
  {
    address: httpsUrl(),
    /** Vault Enterprise namespace. */
    namespace: text(256).optional(),
    mount: str().max(256).regex(VAULT_PATH, 'must be a Vault mount path such as pki or pki/int'),
    role: str().regex(/^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,128}$/, 'must be a Vault PKI role name'),
    token: secret(4096).optional(),
    role_id: text(256).optional(),
    secret_id: secret(4096).optional(),
    approle_mount: str().max(128).regex(VAULT_PATH, 'must be an auth mount path such as approle').optional(),
    ttl: duration().optional(),
    /** CA bundle that signs Vault's TLS certificate, when not publicly trusted. */
    ca_cert_path: absolutePath().optional(),
    /** Deadline of each call to Vault (default 30 s). */
    timeout_seconds: int(1, 300).optional(),
  },
  (v, ctx) => {
    together(v, ctx.issue, 'role_id', 'secret_id');
    const approle = v.role_id !== undefined || v.secret_id !== undefined;
    if (v.token !== undefined && approle)
      ctx.issue('token', 'use either token or AppRole (role_id + secret_id), not both');
    if (v.token === undefined && !approle)
      ctx.issue('token', 'is required unless AppRole role_id and secret_id are given');
    if (v.approle_mount !== undefined && !approle) ctx.issue('approle_mount', 'only applies to AppRole authentication');
  },
);
export type VaultPkiConfig = z.infer<typeof vaultPkiConfig.schema>;

/** DigiCert CertCentral REST API (asynchronous orders). */
export const digiCertConfig = defineConfig({
  api_key: secret(512),
  organization_id: int(1, 2_147_483_647),
  product_name_id: str().regex(
    /^[a-z0-9_]{1,64}$/,
    'must be a CertCentral product name id such as ssl_plus or ssl_multi_domain',
  ),
  base_url: httpsUrl().optional(),
  container_id: int(1, 2_147_483_647).optional(),
  signature_hash: oneOf(['sha256', 'sha384', 'sha512'] as const).optional(),
  validity_days: int(1, 397).optional(),
  /** CA bundle that signs the API's TLS certificate (a private endpoint or a TLS-inspecting proxy). */
  ca_cert_path: absolutePath().optional(),
  timeout_seconds: int(1, 300).optional(),
});
export type DigiCertConfig = z.infer<typeof digiCertConfig.schema>;

/** Sectigo Certificate Manager (SCM) REST API: customerUri + login + password headers. */
export const sectigoConfig = defineConfig({
  base_url: httpsUrl(),
  customer_uri: text(128),
  login: text(128),
  password: secret(1024),
  org_id: int(1, 2_147_483_647),
  /** The SSL certificate profile (type) id. */
  cert_type: int(1, 2_147_483_647),
  term_days: int(1, 397),
  external_requester: email().optional(),
  /** CA bundle that signs the API's TLS certificate (a private endpoint or a TLS-inspecting proxy). */
  ca_cert_path: absolutePath().optional(),
  timeout_seconds: int(1, 300).optional(),
});
export type SectigoConfig = z.infer<typeof sectigoConfig.schema>;

/** A service-account key file: what the JWT bearer grant needs (email, PEM key, https token_uri if given). */
function isServiceAccountJson(s: string): boolean {
  try {
    const v = JSON.parse(s) as Record<string, unknown> | null;
    if (typeof v !== 'object' || v === null || v.type !== 'service_account') return false;
    if (typeof v.client_email !== 'string' || typeof v.private_key !== 'string') return false;
    if (!v.private_key.includes('-----BEGIN PRIVATE KEY-----')) return false;
    return v.token_uri === undefined || (typeof v.token_uri === 'string' && v.token_uri.startsWith('https://'));
  } catch {
    return false;
  }
}

/** Google Cloud Certificate Authority Service. */
export const googleCasConfig = defineConfig({
  project: str().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id'),
  location: str().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a region such as europe-west1'),
  ca_pool: str().regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be a CA pool id'),
  certificate_authority: str()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be a certificate authority id')
    .optional(),
  /** A template id in the same project and location, or its full resource name. */
  certificate_template: str()
    .regex(
      /^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[a-z]+-[a-z]+\d+\/certificateTemplates\/)?[A-Za-z0-9_-]{1,63}$/,
      'must be a certificate template id or projects/<p>/locations/<l>/certificateTemplates/<id>',
    )
    .optional(),
  lifetime: duration().optional(),
  /** Service-account key JSON; omit to use workload identity / application default credentials. */
  credentials_json: secret(32_768, {
    test: isServiceAccountJson,
    message:
      'must be a service-account key JSON document ("type": "service_account", client_email, private_key, https token_uri)',
  }).optional(),
  /** API root; default https://privateca.googleapis.com (a private endpoint or a test server). */
  base_url: httpsUrl().optional(),
  /** CA bundle that signs the API's (and token endpoint's) TLS certificate. */
  ca_cert_path: absolutePath().optional(),
  timeout_seconds: int(1, 300).optional(),
});
export type GoogleCasConfig = z.infer<typeof googleCasConfig.schema>;

const AWS_SIGNING = [
  'SHA256WITHECDSA',
  'SHA384WITHECDSA',
  'SHA512WITHECDSA',
  'SHA256WITHRSA',
  'SHA384WITHRSA',
  'SHA512WITHRSA',
] as const;

/** AWS Certificate Manager Private CA. Credentials: static keys, or the ambient role chain. */
export const awsAcmPcaConfig = defineConfig(
  {
    region: awsRegion(),
    certificate_authority_arn: awsArn(
      'acm-pca',
      /certificate-authority\/[0-9a-f-]{36}/,
      'arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/<uuid>',
    ),
    signing_algorithm: oneOf(AWS_SIGNING).optional(),
    template_arn: str()
      .regex(/^arn:aws[a-z-]*:acm-pca:::template\/[A-Za-z0-9_/.-]+$/, 'must be an ACM PCA template ARN')
      .optional(),
    validity_days: int(1, 3650).optional(),
    access_key_id: awsAccessKeyId().optional(),
    secret_access_key: secret(256).optional(),
    session_token: secret(4096).optional(),
    role_arn: iamRoleArn().optional(),
    /** Endpoint override (VPC endpoint, FIPS endpoint, a test server); default: the region's endpoint. */
    endpoint: httpsUrl().optional(),
    /** CA bundle that signs the endpoint's TLS certificate. */
    ca_cert_path: absolutePath().optional(),
    timeout_seconds: int(1, 300).optional(),
  },
  (v, ctx) => awsCredentials(v, ctx.issue),
);
export type AwsAcmPcaConfig = z.infer<typeof awsAcmPcaConfig.schema>;

/** Client certificate (mutual TLS) used by several commercial CA APIs. */
const mtls = {
  client_cert_path: absolutePath(),
  client_key_path: absolutePath(),
  client_key_passphrase: secret(1024).optional(),
};

/**
 * Entrust CA Gateway REST API (mutual TLS with the CA Gateway client credential). The base
 * URL includes the gateway's context path, e.g. https://cagw.pkiaas.entrust.com/cagw.
 */
export const entrustConfig = defineConfig({
  base_url: httpsUrl(),
  /** The CA Gateway certificate authority id (a path segment: PKIaaS ids look like `partition~ca`). */
  ca_id: str().regex(/^[A-Za-z0-9~_.-]{1,128}$/, 'must be a CA Gateway certificate authority id'),
  /** The certificate profile enrollments use (CA Gateway `profileId`). */
  profile_id: str().regex(/^[A-Za-z0-9~_.:-]{1,128}$/, 'must be a CA Gateway certificate profile id'),
  ...mtls,
  /** Default lifetime when the certificate asks for none (capped at the profile's max TTL). */
  validity_days: int(1, 3650).optional(),
  /** CA bundle that signs the gateway's TLS certificate, when not publicly trusted. */
  trust_ca_path: absolutePath().optional(),
  timeout_seconds: int(1, 300).optional(),
});
export type EntrustConfig = z.infer<typeof entrustConfig.schema>;

/** GlobalSign Atlas HVCA (mutual TLS + API key/secret login). */
export const globalSignConfig = defineConfig({
  /** Default https://emea.api.hvca.globalsign.com:8443 (a trailing /v2 is accepted). */
  base_url: httpsUrl().optional(),
  api_key: secret(256),
  api_secret: secret(512),
  ...mtls,
  validity_days: int(1, 397).optional(),
  /** CA bundle that signs the API's TLS certificate, when not publicly trusted. */
  trust_ca_path: absolutePath().optional(),
  timeout_seconds: int(1, 300).optional(),
});
export type GlobalSignConfig = z.infer<typeof globalSignConfig.schema>;

const EJBCA_OAUTH_FIELDS = ['token', 'token_url', 'client_id', 'client_secret', 'scope'] as const;

/**
 * Keyfactor EJBCA REST API: a client certificate (auth_mode mtls, the default) or an OAuth2
 * bearer token (auth_mode oauth2, EJBCA 7.x+ with an OAuth provider): a static `token`, or
 * the client-credentials grant at token_url (optionally still with a client certificate).
 */
export const ejbcaConfig = defineConfig(
  {
    base_url: httpsUrl(),
    auth_mode: oneOf(['mtls', 'oauth2'] as const).optional(),
    client_cert_path: absolutePath().optional(),
    client_key_path: absolutePath().optional(),
    client_key_passphrase: secret(1024).optional(),
    /** oauth2: a bearer token used as is (rotated by the operator). */
    token: secret(16_384).optional(),
    /** oauth2: the provider's token endpoint for the client-credentials grant. */
    token_url: httpsUrl().optional(),
    client_id: text(256).optional(),
    client_secret: secret(1024).optional(),
    scope: text(1024).optional(),
    ca_name: text(256),
    certificate_profile: text(256),
    end_entity_profile: text(256),
    /** CA bundle that signs EJBCA's TLS certificate (and token_url's, when it is not publicly trusted). */
    trust_ca_path: absolutePath().optional(),
    timeout_seconds: int(1, 300).optional(),
  },
  (v, ctx) => {
    together(v, ctx.issue, 'client_cert_path', 'client_key_path');
    if (v.client_key_passphrase !== undefined && v.client_key_path === undefined) {
      ctx.issue('client_key_passphrase', 'is only used with client_key_path');
    }
    if ((v.auth_mode ?? 'mtls') === 'mtls') {
      for (const f of ['client_cert_path', 'client_key_path'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for auth_mode mtls');
      }
      for (const f of EJBCA_OAUTH_FIELDS) {
        if (v[f] !== undefined) ctx.issue(f, 'only applies to auth_mode oauth2');
      }
      return;
    }
    const grant = v.token_url !== undefined || v.client_id !== undefined || v.client_secret !== undefined;
    if (v.token !== undefined && grant) {
      ctx.issue('token', 'is a static token: leave it out when token_url, client_id and client_secret are set');
    } else if (v.token === undefined && !grant) {
      ctx.issue('token_url', 'auth_mode oauth2 needs token_url, client_id and client_secret (or a static token)');
    } else if (grant) {
      for (const f of ['token_url', 'client_id', 'client_secret'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for the client-credentials grant');
      }
    }
    if (v.scope !== undefined && v.token_url === undefined) ctx.issue('scope', 'is only sent to token_url');
  },
);
export type EjbcaConfig = z.infer<typeof ejbcaConfig.schema>;

/**
 * Microsoft AD Certificate Services through its web enrollment pages (certsrv) over HTTPS.
 * certctl speaks Basic auth (IIS "Basic Authentication" on /certsrv) or a TLS client
 * certificate; NTLM and Kerberos need an authenticating reverse proxy in front of certsrv
 * (docs/connectors/issuers/adcs.md), which certctl reaches with basic or client_cert.
 */
export const adcsConfig = defineConfig(
  {
    /** The web enrollment root, e.g. https://ca.corp.example/certsrv. */
    server_url: httpsUrl(),
    template: str().regex(/^[A-Za-z0-9 _.-]{1,128}$/, 'must be a certificate template name'),
    auth_method: oneOf(['basic', 'client_cert', 'ntlm', 'kerberos'] as const).optional(),
    username: text(256).optional(),
    password: secret(1024).optional(),
    /** NetBIOS domain: the Basic user name becomes DOMAIN\\username. */
    domain: text(256).optional(),
    client_cert_path: absolutePath().optional(),
    client_key_path: absolutePath().optional(),
    client_key_passphrase: secret(1024).optional(),
    /** CA bundle that signs the certsrv (or proxy) TLS certificate. */
    trust_ca_path: absolutePath().optional(),
    timeout_seconds: int(1, 300).optional(),
  },
  (v, ctx) => {
    const method = v.auth_method ?? 'basic';
    if (method === 'ntlm' || method === 'kerberos') {
      ctx.issue(
        'auth_method',
        `${method} is not spoken by certctl: put an authenticating reverse proxy in front of certsrv (it does ${method} to IIS) and use basic or client_cert towards the proxy`,
      );
      return;
    }
    together(v, ctx.issue, 'client_cert_path', 'client_key_path');
    if (method === 'client_cert') {
      for (const f of ['client_cert_path', 'client_key_path'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for auth_method client_cert');
      }
      for (const f of ['username', 'password', 'domain'] as const) {
        if (v[f] !== undefined) ctx.issue(f, 'does not apply to auth_method client_cert');
      }
    } else {
      for (const f of ['username', 'password'] as const) {
        if (v[f] === undefined) ctx.issue(f, 'is required for auth_method basic');
      }
    }
  },
);
export type AdcsConfig = z.infer<typeof adcsConfig.schema>;

/**
 * OpenSSL / custom CA: user-provided scripts sign, revoke and build CRLs. Scripts are
 * executed directly with arguments, never through a shell.
 */
export const openSslConfig = defineConfig({
  sign_script: absolutePath(),
  revoke_script: absolutePath().optional(),
  crl_script: absolutePath().optional(),
  /** The CA certificate the scripts sign with (served as the chain). */
  ca_cert_path: absolutePath().optional(),
  timeout_seconds: int(1, 600).optional(),
  /** Lifetime asked for when the request names none (capped at the profile's max TTL). */
  default_validity_days: int(1, 3650).optional(),
});
export type OpenSslConfig = z.infer<typeof openSslConfig.schema>;

export const ISSUER_CONFIGS: Record<IssuerType, ConfigSpec> = {
  [IssuerType.LocalCA]: localCaConfig,
  [IssuerType.ACME]: acmeConfig,
  [IssuerType.StepCA]: stepCaConfig,
  [IssuerType.VaultPKI]: vaultPkiConfig,
  [IssuerType.DigiCert]: digiCertConfig,
  [IssuerType.Sectigo]: sectigoConfig,
  [IssuerType.GoogleCAS]: googleCasConfig,
  [IssuerType.AWSACMPCA]: awsAcmPcaConfig,
  [IssuerType.Entrust]: entrustConfig,
  [IssuerType.GlobalSign]: globalSignConfig,
  [IssuerType.EJBCA]: ejbcaConfig,
  [IssuerType.ADCS]: adcsConfig,
  [IssuerType.OpenSSL]: openSslConfig,
};
