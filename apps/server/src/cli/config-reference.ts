import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
// prettier is a development tool; this module is loaded only by `npm run docs:config` and its test.
// The standalone build with its Markdown plugin is plain CommonJS (the main entry loads ESM).
import * as markdown from 'prettier/plugins/markdown';
import { format } from 'prettier/standalone';
import { loadConfig } from '../config/config.schema';

/**
 * The configuration reference (docs/configuration-reference.md), generated from the
 * configuration loader by `npm run docs:config`: which CERTCTL_* variables the server reads is
 * found by running loadConfig itself (variablesReadByConfig); what each one means lives in
 * CONFIG_VARIABLES below, the one place a variable is described. config-reference.spec.ts
 * checks both against each other and against the committed document.
 */

export type VariableType = 'string' | 'integer' | 'boolean' | 'duration' | 'byte size' | 'URL' | 'enum' | 'list';

export interface VariableDoc {
  type: VariableType;
  /** The value used when the variable is unset or empty, as an operator would write it; absent = unset. */
  default?: string;
  /** Range or choices, for integers, durations and enums. */
  allowed?: string;
  /** Markdown, one paragraph. */
  description: string;
}

/** Every variable of the default EST/SCEP label also exists per named label (CERTCTL_<P>_PROFILE_<LABEL>_<SETTING>). */
export const LABEL_PLACEHOLDER = '<LABEL>';
const PROBE_LABEL = 'probe';

/**
 * Every variable the server reads, described. Durations take Go-style values (`30s`, `5m`,
 * `24h`, `1h30m`, `7d`); booleans take true/false, 1/0, yes/no, on/off; lists are
 * comma-separated.
 */
