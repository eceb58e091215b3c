import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, ErrorCode } from '@certctl/domain';
import { errorBody } from './error-body';
import type { CertctlRequest } from './request-context';

const DOMAIN_STATUS: Record<ErrorCode, number> = {
  [ErrorCode.Validation]: HttpStatus.BAD_REQUEST,
  [ErrorCode.Unauthenticated]: HttpStatus.UNAUTHORIZED,
  [ErrorCode.Forbidden]: HttpStatus.FORBIDDEN,
  [ErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [ErrorCode.Conflict]: HttpStatus.CONFLICT,
  [ErrorCode.Gone]: HttpStatus.GONE,
  [ErrorCode.PayloadTooLarge]: HttpStatus.PAYLOAD_TOO_LARGE,
  [ErrorCode.RateLimited]: HttpStatus.TOO_MANY_REQUESTS,
  [ErrorCode.Unavailable]: HttpStatus.SERVICE_UNAVAILABLE,
};

/** Errors raised by body-parser and raw-body carry `type` and `status`. */
interface BodyParserError {
  type: string;
  status: number;
  message: string;
  limit?: number;
}

function isBodyParserError(e: unknown): e is BodyParserError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as BodyParserError).type === 'string' &&
    typeof (e as BodyParserError).status === 'number'
  );
}

function bodyParserMessage(e: BodyParserError): string {
  switch (e.type) {
    case 'entity.too.large':
      return `request body exceeds the ${e.limit ?? ''} byte limit (CERTCTL_MAX_BODY_SIZE)`.replace('  ', ' ');
    case 'entity.parse.failed':
      return `malformed JSON body: ${e.message}`;
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return e.message;
    case 'request.aborted':
      return 'request body was aborted by the client';
    case 'request.size.invalid':
      return 'request body length does not match Content-Length';
    default:
      return e.message;
  }
}

function httpExceptionMessage(e: HttpException): string {
  const r = e.getResponse();
  if (typeof r === 'string') return r;
  const m = (r as { message?: unknown }).message;
  if (Array.isArray(m)) return m.join('; ');
  if (typeof m === 'string') return m;
  return e.message;
}

/**
 * The one HTTP exception filter: maps domain errors, Nest HTTP exceptions and body
 * parser errors to `{error, message, request_id}`; everything else is an opaque 500
 * whose stack goes to the log under the request id.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<CertctlRequest>();
    const res = ctx.getResponse<Response>();
    const requestId = req.id ?? 'unknown';

    let status: number;
    let message: string;
    let details: Record<string, unknown> | undefined;
    let topLevel: Record<string, unknown> | undefined;
    if (exception instanceof DomainError) {
      status = DOMAIN_STATUS[exception.code];
      message = exception.message;
      details = exception.details;
      topLevel = exception.topLevel;
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      message = httpExceptionMessage(exception);
    } else if (isBodyParserError(exception) && exception.status >= 400 && exception.status < 500) {
      status = exception.status;
      message = bodyParserMessage(exception);
    } else {
      status = HttpStatus.INTERNAL_SERVER_ERROR;
      message = `internal error; quote request id ${requestId} to an operator`;
      this.logger.error(
        { err: exception, request_id: requestId },
        exception instanceof Error ? exception.stack : String(exception),
      );
    }

    if (res.headersSent) {
      res.end();
      return;
    }
    if (status === 429) setPlainRetryAfter(res);
    res.status(status).json(errorBody(status, message, requestId, details, topLevel));
  }
}

/**
 * The throttler sets one `Retry-After-<throttler>` header per limit it checked; clients
 * (and CORS, which exposes `Retry-After`) expect the standard header: the longest wait.
 */
function setPlainRetryAfter(res: Response): void {
  if (res.getHeader('Retry-After') !== undefined) return;
  let wait = 0;
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (name.startsWith('retry-after-')) wait = Math.max(wait, Number(value) || 0);
  }
  res.setHeader('Retry-After', String(Math.max(1, Math.ceil(wait))));
}
