//! Decoding conformance: files from other projects' test suites (`tests/images/conformance`,
//! provenance in `tests/images/PROVENANCE.tsv`) decode as those suites' references and as
//! libjpeg-turbo's `djpeg` say.

mod common;

use common::*;
use mogr_core::{Bitmap, Layout};

fn sample(name: &str) -> Vec<u8> {
    image(&format!("conformance/{name}"))
}

/// Noise, the hardest case for upsampling: every edge sample differs from its neighbours.
fn noise(width: u32, height: u32, seed: &mut u32) -> Bitmap {
    let data = (0..width * height * 3)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (*seed >> 24) as u8
        })
        .collect();
    Bitmap {
        width,
        height,
        layout: Layout::Rgb,
        data,
    }
}

#[test]
fn lossless_jpeg_above_eight_bits_is_scaled_by_its_precision() {
    for (name, precision) in [
        ("jpeg-decoder__lossless__1__jpeg_lossless_sel1.jpg", 16u32),
        ("jpeg-decoder__lossless__2__MR4.jpg", 12),
    ] {
        let input = sample(name);
        let reference = image::load_from_memory(&sample(&format!("{name}.ref.png")))
            .unwrap()
            .into_luma16();
        // The suite's reference holds the samples as they are; 8 bits is v * 255 / (2^p - 1).
        let max = (1u32 << precision) - 1;
        let expected: Vec<u8> = reference
            .as_raw()
            .iter()
            .map(|&v| ((u32::from(v) * 255 + max / 2) / max) as u8)
            .collect();
        let ours = decode(&input);
        assert_eq!((ours.width, ours.height), reference.dimensions(), "{name}");
        assert_eq!(ours.layout, Layout::Gray, "{name}");
        assert!(
            ours.data == expected,
            "{name}: pixels differ from the reference"
        );

        // Through the rules and `info`.
        let png = mogr::process(&input, "imageMogr2/format/png").unwrap();
        let back = image::load_from_memory(&png.bytes).unwrap().into_luma8();
        assert!(back.as_raw() == &expected, "{name}: format/png");
        let info = mogr::info(&input).unwrap();
        assert_eq!((info.width, info.height), reference.dimensions(), "{name}");
    }
}

#[test]
fn subsampled_jpegs_decode_as_libjpeg_at_every_size() {
    // The suite's 4x4 4:2:0 file (chroma 2 samples wide: libjpeg replicates, no smoothing).
    let name = "jpeg-decoder__mozilla__jpg-size-4x4.jpg";
    let reference = image::load_from_memory(&sample(&format!("{name}.ref.png")))
        .unwrap()
        .into_rgb8();
    assert!(decode(&sample(name)).data == reference.as_raw().as_slice());

    if !have("cjpeg") || !have("djpeg") {
        return;
    }
    // A picture above a megapixel, reconstructed in bands on several threads: the same.
    let mut seed = 3;
    let big = noise(1302, 901, &mut seed);
    for sampling in ["2x2", "2x1"] {
        let jpeg = cjpeg(&big, 85, &["-sample", sampling]);
        assert!(
            decode(&jpeg).data == djpeg(&jpeg).data,
            "1302x901 {sampling}"
        );
    }
    // Every small size, each subsampling, baseline and progressive: bit for bit djpeg's.
    let mut seed = 7;
    for (i, sampling) in ["2x2", "2x1", "1x2", "4x1"].into_iter().enumerate() {
        for width in 1..=18 {
            for height in [1, 2, 3, 5, 8, 9, 17] {
                let source = noise(width, height, &mut seed);
                let mut extra = vec!["-sample", sampling];
                if (width + height + i as u32) % 2 == 1 {
                    extra.push("-progressive");
                }
                let jpeg = cjpeg(&source, 90, &extra);
                let (ours, theirs) = (decode(&jpeg), djpeg(&jpeg));
                assert_eq!((ours.width, ours.height), (width, height));
                assert!(
                    ours.data == theirs.data,
                    "{sampling} {width}x{height} {extra:?}: differs from djpeg"
                );
            }
        }
    }
}

