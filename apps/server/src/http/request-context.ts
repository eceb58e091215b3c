import type { Request } from 'express';
import type { ActorType, Permission } from '@certctl/domain';

/** Who is calling, as established by the auth guard. */
export interface Principal {
  actorId: string;
  actorType: ActorType;
  /** The API key used, when the credential was one. */
  keyId?: string;
  keyName?: string;
  roles: string[];
  permissions: ReadonlySet<Permission>;
}

/** Request fields the pipeline adds. */
export interface CertctlRequest extends Request {
  id: string;
  principal?: Principal;
  /** First 16 hex chars of SHA-256 over the raw request body. */
  bodySha256?: string;
  startedAt?: bigint;
}
