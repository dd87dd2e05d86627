/** Waiting helpers for adapter tests: they wait on conditions (with a generous cap), never assert on time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `condition` every 10 ms until it holds; fail after `capMs` naming `what`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, capMs = 20_000): Promise<void> {
  const deadline = Date.now() + capMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