#[test]
fn a_rule_with_nothing_to_do_still_refuses_a_corrupt_input() {
    // PngSuite's invalid bit depth: `info` refuses it, and so does every rule, including
    // those that would return the input as it is.
    let png = sample("pngsuite__xd0n2c08.png");
    assert!(mogr::info(&png).is_err());
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/quality/50",
        "imageMogr2/quality/50/ignore-error/1",
        "imageSlim",
    ] {
        match mogr::process(&png, rule) {
            Err(mogr::Error::Decode { .. }) => {}
            other => panic!("{rule}: {other:?}"),
        }
    }

    // A PNG whose image data fails its CRC: returned unchanged before, a decode error now.
    let good = image("png/mpl-Minduka_Present_Blue_Pack.png");
    let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut bad_crc = good.clone();
    bad_crc[idat + 8] ^= 0x55;
    assert!(matches!(
        mogr::process(&bad_crc, "imageMogr2/format/png"),
        Err(mogr::Error::Decode { .. })
    ));
    // A JPEG cut inside its scan decodes leniently (the rest grey, as libjpeg does): when
    // returned unchanged, it is a file `info` reads.
    let jpeg = image("jpeg/pil-flower.jpg");
    let sos = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let mut cut = jpeg[..sos + (jpeg.len() - sos) / 2].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    let out = mogr::process(&cut, "imageMogr2/quality/100").unwrap();
    assert!(mogr::info(&out.bytes).is_ok());
    // `info` answers for exactly the files the rules read.
    for file in [
        "corrupt/pil-truncated_jpeg.jpg",
        "corrupt/pil-flower.trunc50.jpg",
        "corrupt/mpl-grace_hopper.header-only.jpg",
    ] {
        let bytes = image(file);
        let read = mogr::process(&bytes, "imageMogr2/format/png").is_ok();
        assert_eq!(mogr::info(&bytes).is_ok(), read, "{file}");
    }

    // Valid inputs with nothing to do still come back byte for byte.
    for (file, rule) in [
        (
            "png/mpl-Minduka_Present_Blue_Pack.png",
            "imageMogr2/format/png",
        ),
        ("jpeg/pil-flower.jpg", "imageMogr2/quality/100"),
        ("gif/pil-hopper.gif", "imageMogr2/format/gif"),
        ("webp/pil-flower.webp", "imageMogr2/format/webp"),
        ("bmp/pil-hopper.bmp", "imageSlim"),
    ] {
        let input = image(file);
        let out = mogr::process(&input, rule).unwrap();
        assert_eq!(&*out.bytes, &input[..], "{file} {rule}");
    }
}

#[test]
fn arithmetic_coded_jpegs_decode_as_libjpeg() {
    // libjpeg-turbo's own arithmetic-coded test image.
    let ari = sample("libjpeg-turbo__testimgari.jpg");
    let ours = decode(&ari);
    assert_eq!(
        (ours.width, ours.height, ours.layout),
        (227, 149, Layout::Rgb)
    );
    let info = mogr::info(&ari).unwrap();
    assert_eq!(
        (info.width, info.height, info.quality),
        (227, 149, Some(75))
    );
    // Every rule works on it; a re-encode is Huffman-coded and decodes close to it.
    let out = mogr::process(&ari, "imageMogr2/quality/60").unwrap();
    assert_eq!(sof_marker(&out.bytes), 0xC0);
    assert!(mean_abs_diff(&decode(&out.bytes), &ours) < 4.0);
    mogr::process(&ari, "imageMogr2/format/webp").unwrap();

    if !have("cjpeg") || !have("djpeg") {
        return;
    }
    assert!(
        ours.data == djpeg(&ari).data,
        "testimgari.jpg differs from djpeg"
    );
    // Sequential and progressive (with refinement scans), restart markers, grey and each
    // subsampling: bit for bit djpeg's.
    let mut seed = 11;
    for sampling in ["2x2", "1x1", "2x1", "grey"] {
        for (width, height) in [(1, 1), (7, 5), (33, 17), (130, 67)] {
            for extra in [&[][..], &["-progressive"], &["-restart", "1"]] {
                let source = noise(width, height, &mut seed);
                let mut args = vec!["-arithmetic"];
                args.extend_from_slice(extra);
                if sampling == "grey" {
                    args.push("-grayscale");
                } else {
                    args.extend(["-sample", sampling]);
                }
                let jpeg = cjpeg(&source, 75, &args);
                assert!(
                    decode(&jpeg).data == djpeg(&jpeg).data,
                    "{width}x{height} {args:?}: differs from djpeg"
                );
            }
        }
    }
}

#[test]
fn a_gif_extension_block_gif89a_does_not_define_is_skipped() {
    // image-gif's regression file: an extension with label 0x2A before the image.
    let gif = sample("image-gif__regression__issue-209-extension-block-type.gif");
    let info = mogr::info(&gif).unwrap();
    assert_eq!((info.width, info.height, info.frame_count), (1, 1, 1));
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/quality/50",
        "imageSlim",
    ] {
        let out = mogr::process(&gif, rule).unwrap();
        assert!(mogr::info(&out.bytes).is_ok(), "{rule}");
    }
    let png = mogr::process(&gif, "imageMogr2/format/png").unwrap();
    let back = image::load_from_memory(&png.bytes).unwrap().into_rgba8();
    assert_eq!(back.dimensions(), (1, 1));
}

