//! The gateway's copy of a remote screen, and the regions of it that
//! changed since the browser was last sent them.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

/// The largest screen accepted from a target, in either direction: a
/// 16-megapixel framebuffer is 64 MiB of RGBA, the most one session may
/// hold; a server announcing more is refused.
pub(crate) const MAX_SIDE: u16 = 8192;
/// Regions kept apart before they are merged into their bounding box:
/// many small regions (a typed line, a clock) are cheaper sent apart, but a
/// busy screen's hundreds of tiles are cheaper as one picture.
const MAX_REGIONS: usize = 16;

/// How long a screen stays unchanged before its pixels are packed: an
/// idle desktop then holds its screen deflated (a few KiB to a few hundred
/// for a desktop of windows and text) instead of 4 bytes a pixel (1.8 MiB
/// at 800×600, 7.9 MiB at 1920×1080). Packing or unpacking an 800×600
/// screen takes about a millisecond, so someone reading a still page for
/// a while and then scrolling does not notice.
pub(crate) const PACK_AFTER: Duration = Duration::from_secs(5);

/// A rectangle of the screen, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) x: u16,
    pub(crate) y: u16,
    pub(crate) width: u16,
    pub(crate) height: u16,
}

impl Region {
    fn right(&self) -> u32 {
        u32::from(self.x) + u32::from(self.width)
    }

    fn bottom(&self) -> u32 {
        u32::from(self.y) + u32::from(self.height)
    }

    pub(crate) fn union(&self, other: &Region) -> Region {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Region {
            x,
            y,
            width: (self.right().max(other.right()) - u32::from(x)) as u16,
            height: (self.bottom().max(other.bottom()) - u32::from(y)) as u16,
        }
    }

    pub(crate) fn overlaps(&self, other: &Region) -> bool {
        u32::from(self.x) < other.right()
            && u32::from(other.x) < self.right()
            && u32::from(self.y) < other.bottom()
            && u32::from(other.y) < self.bottom()
    }
}

/// A screen as RGBA pixels, with the regions changed since [`take_dirty`].
/// A screen unchanged for a while is [packed](Framebuffer::pack_when_still)
/// and unpacked again, unseen by callers, when it is next painted or read.
///
/// [`take_dirty`]: Framebuffer::take_dirty
pub(crate) struct Framebuffer {
    width: u16,
    height: u16,
    /// The pixels; empty while they are packed.
    pixels: Pixels,
    /// The pixels, deflated after each byte less the one a pixel before it
    /// (runs of one colour become runs of zeros, which deflate well).
    packed: Option<Vec<u8>>,
    dirty: Vec<Region>,
    changed_at: Instant,
}

/// A screen's pixel memory. It is mapped on its own rather than taken from
/// the heap, so a screen dropped (packed, resized or ended) gives its pages
/// back to the system at once: glibc keeps a freed heap block of a
/// screen's size for reuse, so an idle desktop's unpacked screen would
/// stay in the gateway's memory after it was packed.
enum Pixels {
    Mapped(memmap2::MmapMut),
    /// No screen yet, or no mapping to be had.
    Heap(Vec<u8>),
}

impl Pixels {
    fn zeroed(len: usize) -> Pixels {
        match len {
            0 => Pixels::Heap(Vec::new()),
            _ => memmap2::MmapMut::map_anon(len)
                .map(Pixels::Mapped)
                .unwrap_or_else(|_| Pixels::Heap(vec![0; len])),
        }
    }
}

impl std::ops::Deref for Pixels {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Mapped(map) => map,
            Pixels::Heap(vec) => vec,
        }
    }
}

impl std::ops::DerefMut for Pixels {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Pixels::Mapped(map) => map,
            Pixels::Heap(vec) => vec,
        }
    }
}

impl Framebuffer {
    /// A black screen of this size (clamped to [`MAX_SIDE`]), all of it to send.
    pub(crate) fn new(width: u16, height: u16) -> Self {
        let (width, height) = (width.min(MAX_SIDE), height.min(MAX_SIDE));
        let mut fb = Self {
            width,
            height,
            pixels: Pixels::zeroed(usize::from(width) * usize::from(height) * 4),
            packed: None,
            dirty: Vec::new(),
            changed_at: Instant::now(),
        };
        fb.mark_all();
        fb
    }

    /// The screen's size.
    pub(crate) fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// The whole screen as a region.
    pub(crate) fn whole(&self) -> Region {
        Region {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        }
    }

