import { describe, expect, it } from '@jest/globals';
import { deliveryKeyOf, HandledEvent } from './delivery-key.js';

const envelope = { projectId: 'p', appId: 'a', eventTime: new Date('2026-01-02T03:04:05.678Z') };

describe('deliveryKeyOf', () => {
  it('keys an inbound message by its message id', () => {
    const event: HandledEvent = {
      ...envelope,
      trigger: 'MESSAGE_INBOUND',
      messageId: '01EQ8235TD19N21XQTH12B145D',
      channel: 'SMS',
      identity: '+46 73 200 11 22',
      text: 'STOP',
      contactId: null,
    };
    expect(deliveryKeyOf(event, '46732001122')).toBe('inbound:01EQ8235TD19N21XQTH12B145D');
  });

  it('keys a delivery report by message id and status', () => {
    const event: HandledEvent = {
      ...envelope,
      trigger: 'MESSAGE_DELIVERY',
      messageId: 'm1',
      status: 'FAILED',
      channel: 'SMS',
      identity: '46732001122',
      reasonCode: 'RECIPIENT_NOT_OPTED_IN',
    };
    expect(deliveryKeyOf(event, '46732001122')).toBe('delivery:m1:FAILED');
    expect(deliveryKeyOf({ ...event, status: 'DELIVERED' }, '46732001122')).toBe(
      'delivery:m1:DELIVERED',
    );
  });

  it('keys an opt notification by its request id, else by what it says', () => {
    const event: HandledEvent = {
      ...envelope,
      trigger: 'OPT_OUT',
      requestId: 'r1',
      channel: 'WHATSAPP',
      identity: '46732001122',
      status: 'OPT_OUT_SUCCEEDED',
      contactId: null,
      notification: {},
    };
    expect(deliveryKeyOf(event, '46732001122')).toBe('opt_out:r1');
    expect(deliveryKeyOf({ ...event, trigger: 'OPT_IN', requestId: null }, '46732001122')).toBe(
      'opt_in:WHATSAPP:46732001122:OPT_OUT_SUCCEEDED:2026-01-02T03:04:05.678Z',
    );
  });
});
