/** A non-2xx answer from the certctl API, with the fields of its error body. */
export class ApiError extends Error {
  constructor(
    /** HTTP status code. */
    readonly status: number,
    /** The status text the server put in `error` (e.g. `Conflict`). */
    readonly error: string,
    message: string,
    /** The server's request id: quote it to an operator. */
    readonly request_id: string | undefined,
    /** Extra structured fields of the error body (`details`, or the whole body when it has other keys). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Builds the error from a response and its body (already parsed as JSON when it was JSON, else text). */
  static from(response: Pick<Response, 'status' | 'statusText' | 'headers'>, body: unknown): ApiError {
    const obj =
      typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
    const error = str(obj.error) ?? (response.statusText || `HTTP ${response.status}`);
    const text = typeof body === 'string' ? body.trim().slice(0, 500) : '';
    const message = str(obj.message) ?? (text || `${response.status} ${error}`);
    const requestId = str(obj.request_id) ?? response.headers.get('x-request-id') ?? undefined;
    const { error: _e, message: _m, request_id: _r, details, ...rest } = obj;
    const extra =
      typeof details === 'object' && details !== null
        ? (details as Record<string, unknown>)
        : Object.keys(rest).length
          ? rest
          : undefined;
    return new ApiError(response.status, error, message, requestId, extra);
  }
}

export function isApiError(e: unknown, status?: number): e is ApiError {
  return e instanceof ApiError && (status === undefined || e.status === status);
}

/** What every openapi-fetch call resolves to. */
export interface FetchResult<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/**
 * The body of a 2xx answer, or an ApiError for anything else. Transport failures (refused
 * connection, TLS, timeout) stay the errors fetch threw.
 */
export async function unwrap<D>(call: Promise<FetchResult<D>>): Promise<D> {
  const r = await call;
  if (r.response.ok) return r.data as D;
  throw ApiError.from(r.response, r.error);
}