#[test]
fn a_gif_whose_frames_reach_past_its_screen_reports_the_size_it_decodes_to() {
    // Pillow's test_extents.gif: a 100x100 screen, frames up to 150x150 (cropped on decode).
    let gif = sample("pillow__test_extents.gif");
    let info = mogr::info(&gif).unwrap();
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/format/webp",
        "imageMogr2/cgif/1",
    ] {
        let out = mogr::process(&gif, rule).unwrap();
        let decoded = mogr::info(&out.bytes).unwrap();
        assert_eq!(
            (out.width, out.height, decoded.width, decoded.height),
            (info.width, info.height, info.width, info.height),
            "{rule}"
        );
    }
    assert_eq!((info.width, info.height), (100, 100));
    // The frames' extent is still checked against the limits.
    let tight = mogr::Limits::default().with_max_side(120);
    let refused = mogr::Processor::new()
        .with_limits(tight)
        .process(&gif, "imageMogr2/format/png");
    assert!(
        matches!(refused, Err(mogr::Error::Limits { .. })),
        "{refused:?}"
    );
}

#[test]
fn an_unsupported_jpeg_process_is_named_not_called_corrupt() {
    // pil-flower.jpg's frame header (the last SOF0: its EXIF thumbnail has one too)
    // rewritten to say extended sequential, 12 bits per sample.
    let mut jpeg = image("jpeg/pil-flower.jpg");
    let sof = jpeg.windows(2).rposition(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 1] = 0xC1;
    jpeg[sof + 4] = 12;
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/quality/50",
        "imageInfo",
    ] {
        let message = match mogr::process(&jpeg, rule) {
            Err(e @ mogr::Error::Decode { .. }) => e.to_string(),
            other => panic!("{rule}: {other:?}"),
        };
        assert!(
            message.contains("12-bit lossy JPEG is not supported"),
            "{rule}: {message}"
        );
    }
}

#[test]
fn a_gif_without_any_colour_table_uses_a_greyscale_default() {
    // image-gif's regression file with its global colour table taken out: index i is
    // grey level i (its one pixel is index 1: all but black).
    let with = sample("image-gif__regression__issue-209-extension-block-type.gif");
    let table = 3 << ((with[10] & 7) + 1);
    let mut without = with[..10].to_vec();
    without.push(0);
    without.extend_from_slice(&with[11..13]);
    without.extend_from_slice(&with[13 + table..]);
    let png = mogr::process(&without, "imageMogr2/format/png").unwrap();
    let back = image::load_from_memory(&png.bytes).unwrap().into_rgba8();
    assert_eq!(back.as_raw().as_slice(), &[1, 1, 1, 255]);
    assert!(mogr::info(&without).is_ok());
    assert!(mogr::process(&without, "imageMogr2/quality/50").is_ok());
}

#[test]
fn an_apng_keeps_its_frames_and_delays() {
    // The traffic light GIF's four frames as an APNG (derived in the repo, see PROVENANCE).
    let apng = image("png/jxl-traffic_light.apng.png");
    let gif = image("gif/jxl-traffic_light.gif");
    let info = mogr::info(&apng).unwrap();
    assert_eq!((info.width, info.height, info.frame_count), (60, 105, 4));
    let source = decode_all(&gif);
    for rule in ["imageMogr2/format/gif", "imageMogr2/format/webp"] {
        let out = mogr::process(&apng, rule).unwrap();
        assert_eq!(out.frames, 4, "{rule}");
        let back = decode_all(&out.bytes);
        let delays: Vec<u32> = back.frames.iter().map(|f| f.delay_ms).collect();
        assert_eq!(delays, [3000, 1000, 3000, 1000], "{rule}");
        assert_eq!(back.loop_count, Some(0), "{rule}");
        // Each frame shows what the GIF it came from shows (lossy WebP: close).
        for (i, (ours, theirs)) in back.frames.iter().zip(&source.frames).enumerate() {
            let rgba = |b: &Bitmap| Bitmap {
                layout: Layout::Rgba,
                data: b.to_rgba(),
                ..b.clone()
            };
            let diff = mean_abs_diff(&rgba(&ours.bitmap), &rgba(&theirs.bitmap));
            assert!(diff < 6.0, "{rule} frame {i}: mean difference {diff:.2}");
        }
    }
    // imageSlim and same-format rules keep the animation: the APNG comes back as it is.
    for rule in [
        "imageSlim",
        "imageMogr2/format/png",
        "imageMogr2/quality/50",
    ] {
        let out = mogr::process(&apng, rule).unwrap();
        assert_eq!(&*out.bytes, &apng[..], "{rule}");
    }
    // Its frames count against the limits.
    let two = mogr::Limits::default().with_max_frames(2);
    let refused = mogr::Processor::new()
        .with_limits(two)
        .process(&apng, "imageMogr2/format/gif");
    assert!(
        matches!(refused, Err(mogr::Error::Limits { .. })),
        "{refused:?}"
    );
}

