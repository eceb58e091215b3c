import type { AcmeAccountKey } from './acme-client';

/**
 * Where the ACME account lives: one key per issuer and directory, stored sealed in the
 * database so every replica signs as the same account.
 */
export interface AcmeAccountStore {
  /**
   * The stored account, or a new one made from `newKeyPem()` and stored first. Two replicas
   * creating it at once end up with the same (first stored) key.
   */
  load(issuerId: string, directoryUrl: string, newKeyPem: () => Promise<string>): Promise<AcmeAccountKey>;
  saveAccountUrl(issuerId: string, directoryUrl: string, accountUrl: string): Promise<void>;
}

/**
 * The built-in http-01 responder: key authorizations published here are served at
 * `/.well-known/acme-challenge/<token>` by every replica (the CA may reach any of them).
 */
export interface Http01Publisher {
  /** Where the responder listens on this replica, or undefined when it is off. */
  readonly listenAddress: string | undefined;
  publish(token: string, keyAuthorization: string): Promise<void>;
  withdraw(token: string): Promise<void>;
}

/** The certificates an issuer issued: revokeCert needs the certificate itself, not its serial. */
export interface IssuedCertificateLookup {
  certificatePem(issuerId: string, serialHex: string): Promise<string | undefined>;
}

/** What the server gives the ACME connector (implemented in apps/server/src/issuers/acme). */
export interface AcmeConnectorDeps {
  accounts: AcmeAccountStore;
  http01: Http01Publisher;
  certificates: IssuedCertificateLookup;
}
