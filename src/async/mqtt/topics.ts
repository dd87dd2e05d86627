/**
 * MQTT topic names and client ids for Courier's model.
 *
 * - A group `G` of topic `T` is a shared subscription `$share/G/T` (competing consumers) plus
 *   `$share/G/<retryRoot>/G/T`, where nacked copies for that group alone are sent.
 * - A consumer is a persistent session whose client id is derived from (instance id, topic, group, slot):
 *   the slot is the lowest index not used by another open subscription of this process, so a subscription
 *   opened after another closed (or after a restart) resumes that session and gets what MQTT routed to it.
 */
import { createHash } from 'node:crypto';

export function checkTopic(topic: string): void {
  if (topic === '' || /[+#]/.test(topic) || topic.includes('\u0000') || topic.startsWith('$')) {
    throw new TypeError(`mqtt broker: topic '${topic}' must be a literal MQTT topic (no '+', '#', NUL, not starting with '$')`);
  }
}

export function checkGroup(group: string): void {
  if (/[/+#]/.test(group) || group.includes('\u0000')) throw new TypeError(`mqtt broker: group '${group}' may not contain '/', '+', '#' (shared subscription names)`);
}

export function sharedFilter(group: string, topic: string): string {
  return `$share/${group}/${topic}`;
}

export function retryTopic(retryRoot: string, group: string, topic: string): string {
  return `${retryRoot}/${group}/${topic}`;
}

/** Slots in use per (instance, topic, group) in this process. */
const slotsInUse = new Map<string, Set<number>>();

export interface ClientIdLease {
  readonly clientId: string;
  release(): void;
}

export function leaseClientId(instanceId: string, topic: string, group: string): ClientIdLease {
  const base = createHash('sha256').update(`${instanceId}\u0000${topic}\u0000${group}`).digest('hex').slice(0, 16);
  let used = slotsInUse.get(base);
  if (used === undefined) slotsInUse.set(base, (used = new Set()));
  let slot = 0;
  while (used.has(slot)) slot++;
  used.add(slot);
  const set = used;
  return {
    clientId: `courier-${base}-${slot}`,
    release: () => {
      set.delete(slot);
      if (set.size === 0) slotsInUse.delete(base);
    },
  };
}
