//! An idle RDP desktop's memory: while the relay's framebuffer holds a
//! still screen packed, `rdp.rs` drops IronRDP's own picture of it (4 bytes
//! a pixel: 3 MiB at 1024×768, 7.9 MiB at 1920×1080), and rebuilds it from
//! the framebuffer here when the server next sends a frame.

use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::geometry::ExclusiveRectangle;
use ironrdp_session::ActiveStage;
use ironrdp_session::image::DecodedImage;

use crate::framebuffer::Framebuffer;

/// Rows copied into IronRDP's picture at a time (it takes each band as a
/// buffer of its own).
const BAND: usize = 64;

/// IronRDP's picture of a `screen`-sized desktop, holding the framebuffer's
/// pixels (left packed, if they are): a frame is decoded into it as into
/// the picture it replaces, and an update's rectangle can span pixels the
/// update does not draw, which must be the screen's, not black. Black if
/// the framebuffer is not the screen's size (a server beyond its limit).
pub(crate) fn picture_of(
    stage: &mut ActiveStage,
    screen: (u16, u16),
    fb: &Framebuffer,
) -> DecodedImage {
    let (width, height) = screen;
    let mut image = DecodedImage::new(PixelFormat::RgbA32, width, height);
    if width == 0 || height == 0 || fb.size() != screen {
        return image;
    }
    fb.peek(|pixels| {
        let stride = usize::from(width) * 4;
        for (i, band) in pixels.chunks(stride * BAND).enumerate() {
            let top = (i * BAND) as u16;
            let rect = ExclusiveRectangle {
                left: 0,
                top,
                right: width,
                bottom: top + (band.len() / stride) as u16,
            };
            if let Err(e) = stage.composite_rgba32(&mut image, [(rect, band.to_vec())]) {
                tracing::debug!(error = %e, "the RDP picture was not rebuilt whole");
            }
        }
    });
    // The rebuild is not the server's change: no damage to report.
    stage.take_damage_regions();
    image
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ironrdp_session::ActiveStageBuilder;
    use ironrdp_svc::StaticChannelSet;

    use super::*;
    use crate::framebuffer::Region;

    #[test]
    fn a_packed_screen_rebuilds_the_same_picture_and_stays_packed() {
        let mut stage = ActiveStageBuilder {
            static_channels: StaticChannelSet::new(),
            user_channel_id: 1002,
            io_channel_id: 1003,
            message_channel_id: None,
            share_id: 0,
            compression_type: None,
            enable_server_pointer: false,
            pointer_software_rendering: true,
        }
        .build();
        // 200 rows: more than three bands, the last one short.
        let (w, h) = (150u16, 200u16);
        let screen: Vec<u8> = (0..usize::from(w) * usize::from(h) * 4)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut fb = Framebuffer::new(w, h);
        fb.paint(
            Region {
                x: 0,
                y: 0,
                width: w,
                height: h,
            },
            &screen,
        );
        fb.take_dirty();
        assert!(fb.pack_when_still(Duration::ZERO));

        let image = picture_of(&mut stage, (w, h), &fb);
        assert_eq!((image.width(), image.height()), (w, h));
        assert!(image.data() == &screen[..], "the picture is the screen's");
        assert!(fb.is_packed(), "reading it left the screen packed");

        // A framebuffer of another size (beyond the gateway's limit) gives
        // a black picture of the server's size rather than a wrong one.
        let image = picture_of(&mut stage, (w + 1, h), &fb);
        assert_eq!(image.width(), w + 1);
        assert!(image.data().iter().all(|b| *b == 0));
    }
}
