/** Redis key names used for a topic and its groups (see `lua.ts` for what each holds). */
export function streamKey(prefix: string, topic: string): string {
  return prefix + topic;
}

export function retryKey(stream: string, group: string): string {
  return `${stream}:courier-retry:${group}`;
}

export function scheduleKey(stream: string): string {
  return `${stream}:courier-scheduled`;
}

export function scheduledHashKey(stream: string, member: string): string {
  return `${scheduleKey(stream)}:${member}`;
}
