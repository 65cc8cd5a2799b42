import { describe, expect, it } from '@jest/globals';
import { MalformedEventError, MAX_EVENT_ID_CHARS, parseSinchEvent } from './sinch-event.js';

const envelope = {
  app_id: '01EB37HMH1M6SV18ABNS3G135H',
  project_id: 'c36f3d3d-1523-4edd-ae42-11995557ff61',
  accepted_time: '2020-11-16T08:17:44.993024Z',
  event_time: '2020-11-16T08:17:42.814Z',
};

describe('parseSinchEvent', () => {
  it('reads a text MESSAGE_INBOUND (Sinch docs example)', () => {
    const e = parseSinchEvent({
      ...envelope,
      message: {
        id: '01EQ8235TD19N21XQTH12B145D',
        direction: 'TO_APP',
        contact_message: { text_message: { text: 'STOP' } },
        channel_identity: { channel: 'SMS', identity: '46732001122', app_id: '' },
        conversation_id: '01EQ8172WMDB8008EFT4M30481',
        contact_id: '01EQ4174TGGY5B1VPTPGHW19R0',
        accept_time: '2020-11-16T08:17:43.915829Z',
      },
      message_metadata: '',
    });
    expect(e).toMatchObject({
      trigger: 'MESSAGE_INBOUND',
      messageId: '01EQ8235TD19N21XQTH12B145D',
      channel: 'SMS',
      identity: '46732001122',
      text: 'STOP',
      eventTime: new Date('2020-11-16T08:17:42.814Z'),
    });
  });

  it('falls back to accept_time, then accepted_time, for the event time', () => {
    const { event_time: _omit, ...noEventTime } = envelope;
    const e = parseSinchEvent({
      ...noEventTime,
      message: {
        id: 'm1',
        contact_message: { media_message: { url: 'https://example.com/x.png' } },
        channel_identity: { channel: 'MMS', identity: '46732001122' },
        accept_time: '2020-11-16T08:17:43.915Z',
      },
    });
    expect(e).toMatchObject({ text: null, eventTime: new Date('2020-11-16T08:17:43.915Z') });
  });

  it('reads OPT_OUT and OPT_IN notifications and delivery reports', () => {
    expect(
      parseSinchEvent({
        ...envelope,
        opt_out_notification: {
          channel: 'WHATSAPP',
          identity: '12345678910',
          status: 'OPT_OUT_SUCCEEDED',
          request_id: 'r1',
        },
      }),
    ).toMatchObject({ trigger: 'OPT_OUT', status: 'OPT_OUT_SUCCEEDED', requestId: 'r1' });
    expect(
      parseSinchEvent({
        ...envelope,
        opt_in_notification: {
          channel: 'VIBERBM',
          identity: '46732001122',
          status: 'OPT_IN_FAILED',
        },
      }),
    ).toMatchObject({ trigger: 'OPT_IN', status: 'OPT_IN_FAILED', requestId: null });
    expect(
      parseSinchEvent({
        ...envelope,
        message_delivery_report: {
          message_id: 'm9',
          status: 'FAILED',
          channel_identity: { channel: 'WHATSAPP', identity: '12345678910' },
          reason: { code: 'RECIPIENT_NOT_OPTED_IN', description: '...' },
        },
      }),
    ).toMatchObject({
      trigger: 'MESSAGE_DELIVERY',
      status: 'FAILED',
      reasonCode: 'RECIPIENT_NOT_OPTED_IN',
    });
  });

  it('names other known triggers', () => {
    expect(
      parseSinchEvent({ ...envelope, contact_create_notification: { contact: {} } }),
    ).toMatchObject({
      trigger: 'OTHER',
      name: 'CONTACT_CREATE',
    });
  });

  it.each([
    ['not an object', []],
    ['no app_id', { project_id: 'p', message: {} }],
    ['no payload key', { ...envelope, hello: {} }],
    ['two payload keys', { ...envelope, message: {}, event: {} }],
    ['a message without channel identity', { ...envelope, message: { id: 'm1' } }],
    [
      'a message without id',
      { ...envelope, message: { channel_identity: { channel: 'SMS', identity: '1' } } },
    ],
    [
      'an opt-out without status',
      { ...envelope, opt_out_notification: { channel: 'SMS', identity: '1' } },
    ],
  ])('rejects %s', (_, body) => {
    expect(() => parseSinchEvent(body)).toThrow(MalformedEventError);
  });

  const ci = { channel: 'SMS', identity: '1' };
  it.each([
    ['message.id', { message: { id: 'm'.repeat(MAX_EVENT_ID_CHARS + 1), channel_identity: ci } }],
    [
      'message.channel_identity.channel',
      { message: { id: 'm', channel_identity: { ...ci, channel: 'c'.repeat(33) } } },
    ],
    [
      'message.contact_id',
      { message: { id: 'm', channel_identity: ci, contact_id: 'k'.repeat(65) } },
    ],
    [
      'opt_out_notification.request_id',
      {
        opt_out_notification: {
          ...ci,
          status: 'OPT_OUT_SUCCEEDED',
          request_id: 'r'.repeat(MAX_EVENT_ID_CHARS + 1),
        },
      },
    ],
    [
      'message_delivery_report.message_id',
      { message_delivery_report: { message_id: 'd'.repeat(401), status: 'FAILED' } },
    ],
    [
      'message_delivery_report.status',
      { message_delivery_report: { message_id: 'd', status: 'S'.repeat(65) } },
    ],
  ])('refuses an over-long %s, naming it', (field, payload) => {
    expect(() => parseSinchEvent({ ...envelope, ...payload })).toThrow(
      expect.objectContaining({ field, description: expect.stringMatching(/at most/) }),
    );
  });

  it(`accepts ids of ${MAX_EVENT_ID_CHARS} characters`, () => {
    const id = 'm'.repeat(MAX_EVENT_ID_CHARS);
    expect(parseSinchEvent({ ...envelope, message: { id, channel_identity: ci } })).toMatchObject({
      messageId: id,
    });
  });
});