    /// The part of `r` on the screen, if any.
    fn clip(&self, r: Region) -> Option<Region> {
        if r.x >= self.width || r.y >= self.height || r.width == 0 || r.height == 0 {
            return None;
        }
        Some(Region {
            x: r.x,
            y: r.y,
            width: r.width.min(self.width - r.x),
            height: r.height.min(self.height - r.y),
        })
    }

    /// Paints `data` (RGBA rows of `r`'s width) at `r`; what falls outside
    /// the screen, or beyond the data given, is dropped.
    pub(crate) fn paint(&mut self, r: Region, data: &[u8]) {
        let Some(clipped) = self.clip(r) else { return };
        let src_stride = usize::from(r.width) * 4;
        let row_bytes = usize::from(clipped.width) * 4;
        for row in 0..usize::from(clipped.height) {
            let src = row * src_stride;
            let Some(line) = data.get(src..src + row_bytes) else {
                break;
            };
            let dst = self.offset(clipped.x, clipped.y + row as u16);
            self.raw()[dst..dst + row_bytes].copy_from_slice(line);
        }
        self.mark(clipped);
    }

    /// Paints region `r` of `image` (RGBA rows of `image_width` pixels, as
    /// an RDP decoder keeps a whole screen) at the same place here.
    pub(crate) fn paint_from(&mut self, r: Region, image: &[u8], image_width: u16) {
        let Some(clipped) = self.clip(r) else { return };
        let stride = usize::from(image_width) * 4;
        let row_bytes = usize::from(clipped.width) * 4;
        for row in 0..usize::from(clipped.height) {
            let src = (usize::from(clipped.y) + row) * stride + usize::from(clipped.x) * 4;
            let Some(line) = image.get(src..src + row_bytes) else {
                break;
            };
            let dst = self.offset(clipped.x, clipped.y + row as u16);
            self.raw()[dst..dst + row_bytes].copy_from_slice(line);
        }
        self.mark(clipped);
    }

    /// Copies the pixels at `src` to `dst` (RFB CopyRect: a window moved or
    /// text scrolled), overlapping or not.
    pub(crate) fn copy(&mut self, dst: Region, src: Region) {
        let (Some(d), Some(s)) = (self.clip(dst), self.clip(src)) else {
            return;
        };
        let width = d.width.min(s.width);
        let height = d.height.min(s.height);
        let row_bytes = usize::from(width) * 4;
        // Rows in the order that never reads a row already overwritten.
        let rows: Box<dyn Iterator<Item = u16>> = if d.y > s.y {
            Box::new((0..height).rev())
        } else {
            Box::new(0..height)
        };
        for row in rows {
            let from = self.offset(s.x, s.y + row);
            let to = self.offset(d.x, d.y + row);
            self.raw().copy_within(from..from + row_bytes, to);
        }
        self.mark(Region {
            x: d.x,
            y: d.y,
            width,
            height,
        });
    }

