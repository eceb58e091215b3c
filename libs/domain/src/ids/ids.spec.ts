import { isValidClientId, newId } from './ids';

describe('ids', () => {
  it('generates prefixed, distinct, url-safe ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('ak')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^ak-[a-z0-9]{12}$/);
  });

  it('accepts readable client ids and refuses the rest', () => {
    expect(isValidClientId('mc-api-prod')).toBe(true);
    expect(isValidClientId('Upper')).toBe(false);
    expect(isValidClientId('-lead')).toBe(false);
    expect(isValidClientId('a'.repeat(129))).toBe(false);
  });
});
