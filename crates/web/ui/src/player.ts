// Plays an asciicast v2 recording into an xterm.js terminal: play, pause,
// seek, speed, and skipping idle gaps. Seeking backwards repaints from the
// start (terminal state is the sum of everything before it), batching the
// output so even long recordings seek quickly.

import type { Terminal } from "@xterm/xterm";

export interface CastHeader {
  version: number;
  width: number;
  height: number;
  timestamp?: number;
  title?: string;
}

export interface CastEvent {
  /** Seconds since the start, as recorded. */
  time: number;
  code: string;
  data: string;
}

export interface Cast {
  header: CastHeader;
  events: CastEvent[];
}

/** Parses a recording; a last line cut short by a crash is skipped. */
export function parseCast(text: string): Cast {
  const lines = text.split("\n");
  const header = JSON.parse(lines[0]) as CastHeader;
  if (header.version !== 2) throw new Error(`unsupported asciicast version ${header.version}`);
  const events: CastEvent[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    try {
      const [time, code, data] = JSON.parse(line) as [number, string, string];
      events.push({ time, code, data });
    } catch {
      // A truncated final line.
    }
  }
  return { header, events };
}

/** Idle gaps longer than this are shortened to it when skipping idle time. */
export const IDLE_LIMIT = 1;

export class Player {
  private times: number[] = [];
  /** The next event to apply. */
  private next = 0;
  private pos = 0;
  private playing = false;
  private last = 0;
  private timer: number | undefined;
  speed = 1;

  constructor(
    private readonly term: Terminal,
    private readonly cast: Cast,
    private readonly onChange: () => void,
    private skipIdle = true,
  ) {
    this.retime();
    this.reset();
  }

  /** Seconds on the (possibly idle-compressed) timeline. */
  get position(): number {
    return this.pos;
  }

  get duration(): number {
    return this.times.length ? this.times[this.times.length - 1] : 0;
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  get skipsIdle(): boolean {
    return this.skipIdle;
  }

  setSkipIdle(on: boolean) {
    // Keep the place: the event we are at stays where it is.
    const at = this.next;
    this.skipIdle = on;
    this.retime();
    this.pos = at > 0 ? this.times[at - 1] : 0;
    this.onChange();
  }

  play() {
    if (this.playing) return;
    if (this.pos >= this.duration) this.seek(0);
    this.playing = true;
    this.last = performance.now();
    this.tick();
    this.onChange();
  }

  pause() {
    this.playing = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.onChange();
  }

  /** Jumps to `seconds` on the timeline, repainting the screen as it was then. */
  seek(seconds: number) {
    const target = Math.max(0, Math.min(seconds, this.duration));
    if (target < this.pos || (this.next > 0 && target < this.times[this.next - 1])) this.reset();
    this.pos = target;
    this.applyUntil(target);
    this.onChange();
  }

  dispose() {
    this.pause();
  }

  /** Where on the timeline each occurrence of `needle` (case-insensitive)
   * has been printed in full, in order. Escape sequences are left out, so
   * coloured text matches as it reads; text split across events still matches. */
  matches(needle: string): number[] {
    const want = needle.toLowerCase();
    if (!want) return [];
    let text = "";
    const ends: number[] = []; // the text's length after each output event
    const at: number[] = []; // that event's index
    this.cast.events.forEach((e, i) => {
      if (e.code !== "o") return;
      // CSI and OSC sequences and lone escapes: not text a person reads.
      text += e.data.replace(/\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b./g, "").toLowerCase();
      ends.push(text.length);
      at.push(i);
    });
    const found: number[] = [];
    let k = 0;
    for (let from = text.indexOf(want); from >= 0; from = text.indexOf(want, from + want.length)) {
      const last = from + want.length;
      while (ends[k] < last) k++;
      const t = this.times[at[k]];
      if (found[found.length - 1] !== t) found.push(t);
    }
    return found;
  }

  private retime() {
    let shift = 0;
    let prev = 0;
    this.times = this.cast.events.map((e) => {
      const gap = e.time - prev;
      prev = e.time;
      if (this.skipIdle && gap > IDLE_LIMIT) shift += gap - IDLE_LIMIT;
      return e.time - shift;
    });
  }

  private reset() {
    this.term.reset();
    this.term.resize(Math.max(1, this.cast.header.width), Math.max(1, this.cast.header.height));
    this.next = 0;
    this.pos = 0;
  }

  /** Applies every event up to `t`, writing consecutive output at once. */
  private applyUntil(t: number) {
    let out = "";
    const events = this.cast.events;
    while (this.next < events.length && this.times[this.next] <= t) {
      const e = events[this.next++];
      if (e.code === "o") {
        out += e.data;
      } else if (e.code === "r") {
        if (out) this.term.write(out);
        out = "";
        const [cols, rows] = e.data.split("x").map(Number);
        if (cols > 0 && rows > 0) this.term.resize(cols, rows);
      } else if (e.code === "m") {
        out += `\r\n\x1b[7m[${e.data}]\x1b[0m\r\n`;
      }
    }
    if (out) this.term.write(out);
  }

  private tick = () => {
    if (!this.playing) return;
    const now = performance.now();
    this.pos = Math.min(this.duration, this.pos + ((now - this.last) / 1000) * this.speed);
    this.last = now;
    this.applyUntil(this.pos);
    if (this.pos >= this.duration) {
      this.playing = false;
      this.timer = undefined;
    } else {
      this.timer = window.setTimeout(this.tick, 30);
    }
    this.onChange();
  };
}
