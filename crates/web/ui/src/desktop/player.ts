// Plays a desktop's recording onto a canvas: play, pause, seek and speed,
// like the terminal player. A seek paints the last key frame (the whole
// screen) at or before the time and then the regions after it, so it never
// repaints from the start.

import type { Cast } from "../player";
import { IDLE_LIMIT } from "../player";
import { painter } from "./screen";

/** Whether a recording is a desktop's (pictures, not terminal text). */
export function isDesktop(cast: Cast): boolean {
  return (cast.header as { gatehouse?: { screen?: string } }).gatehouse?.screen === "desktop";
}

function bytesOf(base64: string): ArrayBuffer {
  const raw = atob(base64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

export class DesktopPlayer {
  private times: number[] = [];
  /** The indices of the gateway's notes (`m` events: the size limit reached, the writer behind). */
  private readonly notes: number[];
  /** The next event to apply. */
  private next = 0;
  private pos = 0;
  private playing = false;
  private last = 0;
  private timer: number | undefined;
  private readonly screen;
  speed = 1;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly cast: Cast,
    private readonly onChange: () => void,
    private skipIdle = true,
  ) {
    this.screen = painter(canvas);
    canvas.width = cast.header.width;
    canvas.height = cast.header.height;
    this.notes = cast.events.flatMap((e, i) => (e.code === "m" ? [i] : []));
    this.retime();
  }

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

  /** Resolves once every picture applied so far is on the canvas. */
  painted(): Promise<void> {
    return this.screen.done();
  }

  setSkipIdle(on: boolean) {
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

  /** Jumps to `seconds`: the last key frame at or before it, then the regions up to it. */
  seek(seconds: number) {
    const target = Math.max(0, Math.min(seconds, this.duration));
    let key = -1;
    for (let i = 0; i < this.times.length && this.times[i] <= target; i++) {
      if (this.cast.events[i].code === "k") key = i;
    }
    // Back in time, or past a key frame ahead: start from that key frame
    // (before the first one, from a blank screen).
    if (target < this.pos || key >= this.next) {
      if (key < 0) this.screen.resize(this.canvas.width, this.canvas.height);
      this.next = Math.max(0, key);
    }
    this.pos = target;
    this.applyUntil(target);
    this.onChange();
  }

  dispose() {
    this.pause();
  }

  /** The gateway's notes reached by now, oldest first: a recording stopped
   * at its size limit says so where it stopped, as a terminal's replay does. */
  get notices(): string[] {
    return this.notes.filter((i) => this.times[i] <= this.pos).map((i) => this.cast.events[i].data);
  }

  /** A desktop's recording holds pictures, not text: nothing to find. */
  matches(_needle: string): number[] {
    return [];
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

  private applyUntil(t: number) {
    const events = this.cast.events;
    while (this.next < events.length && this.times[this.next] <= t) {
      const e = events[this.next++];
      if (e.code !== "k" && e.code !== "f") continue;
      const picture = bytesOf(e.data);
      if (e.code === "k") {
        // A key frame is the whole screen: its size is the screen's.
        const head = new DataView(picture, 0, 8);
        const [width, height] = [head.getUint16(4), head.getUint16(6)];
        if (width !== this.canvas.width || height !== this.canvas.height) this.screen.resize(width, height);
      }
      this.screen.paint(picture);
    }
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
