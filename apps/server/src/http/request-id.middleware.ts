import { randomUUID } from 'node:crypto';
import type { NextFunction, Response } from 'express';
import type { CertctlRequest } from './request-context';

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * First in the pipeline: every request gets an id (the client's X-Request-ID when it is
 * well-formed, else a new UUID), echoed back so a caller can quote it to an operator.
 */
export function requestIdMiddleware(req: CertctlRequest, res: Response, next: NextFunction): void {
  const given = req.headers['x-request-id'];
  req.id = typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
  req.startedAt = process.hrtime.bigint();
  res.setHeader('X-Request-ID', req.id);
  next();
}
