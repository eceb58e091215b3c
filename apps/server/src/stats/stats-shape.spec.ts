import { statusCounts, successRate } from './stats-shape';

describe('statusCounts', () => {
  it('lists every status, zero-filled, folding odd case', () => {
    expect(
      statusCounts([
        { status: 'Active', count: 3 },
        { status: 'active', count: 2 },
        { status: 'Revoked', count: 1 },
        { status: 'Unknown', count: 9 },
      ]),
    ).toEqual({
      Pending: 0,
      Active: 5,
      Expiring: 0,
      Expired: 0,
      RenewalInProgress: 0,
      Failed: 0,
      Revoked: 1,
      Archived: 0,
    });
  });
});

describe('successRate', () => {
  it('is a percentage with two decimals, 0 without finished jobs', () => {
    expect(successRate(0, 0)).toBe(0);
    expect(successRate(3, 0)).toBe(100);
    expect(successRate(1, 2)).toBe(33.33);
    expect(successRate(2, 1)).toBe(66.67);
  });
});
