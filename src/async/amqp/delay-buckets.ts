/**
 * Delays as a small set of queue TTLs. RabbitMQ expires messages only at the head of a queue, so messages
 * with different TTLs in one queue block each other; one queue per distinct delay avoids that, and rounding
 * delays up to buckets keeps the number of queues small even with jittered backoff: 8 buckets per doubling,
 * so a message waits at most 12.5 % longer than asked, never less.
 */
export function delayBucket(ms: number): number {
  if (!(ms > 0)) return 0;
  const whole = Math.ceil(ms);
  const exponent = Math.floor(Math.log2(whole));
  const step = 2 ** Math.max(0, exponent - 3);
  return Math.ceil(whole / step) * step;
}
