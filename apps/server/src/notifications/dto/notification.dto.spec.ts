import type { ArgumentMetadata } from '@nestjs/common';
import { StrictValidationPipe } from '../../http/validation.pipe';
import { NotificationListQueryDto } from './notification.dto';

const pipe = new StrictValidationPipe();
const meta: ArgumentMetadata = { type: 'query', metatype: NotificationListQueryDto };

describe('NotificationListQueryDto', () => {
  it('matches status case-insensitively and parses unread', async () => {
    const q = (await pipe.transform({ status: 'DEAD', unread: 'True' }, meta)) as NotificationListQueryDto;
    expect(q.status).toBe('dead');
    expect(q.unread).toBe(true);
    const r = (await pipe.transform({ unread: 'false' }, meta)) as NotificationListQueryDto;
    expect(r.unread).toBe(false);
    expect(r.status).toBeUndefined();
  });

  it.each([
    [{ status: 'bounced' }, 'query.status: must be one of pending, sent, failed, dead'],
    [{ status: ['sent', 'dead'] }, 'query.status: must be one of pending, sent, failed, dead'],
    [{ unread: 'yes' }, 'query.unread: must be true or false'],
    [{ unread: '' }, 'query.unread: must be true or false'],
    [{ type: 'x'.repeat(101) }, 'query.type: must be shorter than or equal to 100 characters'],
    [{ recipient: 'a@example.com' }, 'query.recipient: unknown field'],
  ])('rejects %j', async (query, message) => {
    await expect(pipe.transform(query, meta)).rejects.toThrow(message);
  });
});