export const CONFIG_VARIABLES: Record<string, VariableDoc> = {
  CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: {
    type: 'string',
    description:
      'ACME issuers: `IP:port` where the built-in http-01 challenge responder listens on every replica (tokens are shared through Redis); forward port 80 of the certificate names to it. Unset: off (use an issuer `http01_webroot` or dns-01)',
  },
  CERTCTL_ACME_SERVER_ALLOW_WILDCARDS: {
    type: 'boolean',
    default: 'true',
    description: "Accept `*.name` identifiers (the profile's SAN rules still decide)",
  },
  CERTCTL_ACME_SERVER_ARI_ENABLED: {
    type: 'boolean',
    default: 'true',
    description:
      'Serve RFC 9773 renewal information: `renewalInfo` in the directory and GET `/acme/renewal-info/{id}` (404 when off)',
  },
  CERTCTL_ACME_SERVER_ARI_POLL_INTERVAL: {
    type: 'duration',
    default: '6h',
    allowed: '1m–7d',
    description: '`Retry-After` of renewalInfo answers: how often clients are told to ask again',
  },
  CERTCTL_ACME_SERVER_AUTHZ_TTL: {
    type: 'duration',
    default: '24h',
    allowed: '1m–30d',
    description: 'How long a new authorization stays usable (a trust_authenticated one is valid until then)',
  },
  CERTCTL_ACME_SERVER_CAA_IDENTITIES: {
    type: 'list',
    description: 'Comma-separated `meta.caaIdentities`',
  },
  CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE: {
    type: 'enum',
    default: 'trust_authenticated',
    allowed: 'trust_authenticated, challenge',
    description:
      'How an account proves control of its identifiers, for profiles whose `acme_auth_mode` is unset (a profile may set its own): `trust_authenticated` (authenticated accounts are trusted, for internal PKI) or `challenge` (http-01, dns-01, tls-alpn-01).',
  },
  CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID: {
    type: 'string',
    description:
      'Certificate profile of `/acme/...` (key algorithms, SAN rules, TTL, approval, its ACME auth mode); `/acme/profile/{id}/...` serves any other',
  },
  CERTCTL_ACME_SERVER_DNS01_CONCURRENCY: {
    type: 'integer',
    default: '10',
    allowed: '1–1000',
    description: 'dns-01 validations one replica runs at once',
  },
  CERTCTL_ACME_SERVER_DNS01_RESOLVER: {
    type: 'string',
    description: '`IP:port` of the DNS server asked for dns-01 TXT records; unset = the system resolver.',
  },
  CERTCTL_ACME_SERVER_EAB_REQUIRED: {
    type: 'boolean',
    default: 'false',
    description:
      'newAccount needs an External Account Binding (needs `CERTCTL_CONFIG_ENCRYPTION_KEY`), for profiles whose `acme_eab_required` is unset',
  },
  CERTCTL_ACME_SERVER_ENABLED: {
    type: 'boolean',
    default: 'false',
    description:
      "Serve `/acme/...` (the plain `CERTCTL_ACME_*` names configure certctl's ACME client; a leftover server name such as `CERTCTL_ACME_ENABLED` stops boot naming its replacement)",
  },
  CERTCTL_ACME_SERVER_GC_INTERVAL: {
    type: 'duration',
    default: '10m',
    allowed: '1s–1d',
    description:
      'Period of the clean-up loop: expires orders and authorizations, deletes old failed orders, requeues lost validations (nonces expire in Redis)',
  },
  CERTCTL_ACME_SERVER_HTTP01_CONCURRENCY: {
    type: 'integer',
    default: '10',
    allowed: '1–1000',
    description: 'http-01 validations one replica runs at once',
  },
  CERTCTL_ACME_SERVER_HTTP01_PORT: {
    type: 'integer',
    default: '80',
    allowed: '1–65535',
    description: 'Port http-01 connects to (another port for labs and tests)',
  },
  CERTCTL_ACME_SERVER_ISSUER_ID: {
    type: 'string',
    default: 'iss-local',
    description: 'Issuer every ACME certificate comes from',
  },
  CERTCTL_ACME_SERVER_NONCE_TTL: {
    type: 'duration',
    default: '1h',
    allowed: '10s–1d',
    description: 'How long an issued `Replay-Nonce` can be redeemed',
  },
  CERTCTL_ACME_SERVER_ORDER_TTL: {
    type: 'duration',
    default: '24h',
    allowed: '1m–30d',
    description: 'How long a new order stays usable',
  },
  CERTCTL_ACME_SERVER_RATE_LIMIT_CHALLENGE_RESPONDS_PER_HOUR: {
    type: 'integer',
    default: '600',
    allowed: '0–1000000',
    description: 'Challenge responses (that start a validation) per account per hour; 0: no limit',
  },
  CERTCTL_ACME_SERVER_RATE_LIMIT_CONCURRENT_ORDERS: {
    type: 'integer',
    default: '300',
    allowed: '0–1000000',
    description: 'Unexpired `pending` orders per account (read from Postgres); 0: no limit',
  },
  CERTCTL_ACME_SERVER_RATE_LIMIT_KEY_CHANGE_PER_HOUR: {
    type: 'integer',
    default: '10',
    allowed: '0–1000000',
    description: 'keyChange requests per account per hour; 0: no limit',
  },
  CERTCTL_ACME_SERVER_RATE_LIMIT_ORDERS_PER_HOUR: {
    type: 'integer',
    default: '300',
    allowed: '0–1000000',
    description: 'Well-formed newOrder requests per account per hour; 0: no limit',
  },
  CERTCTL_ACME_SERVER_RESOLVE: {
    type: 'list',
    description: 'Static `name=IP,name=IP` map consulted before DNS for http-01 and tls-alpn-01',
  },
  CERTCTL_ACME_SERVER_TLSALPN01_CONCURRENCY: {
    type: 'integer',
    default: '10',
    allowed: '1–1000',
    description: 'tls-alpn-01 validations one replica runs at once',
  },
  CERTCTL_ACME_SERVER_TLSALPN01_PORT: {
    type: 'integer',
    default: '443',
    allowed: '1–65535',
    description: 'Port tls-alpn-01 validation connects to (another port for labs and tests).',
  },
  CERTCTL_ACME_SERVER_TOS_URL: {
    type: 'URL',
    description: 'Terms of service; when set, newAccount needs `termsOfServiceAgreed: true`',
  },
  CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS: {
    type: 'integer',
    default: '3',
    allowed: '1–10',
    description: 'Attempts (1 s apart) before a challenge is declared invalid (1-10)',
  },
  CERTCTL_ACME_SERVER_VALIDATION_TIMEOUT_MS: {
    type: 'integer',
    default: '5000',
    allowed: '100–60000',
    description: 'Limit of one validation attempt (100-60000)',
  },
  CERTCTL_ACME_SERVER_WEBSITE: {
    type: 'URL',
    description: '`meta.website` of the directory',
  },
  CERTCTL_AGENT_BOOTSTRAP_TOKEN: {
    type: 'string',
    description:
      'Shared enrollment secret for agents. An agent started with only a name and this token registers itself with `POST /api/v1/agents` and `Authorization: Bearer <token>` and receives its own agent id and API key (role `agent`, which can only act as that agent). Without it, only an API key granting `agent.edit` can register agents; registration is never open. An active agent name is registered once (409 afterwards). Failed credentials on that route are counted per client address in Redis: after 10 within a 15-minute window the address gets 429 (with `Retry-After`) until the window ends, even with the right token, and the lockout is audited (`agent_bootstrap_locked_out`); while Redis is unreachable the token is refused with 503. The token is compared in constant time and never logged.',
  },
  CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY: {
    type: 'boolean',
    default: 'false',
    description:
      '`true` makes the server refuse to start (exit status 2 with a message naming the variable) when `CERTCTL_AGENT_BOOTSTRAP_TOKEN` is unset, so a deployment that relies on agent self-enrollment cannot come up without its token. It does not switch off registration with an API key.',
  },
  CERTCTL_AGENT_OFFLINE_AFTER: {
    type: 'duration',
    default: '5m',
    description: 'Heartbeat age after which an agent is Offline.',
  },
  CERTCTL_APPROVAL_BYPASS: {
    type: 'boolean',
    default: 'false',
    description: 'Approval requests are approved at once by `system-bypass`. For development and CI only.',
  },
  CERTCTL_AUDIT_FLUSH_TIMEOUT_SECONDS: {
    type: 'integer',
    default: '10',
    allowed: '1–600',
    description: 'On shutdown, the longest the server waits for API audit writes that are still in flight.',
  },
  CERTCTL_BOOTSTRAP_TOKEN: {
    type: 'string',
    description:
      'One-time token for minting the first admin API key through `POST /api/v1/auth/bootstrap`. When set, the server does not print an initial admin key at startup. See [authentication.md](authentication.md#day-0-the-first-admin-key).',
  },
  CERTCTL_CA_CERT_PATH: {
    type: 'string',
    description:
      'Sub-CA mode of the built-in Local CA: PEM certificate of a CA signed by your enterprise root (e.g. ADCS). With `CERTCTL_CA_KEY_PATH`, boot creates the issuer `iss-local` ("Local CA") signing with these files, or points an existing `iss-local` at them (audited); no other issuer is touched. The files are checked first (readable, key matches, a CA certificate valid now): bad files stop the boot. Set both or neither.',
  },
  CERTCTL_CA_KEY_PATH: {
    type: 'string',
    description: 'Unencrypted PEM private key of `CERTCTL_CA_CERT_PATH`, readable by the server only.',
  },
  CERTCTL_CERT_EXPORT_RATE_LIMIT_PER_ACTOR_HR: {
    type: 'integer',
    default: '10',
    allowed: '1–100000',
    description: 'PKCS#12 exports per actor per hour.',
  },
  CERTCTL_CONFIG_ENCRYPTION_KEY: {
    type: 'string',
    description:
      'Passphrase that seals secrets in PostgreSQL: the secret part of issuer and deployment target configuration, Local CA keys, OCSP responder keys and server-generated keys (AES-256-GCM, key derived per value with PBKDF2-SHA256). Unset: `npm start` / the server binary generates one into `<data dir>/config-encryption.key` (0600) on first start and says so; replicas must all set the same value instead.',
  },
  CERTCTL_CORS_ORIGINS: {
    type: 'list',
    description:
      'Comma-separated list of browser origins allowed to read API responses cross-origin. Empty means no CORS headers are ever sent.',
  },
  CERTCTL_CRL_GENERATION_INTERVAL: {
    type: 'duration',
    default: '1h',
    description: 'How often CRLs are regenerated in the background (they are also regenerated after each revocation).',
  },
  CERTCTL_CRL_VALIDITY: {
    type: 'duration',
    default: '24h',
    description: 'nextUpdate - thisUpdate of a CRL; must be longer than the generation interval.',
  },
  CERTCTL_DATABASE_MAX_CONNS: {
    type: 'integer',
    default: '20',
    allowed: '2–500',
    description: 'Size of the connection pool of one server process.',
  },
  CERTCTL_DATABASE_URL: {
    type: 'URL',
    default: 'postgres://postgres@127.0.0.1:5432/certctl',
    description: 'PostgreSQL connection URL. The path names the database (`certctl` in the default).',
  },
  CERTCTL_DATA_DIR: {
    type: 'string',
    default: './data',
    description:
      'Directory for files the server writes (the generated TLS material in `tls/`). A relative path is resolved against the working directory.',
  },
  CERTCTL_DIGEST_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: '`true` sends the expiry digest on a schedule; `false`: the digest is only available through the API.',
  },
  CERTCTL_DIGEST_INTERVAL: {
    type: 'duration',
    default: '24h',
    allowed: '1s–720h',
    description: 'Time between scheduled digests.',
  },
  CERTCTL_DIGEST_RECIPIENTS: {
    type: 'list',
    description: "Comma-separated addresses (at most 100); unset: the certificates' owners.",
  },
  CERTCTL_EST_ALLOW_NAME_CHANGE: {
    type: 'boolean',
    default: 'false',
    description: 'simplereenroll may change subject and SANs.',
  },
  CERTCTL_EST_AUTH: {
    type: 'enum',
    default: 'basic',
    allowed: 'basic, mtls, both, either',
    description: 'How enrollment requests authenticate: HTTP Basic, a TLS client certificate, both, or either.',
  },
  CERTCTL_EST_AUTH_LOCKOUT: {
    type: 'duration',
    default: '15m',
    allowed: '1s–24h',
    description: 'Length of the lockout after too many failed Basic logins from one source IP (all labels).',
  },
  CERTCTL_EST_AUTH_MAX_FAILURES: {
    type: 'integer',
    default: '10',
    allowed: '1–1000000',
    description: 'Failed Basic logins per source IP before a lockout (all labels).',
  },
  CERTCTL_EST_CHANNEL_BINDING: {
    type: 'boolean',
    default: 'false',
    description: 'Require RFC 9266 tls-exporter channel binding in the CSR.',
  },
  CERTCTL_EST_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: 'Serve EST under `/.well-known/est/`. See [operator/est.md](operator/est.md).',
  },
  CERTCTL_EST_ISSUER_ID: { type: 'string', default: 'iss-local', description: 'Issuer of the label.' },
  CERTCTL_EST_PASSWORD: {
    type: 'string',
    description:
      'Plain Basic password of the label; hashed at startup (with a warning). Prefer `CERTCTL_EST_PASSWORD_HASH`.',
  },
  CERTCTL_EST_PASSWORD_HASH: {
    type: 'string',
    description: 'scrypt hash of the Basic password, as printed by `npm run est:hash-password`.',
  },
  CERTCTL_EST_PROFILES: {
    type: 'list',
    description:
      'Comma-separated names of extra EST labels, each served under `/.well-known/est/<label>/` and configured by `CERTCTL_EST_PROFILE_<LABEL>_<SETTING>`.',
  },
  CERTCTL_EST_PROFILE_ID: {
    type: 'string',
    description: 'Certificate profile of the label (key algorithms, SAN rules, TTL, approval).',
  },
  CERTCTL_EST_SERVERKEYGEN: { type: 'boolean', default: 'true', description: 'Offer `/serverkeygen`.' },
  CERTCTL_EST_TRUST_BUNDLE_PATH: {
    type: 'string',
    description: 'PEM CAs that TLS client certificates must chain to (`mtls`, `both`, `either`).',
  },
  CERTCTL_EST_USERNAME: {
    type: 'string',
    description: 'HTTP Basic user name of the label (with `CERTCTL_EST_PASSWORD_HASH` or `CERTCTL_EST_PASSWORD`).',
  },
  CERTCTL_ISSUER_ORDER_TIMEOUT: {
    type: 'duration',
    default: '72h',
    description: 'An order at an asynchronous issuer still pending after this long fails.',
  },
  CERTCTL_ISSUER_POLL_INTERVAL: {
    type: 'duration',
    default: '30s',
    description: 'First interval between polls of an order pending at an asynchronous issuer.',
  },
  CERTCTL_ISSUER_POLL_MAX_INTERVAL: {
    type: 'duration',
    default: '15m',
    description: 'Longest interval between polls of a pending order (the interval grows up to it).',
  },
  CERTCTL_ISSUER_POLL_TIMEOUT: {
    type: 'duration',
    default: '60s',
    description: 'Bound on one poll request to an issuer.',
  },
  CERTCTL_JOB_AWAITING_APPROVAL_TIMEOUT: {
    type: 'duration',
    default: '168h',
    description: 'A job waiting this long for approval fails for good: retrying it would bypass the approval.',
  },
  CERTCTL_JOB_AWAITING_CSR_TIMEOUT: {
    type: 'duration',
    default: '24h',
    description: "A job waiting this long for an agent's CSR fails (and may be retried).",
  },
  CERTCTL_JOB_RUNNING_TIMEOUT: {
    type: 'duration',
    default: '1h',
    description:
      'A job Running this long is presumed abandoned (the agent or server process that claimed it is gone) and fails, with attempts left for the retry loop. An issuance/renewal whose certificate version was already recorded is marked Completed instead.',
  },
  CERTCTL_JOB_TIMEOUT_INTERVAL: {
    type: 'duration',
    default: '10m',
    description: 'How often stalled waits and runs are timed out.',
  },
  CERTCTL_KEYGEN_MODE: {
    type: 'enum',
    default: 'agent',
    allowed: 'agent, server',
    description:
      "`agent`: private keys are generated by agents, jobs wait in `AwaitingCSR` for the agent's CSR and the server never sees a key. `server`: demo only, the server generates the key (first algorithm the profile allows, ECDSA P-256 by default), seals it in PostgreSQL, and warns at startup.",
  },
  CERTCTL_LOG_LEVEL: {
    type: 'enum',
    default: 'info',
    allowed: 'fatal, error, warn, info, debug, trace, silent',
    description: 'Lowest level written to the JSON log.',
  },
  CERTCTL_MAX_BODY_SIZE: {
    type: 'byte size',
    default: '1MiB',
    allowed: '1024 bytes–256MiB',
    description:
      'Largest accepted request body; larger bodies are refused with 413. A byte count, optionally with a unit: `B`, `K`/`KB` (1000), `KiB` (1024), `M`/`MB`, `MiB`.',
  },
  CERTCTL_NOTIFICATION_CONCURRENCY: {
    type: 'integer',
    default: '8',
    allowed: '2–64',
    description: 'Notification sends one server process runs at once.',
  },
  CERTCTL_NOTIFICATION_RETRY_INTERVAL: {
    type: 'duration',
    default: '1m',
    allowed: '100ms–1h',
    description: 'Loop that resends failed notifications whose backoff is over.',
  },
  CERTCTL_NOTIFICATION_TIMEOUT: {
    type: 'duration',
    default: '10s',
    allowed: '1s–120s',
    description: 'Deadline of one send, every channel.',
  },
  CERTCTL_OCSP_CACHE_MAX_ENTRIES: {
    type: 'integer',
    default: '20000',
    allowed: '0–10000000',
    description:
      "Pre-signed OCSP responses each replica keeps in memory (least recently used go first; about 2 KiB of memory each, some 40 MB when full at the default; raise it when more certificates are queried often), keyed on the exact request so a repeated nonce-less request is answered without parsing or a database query. Revocations reach every replica through PostgreSQL `LISTEN`/`NOTIFY`; while a replica's listening connection is down it does not use this cache. `0` = off.",
  },
  CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: {
    type: 'integer',
    default: '0',
    allowed: '0–10000000',
    description: 'OCSP requests per client IP per minute; `0` = no limit.',
  },
  CERTCTL_OCSP_RESPONDER_ROTATION_GRACE: {
    type: 'duration',
    default: '168h',
    description: 'A responder certificate is replaced this long before it expires.',
  },
  CERTCTL_OCSP_RESPONDER_VALIDITY: {
    type: 'duration',
    default: '720h',
    description: 'Lifetime of the delegated OCSP responder certificate of each CA.',
  },
  CERTCTL_OCSP_RESPONSE_VALIDITY: {
    type: 'duration',
    default: '1h',
    description: 'nextUpdate - thisUpdate of a pre-signed OCSP response.',
  },
  CERTCTL_OPSGENIE_API_KEY: { type: 'string', description: 'Opsgenie API key; turns the Opsgenie channel on.' },
  CERTCTL_OPSGENIE_API_URL: { type: 'URL', description: 'Opsgenie API base URL; unset = `https://api.opsgenie.com`.' },
  CERTCTL_OPSGENIE_PRIORITY: {
    type: 'enum',
    allowed: 'P1, P2, P3, P4, P5',
    description:
      "Least urgent Opsgenie priority sent (a floor): a less urgent alert is raised to it, a more urgent one keeps its own (P1 critical, P3 warning, P5 info). Unset: the event's own. Needs `CERTCTL_OPSGENIE_API_KEY`.",
  },
  CERTCTL_PAGERDUTY_API_URL: {
    type: 'URL',
    description: 'PagerDuty Events API base URL; unset = `https://events.pagerduty.com`.',
  },
  CERTCTL_PAGERDUTY_ROUTING_KEY: {
    type: 'string',
    description: 'PagerDuty Events v2 routing key; turns the PagerDuty channel on.',
  },
  CERTCTL_PAGERDUTY_SEVERITY: {
    type: 'enum',
    allowed: 'info, warning, error, critical',
    description:
      "Lowest PagerDuty `payload.severity` sent (a floor): a less severe event is raised to it, a more severe one keeps its own. Unset: the event's own (info, warning or critical). Needs `CERTCTL_PAGERDUTY_ROUTING_KEY`.",
  },
  CERTCTL_PKI_HTTP_HOST: {
    type: 'string',
    allowed: 'an IP address or localhost',
    description:
      'Address the plain-HTTP PKI listener (`CERTCTL_PKI_HTTP_PORT`) binds to. Unset: `CERTCTL_SERVER_HOST`.',
  },
  CERTCTL_PKI_HTTP_PORT: {
    type: 'integer',
    allowed: '1–65535',
    description:
      'Starts a second, plain-HTTP listener on `api` and `all` replicas that serves only `/.well-known/pki/*` (CRLs, OCSP GET and POST, CA certificates; anything else answers 404), for relying parties that fetch revocation data over HTTP. Unset: no such listener. See [Serving CRLs and OCSP over plain HTTP](issuance.md#serving-crls-and-ocsp-over-plain-http).',
  },
  CERTCTL_PKI_PUBLIC_URL: {
    type: 'URL',
    description:
      'Base of the CRL distribution point and AIA (OCSP, CA issuers) URLs put in certificates, `http://` or `https://` (no credentials, query or fragment), usually the external address of `CERTCTL_PKI_HTTP_PORT`. Unset: `CERTCTL_PUBLIC_URL`, else the HTTPS listener. An `http://` value without `CERTCTL_PKI_HTTP_PORT` is accepted (something in front serves HTTP) with a notice at boot.',
  },
  CERTCTL_PUBLIC_URL: {
    type: 'URL',
    description:
      'The external `https://` URL clients use to reach the server (ACME, EST and SCEP URLs); base of the CRL and OCSP URLs put in certificates unless `CERTCTL_PKI_PUBLIC_URL` is set.',
  },
  CERTCTL_RATE_LIMIT_BURST: {
    type: 'integer',
    default: '100',
    allowed: '1–1000000',
    description: 'Burst limit per client address: at most this many requests in each 1-second window.',
  },
  CERTCTL_RATE_LIMIT_ENABLED: { type: 'boolean', default: 'false', description: 'Turns rate limiting on.' },
  CERTCTL_RATE_LIMIT_PER_USER_BURST: {
    type: 'integer',
    default: '40',
    allowed: '1–1000000',
    description: 'Burst limit per credential: at most this many requests in each 1-second window.',
  },
  CERTCTL_RATE_LIMIT_PER_USER_RPS: {
    type: 'integer',
    default: '20',
    allowed: '1–1000000',
    description: 'Sustained limit per credential: at most RPS × 60 requests in each 60-second window.',
  },
  CERTCTL_RATE_LIMIT_RPS: {
    type: 'integer',
    default: '50',
    allowed: '1–1000000',
    description: 'Sustained limit per client address: at most RPS × 60 requests in each 60-second window.',
  },
  CERTCTL_REDIS_PREFIX: {
    type: 'string',
    default: 'certctl',
    allowed: '1–64 of A–Z a–z 0–9 _ . : -',
    description:
      'Prefix of every Redis key the server writes: `<prefix>:throttle:...` for rate limiting and `<prefix>:bull:...` for queues. Use distinct prefixes to share one Redis between installations.',
  },
  CERTCTL_REDIS_URL: {
    type: 'URL',
    default: 'redis://127.0.0.1:6379',
    description:
      'Redis connection URL. Redis holds the rate-limit counters and the BullMQ queues. User name, password (`redis://user:pass@host:6379`) and database number (`/2`) are taken from the URL.',
  },
  CERTCTL_RENEWAL_CONCURRENCY: {
    type: 'integer',
    default: '4',
    allowed: '1–64',
    description: 'Issuance/renewal jobs one process runs at once.',
  },
  CERTCTL_ROLE: {
    type: 'enum',
    default: 'all',
    allowed: 'all, api, worker',
    description:
      'What this process runs. `all`: everything. `api`: the HTTP API and protocol endpoints; it enqueues work (and still runs in-request enrollments) but consumes no queue and runs no periodic loop, so at least one `worker` or `all` replica must run beside it. `worker`: queue consumers and periodic loops; its port answers only `/health`, `/ready` and `/api/v1/metrics/prometheus` (404 for everything else).',
  },
  CERTCTL_SCEP_CHALLENGE_PASSWORD: {
    type: 'string',
    description: 'Static challenge (8+ characters). A label without it and without Intune refuses to start.',
  },
  CERTCTL_SCEP_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: 'Serve SCEP under `/scep`. See [operator/scep.md](operator/scep.md).',
  },
  CERTCTL_SCEP_INTUNE_AUDIENCE: {
    type: 'string',
    description: 'Audience the Intune challenge must name. See [operator/intune.md](operator/intune.md).',
  },
  CERTCTL_SCEP_INTUNE_DEVICE_RATE_LIMIT: {
    type: 'integer',
    default: '10',
    allowed: '1–100000',
    description: 'Intune enrollments per device per hour.',
  },
  CERTCTL_SCEP_INTUNE_ENABLED: {
    type: 'boolean',
    default: 'false',
    description: 'Accept Intune dynamic challenges. See [operator/intune.md](operator/intune.md).',
  },
  CERTCTL_SCEP_INTUNE_MAX_SKEW: {
    type: 'duration',
    default: '5m',
    allowed: '0s–1h',
    description: 'Clock skew tolerated on the Intune challenge validity.',
  },
  CERTCTL_SCEP_INTUNE_TRUST_ANCHOR_PATH: {
    type: 'string',
    description: 'PEM certificate or public key that signs the Intune challenges.',
  },
  CERTCTL_SCEP_ISSUER_ID: { type: 'string', default: 'iss-local', description: 'Issuer of the label.' },
  CERTCTL_SCEP_PROFILES: {
    type: 'list',
    description:
      'Comma-separated names of extra SCEP labels, each configured by `CERTCTL_SCEP_PROFILE_<LABEL>_<SETTING>`.',
  },
  CERTCTL_SCEP_PROFILE_ID: { type: 'string', description: 'Certificate profile of the label.' },
  CERTCTL_SCEP_RA_CERT_PATH: {
    type: 'string',
    description:
      'RSA RA certificate (PEM) of the label; with `CERTCTL_SCEP_RA_KEY_PATH`. Generated and stored per label when unset.',
  },
  CERTCTL_SCEP_RA_KEY_PATH: {
    type: 'string',
    description: 'RSA private key of `CERTCTL_SCEP_RA_CERT_PATH` (file mode 0600).',
  },
  CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: {
    type: 'duration',
    default: '2m',
    description: 'How often agents without a recent heartbeat are marked Offline.',
  },
  CERTCTL_SCHEDULER_JOB_CLAIM_LIMIT: {
    type: 'integer',
    default: '100',
    allowed: '1–10000',
    description: 'The most jobs one loop tick moves.',
  },
  CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL: {
    type: 'duration',
    default: '30s',
    description: 'How often Pending jobs that are due are (re-)queued, e.g. those created while Redis was away.',
  },
  CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL: {
    type: 'duration',
    default: '30s',
    description: 'Safety-net loop that sends new and pending notifications.',
  },
  CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: {
    type: 'duration',
    default: '1h',
    description:
      "How often certificates are checked for expiry: statuses, threshold alerts and renewal jobs. A certificate renews when the time left is under its policy's renewal window (30 days by default), or under a third of its lifetime when that is shorter (a 7-day certificate renews with about 2.3 days left, not on every check).",
  },
  CERTCTL_SCHEDULER_RETRY_INTERVAL: {
    type: 'duration',
    default: '5m',
    description:
      'How often Failed jobs with attempts left go back to Pending (after a backoff of 2^attempts minutes, at most one hour).',
  },
  CERTCTL_SERVER_HOST: {
    type: 'string',
    default: '127.0.0.1',
    allowed: 'an IP address or localhost',
    description:
      'Address the HTTPS listener binds to. Use `0.0.0.0` (or `::`) to accept connections on all interfaces, as in a container.',
  },
  CERTCTL_SERVER_PORT: {
    type: 'integer',
    default: '8443',
    allowed: '0–65535',
    description: 'TCP port of the HTTPS listener.',
  },
  CERTCTL_SERVER_TLS_CERT_PATH: {
    type: 'string',
    description:
      'PEM file with the server certificate, optionally followed by its intermediate certificates. See [TLS](configuration.md#tls).',
  },
  CERTCTL_SERVER_TLS_KEY_PATH: { type: 'string', description: 'PEM file with the private key of that certificate.' },
  CERTCTL_SERVER_TLS_RELOAD_INTERVAL: {
    type: 'duration',
    default: '1m',
    allowed: '0 (off), 1s–1d',
    description:
      "How often each replica re-reads its TLS certificate and key files and, when they changed and the pair is usable (key matches, valid now), serves the new certificate to new connections without a restart (same TLS settings). A changed but unusable pair is refused with a warning naming the files, and the previous certificate stays; `certctl_server_tls_reloads_total{result}` counts both. Without configured files it re-runs the generated certificate's re-issue check. `0` = read once at startup only. See [TLS](configuration.md#tls).",
  },
  CERTCTL_SHORT_LIVED_EXPIRY_CHECK_INTERVAL: {
    type: 'duration',
    default: '30s',
    description: 'How often short-lived certificates (profile TTL under one hour) are marked Expired.',
  },
  CERTCTL_SLACK_CHANNEL: {
    type: 'string',
    description:
      "Channel the Slack message goes to instead of the webhook's own: `#name` or a channel ID (`C0123456789`). Honoured by legacy incoming webhooks only; Slack-app webhooks ignore it.",
  },
  CERTCTL_SLACK_USERNAME: {
    type: 'string',
    description:
      'Name the Slack message is posted under (at most 80 characters). Honoured by legacy incoming webhooks only; Slack-app webhooks post as the app.',
  },
  CERTCTL_SLACK_WEBHOOK_URL: { type: 'URL', description: 'Slack incoming webhook URL; turns the Slack channel on.' },
  CERTCTL_SMTP_FROM_ADDRESS: { type: 'string', description: 'Sender address; required when email is on.' },
  CERTCTL_SMTP_HOST: { type: 'string', description: 'SMTP server host; turns the email channel on.' },
  CERTCTL_SMTP_PASSWORD: { type: 'string', description: 'SMTP password; set together with `CERTCTL_SMTP_USERNAME`.' },
  CERTCTL_SMTP_PORT: { type: 'integer', description: 'SMTP port; unset = 587 (465 with implicit TLS).' },
  CERTCTL_SMTP_RECIPIENTS: {
    type: 'list',
    description:
      "Comma-separated default recipients, used when neither the certificate's owner nor its team has an email address.",
  },
  CERTCTL_SMTP_TLS_SERVER_NAME: {
    type: 'string',
    description: 'Name checked in the SMTP server certificate when the host is an IP address.',
  },
  CERTCTL_SMTP_USERNAME: { type: 'string', description: 'SMTP user name; set together with `CERTCTL_SMTP_PASSWORD`.' },
  CERTCTL_SMTP_USE_TLS: {
    type: 'boolean',
    default: 'true',
    description: '`true`: STARTTLS (implicit TLS on port 465); `false`: plain SMTP.',
  },
  CERTCTL_TEAMS_WEBHOOK_URL: { type: 'URL', description: 'Microsoft Teams webhook URL; turns the Teams channel on.' },
  CERTCTL_TRUSTED_PROXIES: {
    type: 'list',
    description:
      'Comma-separated reverse proxies whose `X-Forwarded-For` header the server believes when it determines the client address. The client address keys the per-address rate limits and is stored as `source_ip` in API audit rows. Empty means the address of the TCP peer is used.',
  },
  CERTCTL_WEBHOOK_SECRET: { type: 'string', description: 'HMAC secret signing generic webhook deliveries.' },
  CERTCTL_WEBHOOK_URL: { type: 'URL', description: 'Generic webhook URL; turns the webhook channel on.' },
};