    fn offset(&self, x: u16, y: u16) -> usize {
        (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4
    }

    /// The pixels to read or paint, unpacked first if they were packed.
    fn raw(&mut self) -> &mut [u8] {
        if let Some(packed) = self.packed.take() {
            match self.unpack(&packed) {
                Some(pixels) => self.pixels = pixels,
                None => {
                    // Only our own packing is ever unpacked; were it ever
                    // unreadable, a black screen sent whole again is honest.
                    self.pixels = Pixels::zeroed(self.len());
                    self.dirty.clear();
                    self.dirty.push(self.whole());
                }
            }
        }
        &mut self.pixels
    }

    fn len(&self) -> usize {
        usize::from(self.width) * usize::from(self.height) * 4
    }

    /// `packed` unpacked; `None` if it does not unpack to the whole screen.
    fn unpack(&self, packed: &[u8]) -> Option<Pixels> {
        let len = self.len();
        let mut pixels = Pixels::zeroed(len);
        let out = miniz_oxide::inflate::decompress_slice_iter_to_slice(
            &mut pixels,
            std::iter::once(packed),
            false,
            true,
        );
        if out != Ok(len) {
            return None;
        }
        for i in 4..len {
            pixels[i] = pixels[i].wrapping_add(pixels[i - 4]);
        }
        Some(pixels)
    }

    /// Whether the pixels are packed now.
    pub(crate) fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// Calls `f` with the screen's RGBA pixels, leaving a packed screen
    /// packed (it is unpacked into memory of its own for the call, black
    /// if it were ever unreadable).
    pub(crate) fn peek<T>(&self, f: impl FnOnce(&[u8]) -> T) -> T {
        match &self.packed {
            Some(packed) => {
                let pixels = self
                    .unpack(packed)
                    .unwrap_or_else(|| Pixels::zeroed(self.len()));
                f(&pixels)
            }
            None => f(&self.pixels),
        }
    }

    /// Packs the pixels when nothing changed on the screen for `still`
    /// and nothing is waiting to be sent; the next paint or read unpacks
    /// them. Returns whether the screen is packed now.
    pub(crate) fn pack_when_still(&mut self, still: Duration) -> bool {
        if self.packed.is_some() {
            return true;
        }
        if self.pixels.is_empty() || self.is_dirty() || self.changed_at.elapsed() < still {
            return false;
        }
        let mut pixels = std::mem::replace(&mut self.pixels, Pixels::zeroed(0));
        for i in (4..pixels.len()).rev() {
            pixels[i] = pixels[i].wrapping_sub(pixels[i - 4]);
        }
        // The fastest level: a few hundred µs for a 640×480 screen.
        let mut packed = miniz_oxide::deflate::compress_to_vec(&pixels, 1);
        packed.shrink_to_fit();
        self.packed = Some(packed);
        true
    }

    /// Notes that `r` changed.
    fn mark(&mut self, r: Region) {
        self.changed_at = Instant::now();
        let mut r = r;
        // Regions that overlap are one region: a pixel is never sent twice.
        while let Some(i) = self.dirty.iter().position(|d| d.overlaps(&r)) {
            r = r.union(&self.dirty.swap_remove(i));
        }
        self.dirty.push(r);
        if self.dirty.len() > MAX_REGIONS {
            let all = self.dirty.drain(..).reduce(|a, b| a.union(&b));
            self.dirty.extend(all);
        }
    }

    /// Marks the whole screen to be sent again.
    pub(crate) fn mark_all(&mut self) {
        self.dirty.clear();
        if self.width > 0 && self.height > 0 {
            self.dirty.push(self.whole());
        }
    }

    /// Whether anything changed since the last [`take_dirty`](Self::take_dirty).
    pub(crate) fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The regions changed since the last call, forgotten here.
    pub(crate) fn take_dirty(&mut self) -> Vec<Region> {
        std::mem::take(&mut self.dirty)
    }

    /// One region as a frame message for the browser: `x`, `y`, `width`,
    /// `height` as big-endian `u16`, then the region as a PNG image (which
    /// browsers decode natively).
    pub(crate) fn encode(&mut self, r: Region) -> Bytes {
        let Some(r) = self.clip(r) else {
            return Bytes::new();
        };
        let mut rgb = Vec::with_capacity(usize::from(r.width) * usize::from(r.height) * 3);
        for row in 0..r.height {
            let at = self.offset(r.x, r.y + row);
            for px in self.raw()[at..at + usize::from(r.width) * 4].chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
            }
        }
        let mut out = BytesMut::with_capacity(8 + rgb.len() / 4).writer();
        {
            let head = out.get_mut();
            for v in [r.x, r.y, r.width, r.height] {
                head.put_u16(v);
            }
        }
        let mut encoder = png::Encoder::new(&mut out, u32::from(r.width), u32::from(r.height));
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        // Writing to memory cannot fail, and the size matches the data.
        if let Ok(mut writer) = encoder.write_header() {
            let _ = writer.write_image_data(&rgb);
        }
        out.into_inner().freeze()
    }
}

