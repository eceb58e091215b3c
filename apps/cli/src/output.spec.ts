import { cell, renderRecord, renderTable } from './output';

describe('table output', () => {
  it('aligns columns under an upper-case header and renders absent, nested and list values', () => {
    const out = renderTable(
      [
        { id: 'mc-1', status: 'Active', sans: ['a.example', 'b.example'], tags: { team: 'x' } },
        { id: 'mc-22', status: null, sans: [], tags: undefined },
      ],
      ['id', 'status', 'sans', 'tags'],
    );
    expect(out).toBe(
      'ID     STATUS  SANS                 TAGS\n' +
        'mc-1   Active  a.example,b.example  {"team":"x"}\n' +
        'mc-22  -       -                    -\n',
    );
  });

  it('says (none) for an empty list and keeps multi-line values on one line', () => {
    expect(renderTable([], ['id'])).toBe('(none)\n');
    expect(renderTable([{ note: 'a\nb' }], ['note'])).toBe('NOTE\na b\n');
  });

  it('prints a record as aligned key/value lines in key order', () => {
    expect(renderRecord({ id: 'j1', attempts: 0, done: false })).toBe('id        j1\nattempts  0\ndone      false\n');
    expect(cell(12)).toBe('12');
  });
});