/** Variables that switch optional parts of the loader on, so that what they read is seen too. */
const PROBES: Record<string, string>[] = [
  {},
  {
    CERTCTL_EST_ENABLED: 'true',
    CERTCTL_EST_AUTH: 'both',
    CERTCTL_EST_PROFILES: PROBE_LABEL,
    CERTCTL_SCEP_ENABLED: 'true',
    CERTCTL_SCEP_PROFILES: PROBE_LABEL,
    CERTCTL_SCEP_INTUNE_ENABLED: 'true',
    CERTCTL_SCEP_INTUNE_AUDIENCE: 'x',
    CERTCTL_SCEP_INTUNE_TRUST_ANCHOR_PATH: 'x',
    [`CERTCTL_SCEP_PROFILE_${PROBE_LABEL.toUpperCase()}_INTUNE_ENABLED`]: 'true',
    [`CERTCTL_SCEP_PROFILE_${PROBE_LABEL.toUpperCase()}_INTUNE_AUDIENCE`]: 'x',
    [`CERTCTL_SCEP_PROFILE_${PROBE_LABEL.toUpperCase()}_INTUNE_TRUST_ANCHOR_PATH`]: 'x',
    CERTCTL_ACME_SERVER_ENABLED: 'true',
    CERTCTL_DIGEST_ENABLED: 'true',
    CERTCTL_SMTP_HOST: 'smtp.example.com',
  },
];

