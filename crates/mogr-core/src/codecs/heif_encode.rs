//! HEIF (HEVC) and AVIF (AV1) encoding through libheif's C API.
//!
//! Two things keep the memory of an encode down, and both need libheif's C API rather than
//! the safe wrapper used for decoding:
//! - mogr hands libheif the picture as Y'CbCr 4:2:0 planes it converts itself (full-range
//!   BT.601, the matrix libheif applies to RGB input when no colour description is given,
//!   chroma from the mean of each 2x2 block). libheif then holds no RGB copy of the
//!   picture beside its own conversion: 3 to 4 bytes a pixel less during the encode.
//! - A large opaque HEIF is written as a grid of [`GRID_TILE`]-pixel tiles (the layout
//!   phone cameras use), each encoded on its own, so x265 works on one tile at a time. x265
//!   holds about 11 bytes a pixel of the frame it codes: 130 MB for a 12 MP photograph in
//!   one piece, a tenth of that in tiles. The grid needs libheif 1.19 (its
//!   `heif_context_add_grid_image`), looked up when first needed; with an older libheif,
//!   and for AVIF (Firefox does not display AVIF grids) or a picture with alpha, the image
//!   is coded in one piece as before.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use libheif_sys as lh;

use crate::error::{Error, FormatName};
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Layout};
use crate::stop::Stop;

/// Side of one tile of a HEIF grid (a multiple of the 64-pixel coding tree unit); a picture
/// narrower or lower than that has tiles as wide or high as the picture, rounded up to 64.
const GRID_TILE: u32 = 1024;
/// HEIF pictures of more pixels than this are written as a grid of tiles.
const GRID_MIN_PIXELS: u64 = 2048 * 2048;

/// The tile size of a `w` x `h` grid.
fn tile_size(w: u32, h: u32) -> (u32, u32) {
    let side = |n: u32| GRID_TILE.min(n.div_ceil(64).saturating_mul(64).max(64));
    (side(w), side(h))
}

type Result<T> = std::result::Result<T, String>;

fn check(err: lh::heif_error, what: &str) -> Result<()> {
    if err.code == lh::heif_error_code_heif_error_Ok {
        return Ok(());
    }
    let message = if err.message.is_null() {
        String::new()
    } else {
        // SAFETY: libheif's error messages are NUL-terminated strings it owns for at least as
        // long as the object that returned them.
        unsafe { CStr::from_ptr(err.message) }
            .to_string_lossy()
            .into_owned()
    };
    Err(format!("{what}: {message}"))
}

/// A libheif object this module owns, released with `$free` when dropped (null: nothing).
macro_rules! owned {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $free:path) => {
        $(#[$doc])*
        struct $name(*mut $ty);

        impl Drop for $name {
            fn drop(&mut self) {
                if !self.0.is_null() {
                    // SAFETY: the pointer came from libheif's matching allocation call and
                    // is released once, here.
                    unsafe { $free(self.0) }
                }
            }
        }
    };
}

owned!(
    /// Owns a `heif_context`.
    Context,
    lh::heif_context,
    lh::heif_context_free
);
owned!(
    /// Owns a `heif_encoder`.
    Encoder,
    lh::heif_encoder,
    lh::heif_encoder_release
);
owned!(
    /// Owns a `heif_image`.
    Image,
    lh::heif_image,
    lh::heif_image_release
);
owned!(
    /// Owns a `heif_image_handle`.
    Handle,
    lh::heif_image_handle,
    lh::heif_image_handle_release
);
owned!(
    /// Owns `heif_encoding_options`.
    Options,
    lh::heif_encoding_options,
    lh::heif_encoding_options_free
);

