/**
 * Domain errors carry a stable code; each transport (HTTP, queue, MCP) maps the code
 * to its own representation in exactly one place.
 */
export enum ErrorCode {
  Validation = 'validation',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  NotFound = 'not_found',
  Conflict = 'conflict',
  Gone = 'gone',
  PayloadTooLarge = 'payload_too_large',
  RateLimited = 'rate_limited',
  Unavailable = 'unavailable',
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra machine-readable context returned to the client (never secrets). */
    readonly details?: Record<string, unknown>,
    /**
     * Fields placed at the top level of the error body, for the few responses whose shape
     * clients already parse that way (an agent retirement blocked by its dependencies).
     */
    readonly topLevel?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (resource: string, id: string): DomainError =>
  new DomainError(ErrorCode.NotFound, `${resource} ${JSON.stringify(id)} not found`);

export const conflict = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError(ErrorCode.Conflict, message, details);

export const invalid = (message: string, details?: Record<string, unknown>): DomainError =>
  new DomainError(ErrorCode.Validation, message, details);

export const forbidden = (message: string): DomainError => new DomainError(ErrorCode.Forbidden, message);

export const unauthenticated = (message: string): DomainError => new DomainError(ErrorCode.Unauthenticated, message);

export const gone = (message: string): DomainError => new DomainError(ErrorCode.Gone, message);
