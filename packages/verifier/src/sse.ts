/** One dispatched Server-Sent Event: its `id` (when the block set one) and its data lines joined. */
export interface SseEvent {
  id?: string;
  /** The `event` field; absent for ordinary (message) events. */
  event?: string;
  data: string;
}

/**
 * An incremental parser for the `text/event-stream` format (HTML Living Standard §9.2.6), reduced to
 * what the revocation feed uses: `id`, `data` and comments. A block with only an `id` is still
 * reported, so a server may move the cursor without an event.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private id: string | undefined;
  private event: string | undefined;

  /** Feeds decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const end = this.lineEnd(start);
      if (end === -1) break;
      const line = this.buffer.slice(start, end);
      start = end + (this.buffer[end] === '\r' && this.buffer[end + 1] === '\n' ? 2 : 1);
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** Index of the next line terminator, or -1; a trailing `\r` waits for a possible `\n`. */
  private lineEnd(from: number): number {
    for (let i = from; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c === '\n') return i;
      if (c === '\r') return i + 1 < this.buffer.length ? i : -1;
    }
    return -1;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'event') this.event = value;
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const event =
      this.data.length > 0 || this.id !== undefined
        ? { id: this.id, data: this.data.join('\n'), ...(this.event !== undefined && { event: this.event }) }
        : undefined;
    this.data = [];
    this.id = undefined;
    this.event = undefined;
    return event;
  }
}
