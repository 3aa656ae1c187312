//! A still WebP encode through libwebp's own API, so that the encode can be stopped: the
//! picture's progress hook reads the [`Stop`] and tells libwebp to abort when it is time.
//!
//! This is the one module of mogr-core with `unsafe` code: the `webp` crate makes its
//! `WebPPicture` internally and offers no way to set the hook. Every pointer handed to
//! libwebp outlives the `WebPEncode` call that uses it, and every buffer libwebp allocates
//! is freed on every path.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};

use libwebp_sys as sys;

use crate::error::{Error, FormatName};
use crate::format::ImageFormat;
use crate::pixels::{Bitmap, Layout};
use crate::stop::Stop;

fn failed(message: String) -> Error {
    Error::Encode {
        format: FormatName(Some(ImageFormat::Webp)),
        message,
        source: None,
    }
}

/// Called by libwebp as the encode progresses: 0 aborts it.
unsafe extern "C" fn progress(_percent: c_int, picture: *const sys::WebPPicture) -> c_int {
    // SAFETY: `user_data` is the `&Stop` that `encode` set, which outlives the encode.
    let stop = unsafe { &*((*picture).user_data as *const Stop) };
    c_int::from(stop.check().is_ok())
}

/// Encodes `bitmap` (RGB or RGBA; grey is expanded by the caller) as a still WebP: lossless
/// when `quality` is `None`. `stop` is checked as libwebp reports progress (many times per
/// encode), and a stop gives `Error::Stopped`.
pub(crate) fn encode(bitmap: &Bitmap, quality: Option<u8>, stop: &Stop) -> Result<Vec<u8>, Error> {
    let channels = bitmap.layout.channels();
    if !matches!(bitmap.layout, Layout::Rgb | Layout::Rgba) {
        return Err(failed("libwebp takes RGB or RGBA pixels".into()));
    }
    let (w, h) = (bitmap.width as usize, bitmap.height as usize);
    if bitmap.data.len() != w * h * channels || w == 0 || h == 0 {
        return Err(failed("the pixels do not match the size".into()));
    }
    let stride = c_int::try_from(w * channels).map_err(|_| failed("row too long".into()))?;
    let mut config = sys::WebPConfig::new().map_err(|()| failed("libwebp: bad config".into()))?;
    let lossless = quality.is_none();
    config.lossless = c_int::from(lossless);
    config.alpha_compression = c_int::from(!lossless);
    config.quality = quality.map_or(75.0, f32::from);

    // SAFETY: a zeroed WebPPicture is valid input to WebPPictureInitInternal, which sets
    // every field; the pixel slice (checked above against the size and stride) and `stop`
    // outlive WebPEncode; the picture and the writer are freed before returning.
    unsafe {
        let mut picture: sys::WebPPicture = std::mem::zeroed();
        if sys::WebPPictureInitInternal(&mut picture, sys::WEBP_ENCODER_ABI_VERSION as c_int) == 0 {
            return Err(failed("libwebp: version mismatch".into()));
        }
        picture.use_argb = c_int::from(lossless);
        picture.width = w as c_int;
        picture.height = h as c_int;
        let imported = if channels == 4 {
            sys::WebPPictureImportRGBA(&mut picture, bitmap.data.as_ptr(), stride)
        } else {
            sys::WebPPictureImportRGB(&mut picture, bitmap.data.as_ptr(), stride)
        };
        if imported == 0 {
            sys::WebPPictureFree(&mut picture);
            return Err(failed("libwebp: out of memory importing the pixels".into()));
        }
        let mut writer: sys::WebPMemoryWriter = std::mem::zeroed();
        sys::WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(sys::WebPMemoryWrite);
        picture.custom_ptr = (&mut writer as *mut sys::WebPMemoryWriter).cast::<c_void>();
        picture.user_data = (stop as *const Stop).cast_mut().cast::<c_void>();
        picture.progress_hook = Some(progress);
        let ok = sys::WebPEncode(&config, &mut picture) != 0;
        let code = picture.error_code;
        sys::WebPPictureFree(&mut picture);
        let out = if ok && !writer.mem.is_null() {
            std::slice::from_raw_parts(writer.mem, writer.size).to_vec()
        } else {
            Vec::new()
        };
        sys::WebPMemoryWriterClear(&mut writer);
        if ok {
            return Ok(out);
        }
        if code == sys::WebPEncodingError::VP8_ENC_ERROR_USER_ABORT {
            stop.check()?;
        }
        Err(failed(format!("libwebp: {code:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32, layout: Layout) -> Bitmap {
        let n = (w * h) as usize * layout.channels();
        let mut x = 0x2545_f491_u32;
        let data = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        Bitmap {
            width: w,
            height: h,
            layout,
            data,
        }
    }

    #[test]
    fn encodes_lossy_and_lossless_and_decodes_back() {
        for layout in [Layout::Rgb, Layout::Rgba] {
            for quality in [Some(75), None] {
                let b = noise(64, 48, layout);
                let out = encode(&b, quality, &Stop::never()).unwrap();
                let header = crate::codecs::webp::read_header(&out).unwrap();
                assert_eq!((header.width, header.height), (64, 48));
            }
        }
    }

    #[test]
    fn a_stop_aborts_the_encode() {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let stop = Stop::never().when(flag);
        let err = encode(&noise(256, 256, Layout::Rgb), Some(75), &stop).unwrap_err();
        assert!(matches!(err, Error::Stopped { .. }), "{err}");
    }
}
