/**
 * Data as JSON text, for one-line previews and text search. `JSON.stringify` recurses and throws past a
 * few thousand levels (history written before the hub limited depth may hold such events), and it
 * writes a whole 64 KiB event to preview 200 characters of it. This writer keeps its own stack and stops
 * at `max` characters, so a preview costs the same for any event.
 */
export function jsonText(value: unknown, max = Infinity): string {
  if (max === Infinity) {
    try {
      return JSON.stringify(value) ?? '';
    } catch {
      // Too deep for the native writer: write it with our own stack below.
    }
  }
  let out = '';
  const stack: Frame[] = [];
  const write = (v: unknown) => {
    if (typeof v === 'object' && v !== null) {
      out += Array.isArray(v) ? '[' : '{';
      stack.push(Array.isArray(v) ? { items: v, next: 0 } : { object: v as Record<string, unknown>, keys: Object.keys(v), next: 0, wrote: false });
    } else if (typeof v === 'string') {
      out += JSON.stringify(v.length > max ? v.slice(0, max) : v);
    } else out += typeof v === 'number' && !Number.isFinite(v) ? 'null' : typeof v === 'number' || typeof v === 'boolean' ? String(v) : 'null';
  };
  write(value);
  while (stack.length > 0 && out.length < max) {
    const top = stack.at(-1)!;
    if ('items' in top) {
      if (top.next >= top.items.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (top.next > 0) out += ',';
      write(top.items[top.next++]);
    } else {
      // Like JSON.stringify: keys whose value has no JSON form are left out.
      while (top.next < top.keys.length && !hasJsonForm(top.object[top.keys[top.next]!])) top.next++;
      if (top.next >= top.keys.length) {
        out += '}';
        stack.pop();
        continue;
      }
      if (top.wrote) out += ',';
      top.wrote = true;
      const key = top.keys[top.next++]!;
      out += `${JSON.stringify(key.length > max ? key.slice(0, max) : key)}:`;
      write(top.object[key]);
    }
  }
  return out.length > max ? out.slice(0, max) : out;
}

type Frame = { items: unknown[]; next: number } | { object: Record<string, unknown>; keys: string[]; next: number; wrote: boolean };

const hasJsonForm = (v: unknown) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
