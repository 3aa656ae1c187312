//! The one function that turns quality rules into an output quality, for every encoder.

use mogr_parse::{MogrParams, Quality};

/// Default quality of JPEG output where the input has none.
pub(crate) const DEFAULT_JPEG: u8 = 75;
/// Default quality of WebP output where the input has none.
pub(crate) const DEFAULT_WEBP: u8 = 75;
/// Default quality of HEIF output where the input has none.
pub(crate) const DEFAULT_HEIF: u8 = 50;
/// Default quality of AVIF output where the input has none.
pub(crate) const DEFAULT_AVIF: u8 = 50;

/// The documented default quality of an output format (SPEC: 75 for JPEG and WebP, 50 for
/// HEIF and AVIF), used where the input has no quality of its own; `None` for formats without
/// a quality (PNG, BMP, GIF).
///
/// ```
/// use mogr_core::{quality::default_quality, ImageFormat};
/// assert_eq!(default_quality(ImageFormat::Avif), Some(50));
/// assert_eq!(default_quality(ImageFormat::Png), None);
/// ```
pub fn default_quality(format: crate::ImageFormat) -> Option<u8> {
    use crate::ImageFormat as F;
    match format {
        F::Jpeg => Some(DEFAULT_JPEG),
        F::Webp => Some(DEFAULT_WEBP),
        F::Heif => Some(DEFAULT_HEIF),
        F::Avif => Some(DEFAULT_AVIF),
        F::Png | F::Bmp | F::Gif | F::Json => None,
    }
}

/// The quality an encoder for `format` uses: [`output_quality`] with the format's
/// [`default_quality`]; `None` where the format has no quality.
pub(crate) fn for_format(
    input: Option<u8>,
    params: &MogrParams,
    format: crate::ImageFormat,
) -> Option<u8> {
    default_quality(format).map(|d| output_quality(input, params, d))
}

/// The output quality (1..=100) for an encoder whose documented default is `default`.
///
/// With the input's quality `Qi` known:
/// - `quality/q`: min(Qi, q); `quality/q!`: q;
/// - `rquality/r`: Qi x r / 100, rounded half up, at least 1;
/// - neither: Qi.
///
/// With `Qi` unknown (PNG, BMP, GIF, lossless WebP, HEIF, AVIF inputs): `quality/q` gives q,
/// `rquality/r` gives r% of `default`, neither gives `default`.
///
/// `lquality/l` then applies as a floor: max(result, l). Quality 0 is treated as 1. Values
/// must have passed [`mogr_parse::Pipeline::validate`]; anything above 100 counts as 100.
pub fn output_quality(input: Option<u8>, params: &MogrParams, default: u8) -> u8 {
    let clamp = |v: u64| v.min(100) as u32;
    let base = u32::from(input.unwrap_or(default));
    let q = match params.quality {
        Some(Quality::Absolute { value, force }) => match input {
            Some(qi) if !force => u32::from(qi).min(clamp(value.value)),
            _ => clamp(value.value),
        },
        Some(Quality::Relative(r)) => ((base * clamp(r.value) + 50) / 100).max(1),
        None => base,
    };
    let q = params.lquality.map_or(q, |l| q.max(clamp(l.value)));
    q.clamp(1, 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use mogr_parse::parse_validated;

    fn q(input: Option<u8>, rule: &str) -> u8 {
        let p = parse_validated(rule).unwrap();
        let mogr_parse::Stage::Mogr(params) = &p.stages[0] else {
            panic!()
        };
        output_quality(input, params, 75)
    }

    #[test]
    fn rules_as_documented() {
        assert_eq!(q(Some(80), "imageMogr2/quality/60"), 60);
        assert_eq!(q(Some(50), "imageMogr2/quality/60"), 50);
        assert_eq!(q(Some(50), "imageMogr2/quality/60!"), 60);
        assert_eq!(q(Some(80), "imageMogr2/rquality/80"), 64);
        assert_eq!(q(Some(85), "imageMogr2/lquality/80"), 85);
        assert_eq!(q(Some(60), "imageMogr2/lquality/80"), 80);
        assert_eq!(q(Some(90), "imageMogr2/rquality/80/lquality/60"), 72);
        assert_eq!(q(Some(70), "imageMogr2/rquality/80/lquality/60"), 60);
        assert_eq!(q(Some(70), "imageMogr2/format/png"), 70);
    }

    #[test]
    fn rounding_and_floors() {
        assert_eq!(q(Some(75), "imageMogr2/rquality/50"), 38); // 37.5 rounds half up
        assert_eq!(q(Some(85), "imageMogr2/rquality/33"), 28); // 28.05
        assert_eq!(q(Some(1), "imageMogr2/rquality/1"), 1); // 0.01, at least 1
        assert_eq!(q(Some(80), "imageMogr2/rquality/0"), 1);
        assert_eq!(q(Some(80), "imageMogr2/quality/0"), 1);
        assert_eq!(q(Some(80), "imageMogr2/quality/0!"), 1);
    }

    #[test]
    fn unknown_input_quality_uses_the_default() {
        assert_eq!(q(None, "imageMogr2/quality/90"), 90);
        assert_eq!(q(None, "imageMogr2/rquality/50"), 38);
        assert_eq!(q(None, "imageMogr2/lquality/60"), 75);
        assert_eq!(q(None, "imageMogr2/lquality/90"), 90);
        assert_eq!(q(None, "imageMogr2/format/jpg"), 75);
        let p = parse_validated("imageMogr2/rquality/50").unwrap();
        let mogr_parse::Stage::Mogr(params) = &p.stages[0] else {
            panic!()
        };
        assert_eq!(output_quality(None, params, DEFAULT_HEIF), 25);
    }
}