type AddGridImage = unsafe extern "C" fn(
    *mut lh::heif_context,
    u32,
    u32,
    u32,
    u32,
    *const lh::heif_encoding_options,
    *mut *mut lh::heif_image_handle,
) -> lh::heif_error;
type AddImageTile = unsafe extern "C" fn(
    *mut lh::heif_context,
    *mut lh::heif_image_handle,
    u32,
    u32,
    *const lh::heif_image,
    *mut lh::heif_encoder,
) -> lh::heif_error;
type AddRawProperty = unsafe extern "C" fn(
    *const lh::heif_context,
    lh::heif_item_id,
    u32,
    *const u8,
    *const u8,
    usize,
    c_int,
    *mut lh::heif_property_id,
) -> lh::heif_error;

/// libheif's grid-writing functions (1.19 and newer), when the loaded library has them.
#[derive(Clone, Copy)]
struct GridApi {
    add_grid_image: AddGridImage,
    add_image_tile: AddImageTile,
    add_raw_property: AddRawProperty,
}

fn grid_api() -> Option<GridApi> {
    static API: OnceLock<Option<GridApi>> = OnceLock::new();
    *API.get_or_init(|| {
        let find = |name: &CStr| {
            // SAFETY: dlsym with RTLD_DEFAULT searches the objects already loaded (libheif is
            // linked into this program); the name is NUL-terminated.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        let grid = find(c"heif_context_add_grid_image")?;
        let tile = find(c"heif_context_add_image_tile")?;
        let property = find(c"heif_item_add_raw_property")?;
        // SAFETY: the symbols are libheif's functions of these signatures (libheif/heif.h and
        // heif_properties.h since 1.19, unchanged in later releases).
        unsafe {
            Some(GridApi {
                add_grid_image: std::mem::transmute::<*mut c_void, AddGridImage>(grid),
                add_image_tile: std::mem::transmute::<*mut c_void, AddImageTile>(tile),
                add_raw_property: std::mem::transmute::<*mut c_void, AddRawProperty>(property),
            })
        }
    })
}

/// libheif's grid functions when a `format` picture of `bitmap`'s size and layout is written
/// as a grid of tiles; `None` when it is coded in one piece.
fn grid_for(format: ImageFormat, bitmap: &Bitmap) -> Option<GridApi> {
    let large = u64::from(bitmap.width) * u64::from(bitmap.height) > GRID_MIN_PIXELS;
    if format == ImageFormat::Heif && bitmap.layout != Layout::Rgba && large {
        grid_api()
    } else {
        None
    }
}

/// Encodes a bitmap as HEIF (HEVC) or AVIF (AV1) at `quality` (1..=100), checking `stop`
/// between the tiles of a grid. `bitmap` is well formed: [`crate::encode`], the only caller,
/// refuses a raster for which [`Bitmap::malformed`] says otherwise.
pub(crate) fn encode(
    bitmap: &Bitmap,
    icc: Option<&[u8]>,
    format: ImageFormat,
    quality: u8,
    stop: &Stop,
) -> std::result::Result<Vec<u8>, Error> {
    let fail = |message: String| Error::Encode {
        format: FormatName(Some(format)),
        message: format!("libheif: {message}"),
        source: None,
    };
    match grid_for(format, bitmap) {
        Some(api) => encode_grid(bitmap, icc, format, quality, stop, api),
        None => encode_one(bitmap, icc, format, quality),
    }
    .map_err(|e| match e {
        Failure::Stopped(e) => e,
        Failure::Heif(m) => fail(m),
    })
}

enum Failure {
    Heif(String),
    Stopped(Error),
}

impl From<String> for Failure {
    fn from(m: String) -> Failure {
        Failure::Heif(m)
    }
}

fn new_context() -> Result<Context> {
    // SAFETY: no preconditions; a null result is checked.
    let ctx = unsafe { lh::heif_context_alloc() };
    if ctx.is_null() {
        return Err("cannot allocate a context".into());
    }
    Ok(Context(ctx))
}

fn new_encoder(ctx: &Context, format: ImageFormat, quality: u8) -> Result<Encoder> {
    // libheif-rs's compression formats carry libheif's own values.
    let codec = super::heif::codec_of(format) as lh::heif_compression_format;
    let mut enc = ptr::null_mut();
    // SAFETY: a live context and an out-pointer.
    check(
        unsafe { lh::heif_context_get_encoder_for_format(ctx.0, codec, &mut enc) },
        "no encoder",
    )?;
    let enc = Encoder(enc);
    // SAFETY: a live encoder.
    check(
        unsafe { lh::heif_encoder_set_lossy_quality(enc.0, c_int::from(quality.clamp(1, 100))) },
        "quality",
    )?;
    if format == ImageFormat::Avif {
        // aom's intra block copy (for screen content) hashes every block position of the
        // frame: on palette-like pictures (a GIF's dithering) it took 3.5x the memory and 6x
        // the time for a file a few percent smaller. Older plugins without the parameter
        // are left as they are.
        // SAFETY: a live encoder and a NUL-terminated name.
        let _ =
            unsafe { lh::heif_encoder_set_parameter_boolean(enc.0, c"enable-intrabc".as_ptr(), 0) };
    }
    Ok(enc)
}

/// Full-range BT.601 luma of an RGB sample.
fn luma(r: f32, g: f32, b: f32) -> u8 {
    (0.299 * r + 0.587 * g + 0.114 * b + 0.5).clamp(0.0, 255.0) as u8
}

/// Full-range BT.601 chroma (Cb, Cr) of an RGB sample.
fn chroma(r: f32, g: f32, b: f32) -> (u8, u8) {
    let cb = -0.168_736 * r - 0.331_264 * g + 0.5 * b + 128.5;
    let cr = 0.5 * r - 0.418_688 * g - 0.081_312 * b + 128.5;
    (cb.clamp(0.0, 255.0) as u8, cr.clamp(0.0, 255.0) as u8)
}

/// A libheif image plane: its rows, `stride` bytes apart.
struct Plane<'a> {
    data: &'a mut [u8],
    stride: usize,
}

