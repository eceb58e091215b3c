import { HttpException, HttpStatus } from '@nestjs/common';
import type { Request } from 'express';

/**
 * Reads a protocol request body (EST, SCEP) as bytes, at most `limit` of them: the
 * declared length is checked first, then the bytes as they arrive (chunked uploads), so an
 * oversized body is a 413 and never sits whole in memory.
 */
export async function readRawBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(declared, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit) {
      req.unpipe();
      throw tooLarge(size, limit);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(n: number, limit: number): HttpException {
  return new HttpException(
    `request body of ${n}+ bytes exceeds the ${limit} byte limit of this endpoint`,
    HttpStatus.PAYLOAD_TOO_LARGE,
  );
}
