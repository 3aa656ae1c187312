//! Helpers shared by the unit tests.

use mogr_core::Bitmap;

/// The first frame of `tests/images/{path}` in the repo, decoded.
pub(crate) fn image(path: &str) -> Bitmap {
    let bytes = std::fs::read(format!(
        "{}/../../tests/images/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("a repo image");
    crate::decode_candidate(&bytes)
        .expect("decodes")
        .frames
        .remove(0)
        .bitmap
}

/// The top-left `w` x `h` of `b`.
pub(crate) fn crop(b: &Bitmap, w: u32, h: u32) -> Bitmap {
    let ch = b.layout.channels();
    let data = (0..h as usize)
        .flat_map(|y| b.data[y * b.width as usize * ch..][..w as usize * ch].to_vec())
        .collect();
    Bitmap {
        width: w,
        height: h,
        layout: b.layout,
        data,
    }
}
