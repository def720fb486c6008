// The gateway's desktop pictures on a canvas: each binary message is a
// changed region (x, y, width, height as big-endian u16, then a PNG). The
// desktop tab, the watch page and the replay all paint them the same way.

/** The region's place and its PNG, from one binary message. */
export function parseFrame(buf: ArrayBuffer): { x: number; y: number; png: Blob } {
  const head = new DataView(buf, 0, 8);
  return { x: head.getUint16(0), y: head.getUint16(2), png: new Blob([buf.slice(8)], { type: "image/png" }) };
}

/** A painter for `canvas`: frames decode asynchronously, and are drawn in
 * the order they arrived so a later change is never overwritten by an
 * earlier one. `done()` resolves once everything given so far is drawn. */
export function painter(canvas: HTMLCanvasElement) {
  const ctx = canvas.getContext("2d")!;
  let painted: Promise<void> = Promise.resolve();
  return {
    paint(buf: ArrayBuffer) {
      const { x, y, png } = parseFrame(buf);
      const bitmap = createImageBitmap(png);
      painted = painted.then(
        async () => {
          const img = await bitmap;
          ctx.drawImage(img, x, y);
          img.close();
        },
        () => undefined,
      );
    },
    resize(width: number, height: number) {
      painted = painted.then(() => {
        canvas.width = width;
        canvas.height = height;
      });
    },
    done: () => painted,
  };
}