/**
 * Every CERTCTL_* variable loadConfig reads, found by running it over environments that
 * record each name asked for. Named EST/SCEP label variables come back with `<LABEL>`.
 */
export function variablesReadByConfig(): string[] {
  const seen = new Set<string>();
  const probeInfix = `_PROFILE_${PROBE_LABEL.toUpperCase()}_`;
  for (const probe of PROBES) {
    const env = new Proxy(
      { ...probe },
      {
        get(target, key) {
          if (typeof key === 'string') seen.add(key.replace(probeInfix, `_PROFILE_${LABEL_PLACEHOLDER}_`));
          return target[key as string];
        },
      },
    );
    try {
      loadConfig(env);
    } catch {
      // A probe need not be a valid configuration: only the names read matter.
    }
  }
  return [...seen].filter((k) => k.startsWith('CERTCTL_')).sort();
}

/** `CERTCTL_EST_PROFILE_<LABEL>_AUTH` -> `CERTCTL_EST_AUTH`; other names unchanged. */
export function defaultLabelVariable(name: string): string {
  return name.replace(`_PROFILE_${LABEL_PLACEHOLDER}_`, '_');
}

const cell = (s: string | undefined): string => (s ? s.replace(/\|/g, '\\|').replace(/\n/g, ' ') : '');
const code = (s: string | undefined): string => (s === undefined ? 'unset' : s === '' ? 'empty' : `\`${s}\``);

