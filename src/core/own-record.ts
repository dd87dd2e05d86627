/**
 * Header maps are plain `Record<string, string>` objects filled from the wire. A header named `__proto__`
 * assigned with `out[name] = value` would set the object's prototype instead of adding a member, so the header
 * would silently vanish (and a crafted value could change what lookups see). `setOwn` always creates an own,
 * enumerable property, so every name a peer sent round-trips.
 */
export function setOwn(out: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') {
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    out[name] = value;
  }
}