/// A region from its corner and size, for the unit tests here and in `pace.rs`.
#[cfg(test)]
pub(crate) fn region(x: u16, y: u16, width: u16, height: u16) -> Region {
    Region {
        x,
        y,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paints_clip_to_the_screen_and_mark_what_changed() {
        let mut fb = Framebuffer::new(4, 4);
        assert_eq!(fb.take_dirty(), vec![region(0, 0, 4, 4)]);
        fb.paint(region(3, 3, 2, 2), &[255; 16]);
        assert_eq!(fb.take_dirty(), vec![region(3, 3, 1, 1)]);
        fb.paint(region(9, 9, 2, 2), &[255; 16]);
        assert!(!fb.is_dirty(), "off-screen paints change nothing");
        // Short data paints what it covers and no more.
        fb.paint(region(0, 0, 2, 2), &[7; 8]);
        assert_eq!(fb.pixels[..8], [7; 8]);
        assert_eq!(fb.pixels[16..24], [0; 8]);
    }

    #[test]
    fn overlapping_changes_merge_and_many_collapse_into_one() {
        let mut fb = Framebuffer::new(100, 100);
        fb.take_dirty();
        fb.paint(region(0, 0, 10, 10), &[1; 400]);
        fb.paint(region(5, 5, 10, 10), &[1; 400]);
        fb.paint(region(50, 50, 1, 1), &[1; 4]);
        let mut dirty = fb.take_dirty();
        dirty.sort_by_key(|r| r.x);
        assert_eq!(dirty, vec![region(0, 0, 15, 15), region(50, 50, 1, 1)]);
        for i in 0..40 {
            fb.paint(region(i * 2, 0, 1, 1), &[1; 4]);
        }
        let dirty = fb.take_dirty();
        assert!(dirty.len() <= MAX_REGIONS, "{} regions", dirty.len());
        for i in 0..40 {
            let pixel = region(i * 2, 0, 1, 1);
            assert!(
                dirty.iter().any(|r| r.union(&pixel) == *r),
                "{pixel:?} not sent"
            );
        }
    }

    #[test]
    fn copies_overlapping_rows_like_a_scroll() {
        let mut fb = Framebuffer::new(1, 3);
        fb.paint(region(0, 0, 1, 3), &[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        fb.copy(region(0, 1, 1, 2), region(0, 0, 1, 2));
        assert_eq!(*fb.pixels, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
        fb.copy(region(0, 0, 1, 2), region(0, 1, 1, 2));
        assert_eq!(*fb.pixels, [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn regions_encode_as_a_header_and_a_png() {
        let mut fb = Framebuffer::new(8, 8);
        fb.paint(region(2, 3, 2, 1), &[9, 8, 7, 0, 6, 5, 4, 0]);
        let frame = fb.encode(region(2, 3, 2, 1));
        assert_eq!(frame[..8], [0, 2, 0, 3, 0, 2, 0, 1]);
        let decoder = png::Decoder::new(std::io::Cursor::new(frame.slice(8..)));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert_eq!(buf, [9, 8, 7, 6, 5, 4]);
    }

    #[test]
    fn a_still_screen_packs_small_and_unpacks_to_the_same_pixels() {
        // A desktop-like screen: a background, a window, some text-like noise.
        let (w, h) = (640u16, 480u16);
        let mut fb = Framebuffer::new(w, h);
        let mut screen = vec![0u8; usize::from(w) * usize::from(h) * 4];
        for (i, px) in screen.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % usize::from(w), i / usize::from(w));
            let inside = (100..500).contains(&x) && (80..400).contains(&y);
            let ink = inside && y % 12 < 8 && (x * 7 + y * 3) % 11 < 4;
            px.copy_from_slice(match (inside, ink) {
                (_, true) => &[20, 20, 20, 255],
                (true, false) => &[250, 250, 250, 255],
                (false, _) => &[40, 90, 160, 255],
            });
        }
        fb.paint(fb.whole(), &screen);

        // Unsent changes, or a screen that changed just now, stay unpacked.
        assert!(!fb.pack_when_still(Duration::ZERO));
        fb.take_dirty();
        assert!(!fb.pack_when_still(Duration::from_secs(60)));

        assert!(fb.pack_when_still(Duration::ZERO));
        let packed = fb.packed.as_ref().map(Vec::len).unwrap();
        assert!(fb.pixels.is_empty());
        assert!(
            packed < screen.len() / 20,
            "{packed} bytes packed of {}",
            screen.len()
        );

        // Reading a region unpacks the very same pixels, and a paint after
        // packing lands on them.
        let whole = fb.whole();
        assert_eq!(fb.encode(whole), {
            let mut copy = Framebuffer::new(w, h);
            copy.paint(copy.whole(), &screen);
            copy.encode(whole)
        });
        assert_eq!(*fb.pixels, *screen);
        assert!(fb.pack_when_still(Duration::ZERO));
        fb.paint(region(1, 1, 1, 1), &[1, 2, 3, 4]);
        assert!(fb.packed.is_none());
        screen[(usize::from(w) + 1) * 4..(usize::from(w) + 2) * 4].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(*fb.pixels, *screen);
        assert_eq!(fb.take_dirty(), vec![region(1, 1, 1, 1)]);
        // Peeking at a packed screen reads its pixels and leaves it packed.
        assert!(fb.pack_when_still(Duration::ZERO));
        assert!(fb.peek(|pixels| pixels == &screen[..]));
        assert!(fb.is_packed());
        // So does a paint from a whole-screen image, as RDP's decoder keeps.
        fb.paint_from(region(2, 1, 1, 1), &screen, w);
        assert_eq!(*fb.pixels, *screen);
        assert_eq!(fb.take_dirty(), vec![region(2, 1, 1, 1)]);
    }
}
