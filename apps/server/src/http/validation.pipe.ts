import { ArgumentMetadata, BadRequestException, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';

function flatten(errors: ValidationError[], parent = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = parent ? `${parent}.${e.property}` : e.property;
    for (const msg of Object.values(e.constraints ?? {})) {
      if (msg.startsWith(`property ${e.property} `)) out.push(`${path}: unknown field`);
      else out.push(`${path}: ${msg.startsWith(`${e.property} `) ? msg.slice(e.property.length + 1) : msg}`);
    }
    if (e.children?.length) out.push(...flatten(e.children, path));
  }
  return out;
}

/**
 * Strict DTO validation: unknown fields are rejected, types are converted only where the
 * DTO says so, and every message names the field (`body.name: must be a string`).
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      stopAtFirstError: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => new BadRequestException(flatten(errors).join('; ') || 'invalid request'),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && metadata.metatype && this.toValidate(metadata)) {
      // No body at all is an empty object: a DTO with only optional fields accepts it, a
      // DTO with required ones names them. A body that is JSON but not an object is refused.
      if (value === undefined) value = {};
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new BadRequestException('request body must be a JSON object');
      }
    }
    const where = metadata.type === 'custom' ? 'param' : metadata.type;
    try {
      return await super.transform(value, metadata);
    } catch (e) {
      if (e instanceof BadRequestException) {
        const msg = (e.getResponse() as { message?: string }).message ?? e.message;
        throw new BadRequestException(typeof msg === 'string' ? prefix(where, msg) : msg);
      }
      throw e;
    }
  }
}

function prefix(where: string, msg: string): string {
  return msg
    .split('; ')
    .map((m) => (m.startsWith(`${where}.`) || !/^[\w.[\]]+: /.test(m) ? m : `${where}.${m}`))
    .join('; ');
}
