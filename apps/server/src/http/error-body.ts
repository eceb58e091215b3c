import { STATUS_CODES } from 'node:http';

/** The one error shape every HTTP error takes. */
export interface ErrorBody {
  error: string;
  message: string;
  request_id: string;
  details?: Record<string, unknown>;
}

export function errorBody(
  status: number,
  message: string,
  requestId: string,
  details?: Record<string, unknown>,
  topLevel?: Record<string, unknown>,
): ErrorBody {
  return {
    ...topLevel,
    error: STATUS_CODES[status] ?? 'Error',
    message,
    request_id: requestId,
    ...(details ? { details } : {}),
  };
}
