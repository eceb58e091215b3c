import { DomainError, ErrorCode } from '@certctl/domain';

/**
 * Whether a job's failure is for good: a domain error (bad input, a policy or a CA refusing
 * the request itself) is; an outage (transport error, 5xx, no answer in time), a rate limit
 * or an unexpected error leaves the attempts to the retry loop.
 */
export function isPermanentJobFailure(e: unknown): boolean {
  return e instanceof DomainError && e.code !== ErrorCode.Unavailable && e.code !== ErrorCode.RateLimited;
}
