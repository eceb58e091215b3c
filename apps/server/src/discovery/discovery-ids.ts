import { notFound } from '@certctl/domain';
import { plausibleId } from '../certificates/certificate-input';

/** Id prefixes of this context's generated ids (`dc-…` discovered certificates, `ds-…` scans). */
export const DISCOVERY_ID_PREFIX = 'dc';
export const SCAN_ID_PREFIX = 'ds';

/** A path id that cannot exist is a 404 before any query (a control character would upset Postgres). */
export function checkDiscoveryId(id: string): void {
  if (!plausibleId(id)) throw notFound('discovered certificate', id);
}
