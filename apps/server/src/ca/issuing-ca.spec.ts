import { issuingCaId, type IssuerCaRow } from './ca-store';

type Row = Pick<IssuerCaRow, 'id' | 'parent_id' | 'state' | 'not_after' | 'created_at'>;

const FUTURE = new Date(Date.now() + 86_400_000);
let clock = Date.UTC(2030, 0, 1);
const ca = (id: string, parent: string | null, over: Partial<Row> = {}): Row => ({
  id,
  parent_id: parent,
  state: 'active',
  not_after: FUTURE,
  created_at: new Date((clock += 1000)),
  ...over,
});

describe('issuingCaId: which CA signs new certificates', () => {
  it('is the top CA while it has no active descendant', () => {
    expect(issuingCaId([ca('root', null)], 'root')).toBe('root');
    expect(issuingCaId([ca('root', null), ca('a', 'root', { state: 'retired' })], 'root')).toBe('root');
  });

  it('is the deepest active CA: a 3-level chain issues from its bottom', () => {
    const rows = [ca('root', null), ca('policy', 'root'), ca('issuing', 'policy')];
    expect(issuingCaId(rows, 'root')).toBe('issuing');
  });

  it('does not move to a newer CA higher up, but to a newer one at the same depth', () => {
    const rows = [ca('root', null), ca('policy', 'root'), ca('issuing', 'policy'), ca('policy2', 'root')];
    expect(issuingCaId(rows, 'root')).toBe('issuing');
    rows.push(ca('issuing2', 'policy2'));
    expect(issuingCaId(rows, 'root')).toBe('issuing2');
  });

  it('skips a draining or expired CA and everything below it', () => {
    const rows = [ca('root', null), ca('policy', 'root', { state: 'draining' }), ca('issuing', 'policy')];
    expect(issuingCaId(rows, 'root')).toBe('root');
    const expired = [
      ca('root', null),
      ca('policy', 'root'),
      ca('issuing', 'policy', { not_after: new Date(Date.now() - 1000) }),
    ];
    expect(issuingCaId(expired, 'root')).toBe('policy');
  });

  it('ignores CAs not below the given top', () => {
    const rows = [ca('old-top', null), ca('deep', 'old-top'), ca('top', null)];
    expect(issuingCaId(rows, 'top')).toBe('top');
  });
});