/** The Markdown document, from the variables the loader reads and their descriptions. */
export function renderConfigReference(read: readonly string[] = variablesReadByConfig()): string {
  const missing = read.filter((v) => !CONFIG_VARIABLES[defaultLabelVariable(v)]);
  if (missing.length) throw new Error(`no description in CONFIG_VARIABLES for: ${missing.join(', ')}`);
  const plain = read.filter((v) => !v.includes(LABEL_PLACEHOLDER));
  const labelled = read.filter((v) => v.includes(LABEL_PLACEHOLDER));
  const row = (name: string, doc: VariableDoc, description: string): string =>
    `| \`${name}\` | ${doc.type} | ${code(doc.default)} | ${cell(doc.allowed)} | ${cell(description)} |`;
  const header = ['| Variable | Type | Default | Allowed | Description |', '| --- | --- | --- | --- | --- |'];
  return [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` from apps/server/src/cli/config-reference.ts; do not edit. -->',
    '',
    'Every `CERTCTL_*` variable the server reads at startup, generated from the configuration',
    'loader. How values are validated and what happens on a bad value is described in',
    '[configuration.md](configuration.md). Durations take Go-style values (`30s`, `5m`, `24h`,',
    '`1h30m`, `7d`); booleans take `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; lists are',
    'comma-separated. An empty value counts as unset.',
    '',
    `## Variables (${plain.length})`,
    '',
    ...header,
    ...plain.map((v) => row(v, CONFIG_VARIABLES[v], CONFIG_VARIABLES[v].description)),
    '',
    `## Per-label EST and SCEP variables (${labelled.length})`,
    '',
    'Each label named in `CERTCTL_EST_PROFILES` or `CERTCTL_SCEP_PROFILES` is configured by these',
    'variables, with `<LABEL>` the label upper-cased and `-` written `_`. Each means what the',
    'variable of the default label does.',
    '',
    ...header,
    ...labelled.map((v) => {
      const base = defaultLabelVariable(v);
      return row(v, CONFIG_VARIABLES[base], `As \`${base}\`, for the named label.`);
    }),
    '',
  ].join('\n');
}

/**
 * The document as committed: renderConfigReference() laid out by prettier with the repository's
 * settings, so that `npm run format` leaves it unchanged.
 */
export async function configReferenceDocument(read?: readonly string[]): Promise<string> {
  // The repository's .prettierrc, found upwards from here (source tree or dist/).
  let dir = __dirname;
  while (!existsSync(join(dir, '.prettierrc')) && dirname(dir) !== dir) dir = dirname(dir);
  const rc = join(dir, '.prettierrc');
  const options = JSON.parse(readFileSync(rc, 'utf8')) as Record<string, unknown>;
  return format(renderConfigReference(read), { ...options, parser: 'markdown', plugins: [markdown] });
}
