import { randomBytes } from 'node:crypto';
import { certsOnlyPkcs7, scepAttributes, signScepMessage } from '@certctl/pki';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import { makeDevice } from '../../../../e2e/support/scep-messages';
import { challengeMatches } from './scep.service';
import { peekPkiMessage } from './scep-wire';

describe('SCEP wire helpers', () => {
  const ossl = new OpensslDir();
  afterAll(() => ossl.remove());

  it('peeks transactionID and senderNonce of a signed message whose content is unusable, and nothing else', () => {
    const d = makeDevice(ossl, 'peek', 'peek.example.com');
    const nonce = randomBytes(16);
    const signed = (content: Uint8Array, transactionId = 'tx-peek') =>
      signScepMessage({
        signerCertDer: d.selfDer,
        signerKey: d.key,
        content,
        attributes: scepAttributes({ messageType: 19, transactionId, senderNonce: nonce }),
      });
    const peeked = peekPkiMessage(signed(Buffer.from('not an envelope')));
    expect(peeked?.transactionId).toBe('tx-peek');
    expect(peeked?.senderNonce.equals(nonce)).toBe(true);
    // Not PrintableString-safe: no reply can echo it.
    expect(peekPkiMessage(signed(Buffer.alloc(1), 'x'.repeat(300)))).toBeUndefined();
    expect(peekPkiMessage(certsOnlyPkcs7([d.selfDer]))).toBeUndefined();
    expect(peekPkiMessage(Buffer.from('garbage'))).toBeUndefined();
    expect(peekPkiMessage(new Uint8Array(0))).toBeUndefined();
    const truncated = signed(Buffer.alloc(1));
    expect(peekPkiMessage(truncated.subarray(0, truncated.length - 1))).toBeUndefined();
  });

  it('compares challenges by digest, any length', () => {
    expect(challengeMatches('s3cret-challenge', 's3cret-challenge')).toBe(true);
    expect(challengeMatches('s3cret-challengE', 's3cret-challenge')).toBe(false);
    expect(challengeMatches('', 's3cret-challenge')).toBe(false);
    expect(challengeMatches('s3cret-challenge-and-more', 's3cret-challenge')).toBe(false);
  });
});