fn add_plane<'a>(img: &'a Image, channel: lh::heif_channel, w: u32, h: u32) -> Result<Plane<'a>> {
    // SAFETY: a live image; sizes fit c_int (the limits keep images far below 2^31 pixels a
    // side, and tiles are smaller still).
    check(
        unsafe { lh::heif_image_add_plane(img.0, channel, w as c_int, h as c_int, 8) },
        "plane",
    )?;
    let mut stride: c_int = 0;
    // SAFETY: the plane was just added; libheif returns its base and row stride.
    let base = unsafe { lh::heif_image_get_plane(img.0, channel, &mut stride) };
    if base.is_null() || (stride as usize) < w as usize {
        return Err("libheif gave no plane".into());
    }
    let stride = stride as usize;
    let len = stride * (h as usize - 1) + w as usize;
    // SAFETY: libheif allocated `h` rows of `stride` bytes for this plane, owned by `img`,
    // which outlives the borrow; nothing else writes to them meanwhile.
    let data = unsafe { std::slice::from_raw_parts_mut(base, len) };
    Ok(Plane { data, stride })
}

/// The `w` x `h` region of `bitmap` at (`x0`, `y0`) as a Y'CbCr 4:2:0 libheif image (with an
/// alpha plane for RGBA); pixels past the bitmap's right and bottom edges repeat its last
/// column and row.
fn ycbcr_image(
    bitmap: &Bitmap,
    (x0, y0): (u32, u32),
    (w, h): (u32, u32),
    icc: Option<&[u8]>,
) -> Result<Image> {
    let mut img = ptr::null_mut();
    // SAFETY: an out-pointer; the size is non-zero (checked by the caller through
    // Bitmap::malformed and the tiling).
    check(
        unsafe {
            lh::heif_image_create(
                w as c_int,
                h as c_int,
                lh::heif_colorspace_heif_colorspace_YCbCr,
                lh::heif_chroma_heif_chroma_420,
                &mut img,
            )
        },
        "image",
    )?;
    let img = Image(img);
    let ch = bitmap.layout.channels();
    let row_len = bitmap.width as usize * ch;
    let rgb_at = |x: u32, y: u32| -> [f32; 3] {
        let x = (x0 + x).min(bitmap.width - 1) as usize;
        let y = (y0 + y).min(bitmap.height - 1) as usize;
        let p = &bitmap.data[y * row_len + x * ch..];
        match bitmap.layout {
            Layout::Gray => [f32::from(p[0]); 3],
            Layout::Rgb | Layout::Rgba => [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])],
        }
    };
    let (cw, chh) = (w.div_ceil(2), h.div_ceil(2));
    {
        let luma_plane = add_plane(&img, lh::heif_channel_heif_channel_Y, w, h)?;
        for y in 0..h {
            let out = &mut luma_plane.data[y as usize * luma_plane.stride..][..w as usize];
            for (x, o) in (0..w).zip(out) {
                let [r, g, b] = rgb_at(x, y);
                *o = luma(r, g, b);
            }
        }
    }
    {
        let cb = add_plane(&img, lh::heif_channel_heif_channel_Cb, cw, chh)?;
        let (cb_data, cb_stride) = (cb.data, cb.stride);
        let cr = add_plane(&img, lh::heif_channel_heif_channel_Cr, cw, chh)?;
        for cy in 0..chh {
            for cx in 0..cw {
                let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
                for y in (2 * cy)..(2 * cy + 2).min(h) {
                    for x in (2 * cx)..(2 * cx + 2).min(w) {
                        let p = rgb_at(x, y);
                        sum = [sum[0] + p[0], sum[1] + p[1], sum[2] + p[2]];
                        n += 1.0;
                    }
                }
                let (b, r) = chroma(sum[0] / n, sum[1] / n, sum[2] / n);
                let i = cy as usize * cb_stride + cx as usize;
                cb_data[i] = b;
                cr.data[cy as usize * cr.stride + cx as usize] = r;
            }
        }
    }
    if bitmap.layout == Layout::Rgba {
        let alpha = add_plane(&img, lh::heif_channel_heif_channel_Alpha, w, h)?;
        for y in 0..h {
            let out = &mut alpha.data[y as usize * alpha.stride..][..w as usize];
            let sy = (y0 + y).min(bitmap.height - 1) as usize;
            for (x, o) in (0..w).zip(out) {
                let sx = (x0 + x).min(bitmap.width - 1) as usize;
                *o = bitmap.data[sy * row_len + sx * 4 + 3];
            }
        }
    }
    if let Some(icc) = icc {
        // A profile libheif will not take is dropped rather than failing the image.
        // SAFETY: a live image; the profile's bytes are copied by libheif.
        let _ = unsafe {
            lh::heif_image_set_raw_color_profile(
                img.0,
                c"prof".as_ptr(),
                icc.as_ptr().cast(),
                icc.len(),
            )
        };
    }
    Ok(img)
}

