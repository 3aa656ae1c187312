//! What every decode target does: probe under small limits, then decode what passed.

/// Probes `data` as `format` (other formats are skipped) and decodes it when the header
/// passes the limits; a decoded raster must have consistent frames.
pub fn decode(data: &[u8], format: mogr_core::ImageFormat) {
    if data.len() > 1 << 20 || mogr_core::ImageFormat::sniff(data) != Some(format) {
        return;
    }
    let limits = mogr_core::Limits::default().with_max_pixels(4_000_000).with_max_side(4096).with_max_frames(50);
    let Ok(probe) = mogr_core::probe(data, &limits) else { return };
    let Ok(admitted) = probe.admit(&limits, 0) else { return };
    if let Ok(raster) = mogr_core::decode(data, &admitted, mogr_core::FramePick::All, true) {
        for f in &raster.frames {
            let b = &f.bitmap;
            assert_eq!(b.data.len(), b.width as usize * b.height as usize * b.layout.channels());
        }
    }
}
