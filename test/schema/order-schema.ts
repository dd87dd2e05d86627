import { z } from 'zod';

/** A realistic order (~1.2 KB as JSON with three items): shared by the schema tests and the validation benchmark. */
export const Address = z.object({
  line1: z.string().min(1).max(200),
  line2: z.string().max(200).optional(),
  city: z.string().min(1).max(100),
  postcode: z.string().regex(/^[A-Z0-9 -]{3,10}$/),
  country: z.string().length(2),
});

export const OrderItem = z.object({
  sku: z.string().regex(/^[A-Z]{3}-\d{4,8}$/),
  name: z.string().min(1).max(120),
  qty: z.number().int().min(1).max(1000),
  unitPriceCents: z.number().int().nonnegative(),
  tags: z.array(z.string().max(32)).max(10),
  giftWrap: z.boolean().optional(),
});

export const Order = z.object({
  orderId: z.uuid(),
  customer: z.object({ id: z.uuid(), email: z.email(), name: z.string().min(1).max(100), vip: z.boolean() }),
  items: z.array(OrderItem).min(1).max(100),
  shipping: Address,
  billing: Address.nullable(),
  currency: z.enum(['EUR', 'USD', 'GBP']),
  totalCents: z.number().int().nonnegative(),
  placedAt: z.iso.datetime(),
  channel: z.enum(['web', 'mobile', 'store']),
  notes: z.string().max(500).optional(),
  couponCodes: z.array(z.string().max(20)).max(5),
});

export type OrderT = z.infer<typeof Order>;

export function sampleOrder(): OrderT {
  const item = (n: number) => ({
    sku: `ABC-${1000 + n}`,
    name: `Stainless steel water bottle, ${n} litres`,
    qty: n,
    unitPriceCents: 1999 + n,
    tags: ['kitchen', 'outdoor', 'bpa-free'],
    giftWrap: n % 2 === 0,
  });
  const address = {
    line1: '221B Baker Street',
    line2: 'Flat 2',
    city: 'London',
    postcode: 'NW1 6XE',
    country: 'GB',
  };
  return {
    orderId: '0190f5c2-7b1e-7c3a-9a4e-2f6d8b1c3e5a',
    customer: {
      id: '0190f5c2-7b1e-7c3a-8a4e-2f6d8b1c3e5b',
      email: 'ada.lovelace@example.com',
      name: 'Ada Lovelace',
      vip: true,
    },
    items: [item(1), item(2), item(3)],
    shipping: address,
    billing: { ...address, line2: undefined },
    currency: 'GBP',
    totalCents: 12_345,
    placedAt: '2026-11-22T10:15:30.123Z',
    channel: 'web',
    notes: 'Please leave the parcel with the neighbour at number 223 if nobody answers the door.',
    couponCodes: ['WINTER10', 'FREESHIP'],
  };
}