/// The whole picture as one coded image.
fn encode_one(
    bitmap: &Bitmap,
    icc: Option<&[u8]>,
    format: ImageFormat,
    quality: u8,
) -> std::result::Result<Vec<u8>, Failure> {
    let ctx = new_context()?;
    let enc = new_encoder(&ctx, format, quality)?;
    let img = ycbcr_image(bitmap, (0, 0), (bitmap.width, bitmap.height), icc)?;
    // SAFETY: live context, image and encoder; default options; no handle asked for.
    check(
        unsafe { lh::heif_context_encode_image(ctx.0, img.0, enc.0, ptr::null(), ptr::null_mut()) },
        "encode",
    )?;
    drop(img);
    Ok(write(&ctx)?)
}

/// The picture as a grid of tiles ([`tile_size`]), each coded on its own; the grid item
/// carries the ICC profile (as the tiles do).
fn encode_grid(
    bitmap: &Bitmap,
    icc: Option<&[u8]>,
    format: ImageFormat,
    quality: u8,
    stop: &Stop,
    api: GridApi,
) -> std::result::Result<Vec<u8>, Failure> {
    let ctx = new_context()?;
    let enc = new_encoder(&ctx, format, quality)?;
    let (tw, th) = tile_size(bitmap.width, bitmap.height);
    let (cols, rows) = (bitmap.width.div_ceil(tw), bitmap.height.div_ceil(th));
    // SAFETY: no preconditions; a null result is checked.
    let options = Options(unsafe { lh::heif_encoding_options_alloc() });
    if options.0.is_null() {
        return Err(Failure::Heif("cannot allocate encoding options".into()));
    }
    let mut grid = Handle(ptr::null_mut());
    // SAFETY: a live context and options, an out-pointer; the tile counts are at least 1.
    check(
        unsafe {
            (api.add_grid_image)(
                ctx.0,
                bitmap.width,
                bitmap.height,
                cols,
                rows,
                options.0,
                &mut grid.0,
            )
        },
        "grid",
    )?;
    if grid.0.is_null() {
        return Err(Failure::Heif("libheif gave no grid handle".into()));
    }
    for ty in 0..rows {
        for tx in 0..cols {
            stop.check().map_err(Failure::Stopped)?;
            let tile = ycbcr_image(bitmap, (tx * tw, ty * th), (tw, th), icc)?;
            // SAFETY: live context, grid handle, tile image and encoder; the tile position
            // is inside the grid.
            check(
                unsafe { (api.add_image_tile)(ctx.0, grid.0, tx, ty, tile.0, enc.0) },
                "tile",
            )?;
        }
    }
    // SAFETY: live context and handle.
    check(
        unsafe { lh::heif_context_set_primary_image(ctx.0, grid.0) },
        "primary image",
    )?;
    if let Some(icc) = icc {
        // The grid's own colour property: readers take the primary item's, not its tiles'.
        let mut body = Vec::with_capacity(4 + icc.len());
        body.extend_from_slice(b"prof");
        body.extend_from_slice(icc);
        // SAFETY: a live context and handle; libheif copies the property's bytes.
        let id = unsafe { lh::heif_image_handle_get_item_id(grid.0) };
        let mut property = 0;
        check(
            unsafe {
                (api.add_raw_property)(
                    ctx.0,
                    id,
                    u32::from_be_bytes(*b"colr"),
                    ptr::null(),
                    body.as_ptr(),
                    body.len(),
                    0,
                    &mut property,
                )
            },
            "colour profile",
        )?;
    }
    drop(grid);
    Ok(write(&ctx)?)
}

