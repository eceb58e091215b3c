import type { ArgumentMetadata } from '@nestjs/common';
import { StrictValidationPipe } from '../../http/validation.pipe';
import { CreateOwnerDto, OwnerListQueryDto, UpdateOwnerDto } from './owner.dto';

const pipe = new StrictValidationPipe();

async function errorOf(value: unknown, metatype: ArgumentMetadata['metatype'], type: 'body' | 'query' = 'body') {
  try {
    await pipe.transform(value, { type, metatype });
    return undefined;
  } catch (e) {
    return (e as { message: string }).message;
  }
}

describe('owner DTOs', () => {
  it('accepts a minimal and a full create body', async () => {
    expect(await errorOf({ name: 'Alice', email: 'alice@example.com' }, CreateOwnerDto)).toBeUndefined();
    expect(
      await errorOf({ id: 'o-alice', name: 'Alice', email: 'alice@example.com', team_id: 'team-a' }, CreateOwnerDto),
    ).toBeUndefined();
    expect(await errorOf({ name: 'Alice', email: 'alice@example.com', team_id: null }, CreateOwnerDto)).toBeUndefined();
  });

  it.each([
    [{ name: 'A', email: 'nope' }, 'body.email: must be a valid email address'],
    [{ name: 'A', email: 42 }, 'body.email: must be a string'],
    [
      { name: 'A', email: `${'a'.repeat(250)}@example.com` },
      'body.email: must be shorter than or equal to 254 characters',
    ],
    [{ name: 42, email: 'a@example.com' }, 'body.name: must be a string'],
    [{ name: '', email: 'a@example.com' }, 'body.name: must not be blank'],
    [{ name: ' \t', email: 'a@example.com' }, 'body.name: must not be blank'],
    [{ name: 'A', email: 'a@example.com', team_id: 'Team A' }, 'body.team_id: must be 1-128 lowercase'],
    [{ name: 'A', email: 'a@example.com', role: 'x' }, 'body.role: unknown field'],
  ])('rejects create %j', async (body, message) => {
    expect(await errorOf(body, CreateOwnerDto)).toContain(message);
  });

  it('lets an update omit anything but never null out a required column', async () => {
    expect(await errorOf({}, UpdateOwnerDto)).toBeUndefined();
    expect(await errorOf({ team_id: null }, UpdateOwnerDto)).toBeUndefined();
    expect(await errorOf({ name: null }, UpdateOwnerDto)).toBe('body.name: must be a string');
    expect(await errorOf({ email: null }, UpdateOwnerDto)).toBe('body.email: must be a string');
  });

  it('validates list filters', async () => {
    expect(await errorOf({ email: 'a@example.com', team_id: 'team-a', q: 'al' }, OwnerListQueryDto, 'query')).toBe(
      undefined,
    );
    expect(await errorOf({ email: 'a' }, OwnerListQueryDto, 'query')).toBe(
      'query.email: must be a valid email address',
    );
    expect(await errorOf({ q: ['a', 'b'] }, OwnerListQueryDto, 'query')).toBe('query.q: must be a string');
  });
});