#[test]
fn bmp_with_an_os2_v2_header_decodes() {
    // The repo's 8-bit palette BMP with its 40-byte Windows header rewritten as OS/2 2.x
    // headers: 64 bytes (24 bytes of OS/2 fields added) and 16 bytes (sizes, planes, depth).
    let windows = image("bmp/pil-bmpsuite-pal8.bmp");
    let reference = decode_all(&windows).frames.remove(0).bitmap;
    let rebuilt = |size: u32| {
        let header = &windows[14..54];
        let mut body = header[..(size.min(40)) as usize].to_vec();
        body[..4].copy_from_slice(&size.to_le_bytes());
        body.resize(size as usize, 0);
        let mut file = windows[..14].to_vec();
        file.extend_from_slice(&body);
        file.extend_from_slice(&windows[54..]);
        let offset = u32::from_le_bytes(windows[10..14].try_into().unwrap()) + size - 40;
        file[10..14].copy_from_slice(&offset.to_le_bytes());
        let length = file.len() as u32;
        file[2..6].copy_from_slice(&length.to_le_bytes());
        file
    };
    for size in [64, 16] {
        let os2 = rebuilt(size);
        let info = mogr::info(&os2).unwrap();
        assert_eq!((info.width, info.height), (127, 64), "{size}-byte header");
        let decoded = decode_all(&os2).frames.remove(0).bitmap;
        assert!(decoded == reference, "{size}-byte header: pixels differ");
        mogr::process(&os2, "imageMogr2/format/png").unwrap();
    }
}

#[cfg(feature = "heif")]
#[test]
fn a_layered_avif_gets_one_answer_from_info_and_the_rules() {
    // AV1 spatial layers: the item declares 360x182 (operating point 2), the coded stream
    // holds a 1436x730 layer that libheif would decode. What the decoder would produce is
    // larger than what the limits were checked against: refused, by `info` and every rule
    // alike, before libheif allocates for it.
    let avif = sample("av1-avif__Xiph__quebec_3layer_op2.avif");
    let info = mogr::info(&avif).unwrap_err().to_string();
    assert!(info.contains("1436x730"), "{info}");
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/format/avif",
        "imageMogr2/cgif/5",
        "imageSlim",
    ] {
        let err = mogr::process(&avif, rule).unwrap_err().to_string();
        assert_eq!(err, info, "{rule}");
    }
}

/// `pil-star.avifs` (an AVIF sequence that also holds its first picture as a still image)
/// with `ftyp` rewritten to name only the sequence brand, as some encoders write it.
fn avis_only() -> Vec<u8> {
    let mut avif = image("avif/pil-star.avifs");
    let ftyp = u32::from_be_bytes(avif[0..4].try_into().unwrap()) as usize;
    assert_eq!(&avif[4..8], b"ftyp");
    avif[8..12].copy_from_slice(b"avis");
    for brand in avif[16..ftyp].chunks_exact_mut(4) {
        brand.copy_from_slice(b"avis");
    }
    avif
}

#[cfg(feature = "heif")]
#[test]
fn an_avif_sequence_branded_only_avis_decodes_its_still_image() {
    let original = image("avif/pil-star.avifs");
    let avis = avis_only();
    let want = decode_all(&original);
    let got = decode_all(&avis);
    assert_eq!(got.first().data, want.first().data);
    let info = mogr::info(&avis).unwrap();
    assert_eq!((info.width, info.height), (159, 159));
    for rule in [
        "imageMogr2/format/png",
        "imageMogr2/format/jpg",
        "imageSlim",
    ] {
        let out = mogr::process(&avis, rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let decoded = decode_all(&out.bytes);
        assert_eq!(
            (decoded.first().width, decoded.first().height),
            (159, 159),
            "{rule}"
        );
    }
}

#[cfg(feature = "heif")]
#[test]
fn an_image_sequence_without_a_still_image_is_named_not_called_corrupt() {
    // The same sequence with its `meta` box (the still image) removed: only track samples.
    let avis = avis_only();
    let mut pure = Vec::new();
    let mut rest = &avis[..];
    while rest.len() >= 8 {
        let size = u32::from_be_bytes(rest[0..4].try_into().unwrap()) as usize;
        if &rest[4..8] != b"meta" {
            pure.extend_from_slice(&rest[..size]);
        }
        rest = &rest[size..];
    }
    let err = mogr::process(&pure, "imageMogr2/format/png")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("image sequence without a still image"),
        "{err}"
    );
    assert_eq!(mogr::info(&pure).unwrap_err().to_string(), err);
    assert!(matches!(
        mogr::process(&pure, "imageSlim"),
        Err(mogr::Error::Decode { .. })
    ));
}
