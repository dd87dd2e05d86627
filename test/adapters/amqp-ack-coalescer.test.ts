/** The AMQP ack coalescer on a recording channel: one multiple-ack per settled run, single acks outside it. */
import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckCoalescer } from '../../src/async/amqp/ack-coalescer.js';

function setup() {
  const sent: string[] = [];
  const ch = {
    ack: (msg: ConsumeMessage, allUpTo?: boolean) =>
      void sent.push(`${allUpTo === true ? 'upto' : 'one'} ${msg.fields.deliveryTag}`),
  } as unknown as Channel;
  const acks = new AckCoalescer(ch);
  const deliver = (tag: number) => acks.received({ fields: { deliveryTag: tag } } as ConsumeMessage);
  return { sent, acks, deliver };
}

describe('AckCoalescer', () => {
  it('acks a run settled in one turn with one multiple-ack for its newest delivery', async () => {
    const { sent, acks, deliver } = setup();
    const entries = [1, 2, 3, 4].map(deliver);
    const done = Promise.all(entries.map((e) => acks.ack(e)));
    expect(sent).toEqual([]);
    await done;
    expect(sent).toEqual(['upto 4']);
  });

  it('never covers a delivery still outstanding: later acks go one by one until the older one settles', async () => {
    const { sent, acks, deliver } = setup();
    const [d1, d2, d3, d4] = [1, 2, 3, 4].map(deliver);
    await Promise.all([acks.ack(d2!), acks.ack(d3!)]);
    expect(sent).toEqual(['one 2', 'one 3']);
    await acks.ack(d1!);
    expect(sent).toEqual(['one 2', 'one 3', 'upto 1']);
    await acks.ack(d4!);
    expect(sent).toEqual(['one 2', 'one 3', 'upto 1', 'upto 4']);
  });

  it('lets a delivery settled elsewhere (nacked) complete a run, and acks each delivery once', async () => {
    const { sent, acks, deliver } = setup();
    const [d1, d2, d3] = [1, 2, 3].map(deliver);
    const waiting = acks.ack(d2!);
    void acks.ack(d3!);
    acks.settledElsewhere(d1!);
    await waiting;
    expect(sent).toEqual(['upto 3']);
    await acks.ack(d3!);
    expect(sent).toEqual(['upto 3']);
  });

  it('flush sends at once, and a channel that throws loses nothing but the ack (the broker requeues)', async () => {
    const { sent, acks, deliver } = setup();
    const d1 = deliver(1);
    const p = acks.ack(d1);
    acks.flush();
    expect(sent).toEqual(['upto 1']);
    await p;
    const broken = new AckCoalescer({
      ack: () => {
        throw new Error('channel closed');
      },
    } as unknown as Channel);
    const e = broken.received({ fields: { deliveryTag: 1 } } as ConsumeMessage);
    await expect(broken.ack(e)).resolves.toBeUndefined();
  });
});