unsafe extern "C" fn append(
    _ctx: *mut lh::heif_context,
    data: *const c_void,
    size: usize,
    userdata: *mut c_void,
) -> lh::heif_error {
    // SAFETY: `userdata` is the Vec<u8> that `write` passes, alive and not otherwise borrowed
    // during heif_context_write; libheif passes `size` readable bytes at `data`.
    unsafe {
        let out = &mut *userdata.cast::<Vec<u8>>();
        if size > 0 {
            out.extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), size));
        }
    }
    lh::heif_error {
        code: lh::heif_error_code_heif_error_Ok,
        subcode: lh::heif_suberror_code_heif_suberror_Unspecified,
        message: c"Success".as_ptr().cast::<c_char>(),
    }
}

/// The context's file.
fn write(ctx: &Context) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut writer = lh::heif_writer {
        writer_api_version: 1,
        write: Some(append),
    };
    // SAFETY: a live context; the writer and the Vec outlive the call.
    check(
        unsafe { lh::heif_context_write(ctx.0, &mut writer, (&mut out as *mut Vec<u8>).cast()) },
        "write",
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_at_most_a_grid_tile_and_no_wider_than_the_picture_needs() {
        assert_eq!(tile_size(4032, 3024), (1024, 1024));
        // A tall strip: tiles as wide as the strip, rounded up to the coding unit.
        assert_eq!(tile_size(400, 11000), (448, 1024));
        assert_eq!(tile_size(1, 5000), (64, 1024));
        assert_eq!(tile_size(u32::MAX, 1024), (1024, 1024));
    }
}
