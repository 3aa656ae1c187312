//! `ImageInfo`, the `imageInfo` stage and its serializations.

mod common;

use common::*;

#[test]
fn info_matches_the_manifest_and_reference_tools() {
    let mut checked = 0;
    for entry in manifest(&images()) {
        let (file, kind, dims, frames) = (&*entry.file, &*entry.kind, &*entry.dims, &*entry.frames);
        if kind == "corrupt" || (!cfg!(feature = "heif") && matches!(kind, "heic" | "avif")) {
            continue;
        }
        let bytes = image(file);
        let info = mogr::info(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(format!("{}x{}", info.width, info.height), dims, "{file}");
        assert_eq!(info.frame_count.to_string(), frames, "{file}");
        assert_eq!(info.size as usize, bytes.len());
        assert!(
            info.ave.len() == 8 && info.ave.starts_with("0x"),
            "{file}: {}",
            info.ave
        );
        assert_eq!(info.md5.len(), 32);
        if kind == "jpeg" && have("djpeg") && !file.contains("cmyk") {
            // The mean colour of the reference decode, to within rounding.
            let reference = djpeg(&bytes).into_layout(mogr_core::Layout::Rgb);
            let n = (reference.data.len() / 3) as u64;
            let mean: Vec<u64> = (0..3)
                .map(|ch| {
                    (reference
                        .data
                        .iter()
                        .skip(ch)
                        .step_by(3)
                        .map(|&v| u64::from(v))
                        .sum::<u64>()
                        + n / 2)
                        / n
                })
                .collect();
            let ours: Vec<u64> = (0..3)
                .map(|i| u64::from_str_radix(&info.ave[2 + 2 * i..4 + 2 * i], 16).unwrap())
                .collect();
            for (a, b) in ours.iter().zip(&mean) {
                assert!(
                    a.abs_diff(*b) <= 1,
                    "{file}: Ave {} vs djpeg mean {mean:?}",
                    info.ave
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn orientation_dpi_bit_depth_and_md5() {
    let info = |f: &str| mogr::info(&image(f)).unwrap();
    assert_eq!(info("jpeg/pil-hopper_orientation_6.jpg").orientation, 6);
    assert_eq!(info("jpeg/pil-flower.jpg").orientation, 1);
    // JFIF says 72 dpi, EXIF 180: EXIF wins, as in ImageMagick (`identify -format %x`).
    assert_eq!(
        (
            info("jpeg/pil-flower.jpg").horizontal_dpi,
            info("jpeg/pil-flower.jpg").vertical_dpi
        ),
        (180, 180)
    );
    assert_eq!(info("jpeg/pil-iptc.jpg").horizontal_dpi, 300);
    // A WebP's EXIF chunk (the same photograph's camera EXIF).
    assert_eq!(info("webp/pil-flower.webp").vertical_dpi, 180);
    assert_eq!(info("webp/pil-transparent.webp").vertical_dpi, 72);
    assert_eq!(info("jpeg/mpl-grace_hopper.jpg").vertical_dpi, 96);
    // EXIF resolution stored as integers rather than rationals.
    assert_eq!(info("jpeg/pil-exif-72dpi-int.jpg").horizontal_dpi, 72);
    // PNG pHYs in pixels per metre: 2835 ppm = 72 dpi.
    assert_eq!(info("png/jxl-DJI-FC6310-16bit.png").horizontal_dpi, 72);
    assert_eq!(info("png/jxl-DJI-FC6310-16bit.png").bit_depth, 16);
    assert_eq!(info("gif/pil-hopper.gif").bit_depth, 8);
    assert_eq!(info("png/mpl-Minduka_Present_Blue_Pack.png").quality, None);
    assert_eq!(info("jpeg/pil-flower.jpg").quality, Some(75));
    if have("md5sum") {
        let out = std::process::Command::new("md5sum")
            .arg(images().join("jpeg/pil-flower.jpg"))
            .output()
            .unwrap();
        let expected = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(info("jpeg/pil-flower.jpg").md5, expected);
    }
}

#[test]
fn ave_composes_alpha_over_white() {
    use mogr_core::{Bitmap, Layout, Raster};
    // Red at alpha 128 everywhere: over white, green and blue are 255 x (255 - 128) / 255 = 127.
    let bitmap = Bitmap {
        width: 8,
        height: 8,
        layout: Layout::Rgba,
        data: [255u8, 0, 0, 128].repeat(64),
    };
    let settings = mogr_core::EncodeSettings::default();
    let png = mogr_core::encode(
        &Raster::still(bitmap, None),
        mogr::ImageFormat::Png,
        settings,
        &mogr::Stop::never(),
    )
    .unwrap();
    assert_eq!(mogr::info(&png).unwrap().ave, "0xff7f7f");
}

#[test]
fn json_and_xml_use_the_service_names() {
    let info = mogr::info(&image("jpeg/pil-flower.jpg")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&info.to_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "Format",
        "Width",
        "Height",
        "Size",
        "Quality",
        "Ave",
        "Orientation",
        "FrameCount",
        "BitDepth",
        "HorizontalDpi",
        "VerticalDpi",
        "Md5",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    let png = mogr::info(&image("png/mpl-Minduka_Present_Blue_Pack.png")).unwrap();
    assert!(png.to_json().contains(r#""Quality":null"#));
    let xml = info.to_xml();
    assert!(
        xml.starts_with("<ImageInfo><Format>jpg</Format><Width>480</Width><Height>360</Height>"),
        "{xml}"
    );
    assert!(xml.ends_with(&format!("<Md5>{}</Md5></ImageInfo>", info.md5)));
}

#[test]
fn image_info_stage_reports_the_image_as_it_stands() {
    let jpeg = image("jpeg/pil-flower.jpg");
    let out = mogr::process(&jpeg, "imageMogr2/format/png|imageInfo").unwrap();
    assert_eq!(out.format, mogr::ImageFormat::Json);
    let json: serde_json::Value = serde_json::from_slice(&out.bytes).unwrap();
    assert_eq!(json["Format"], "png");
    assert_eq!(json["Quality"], serde_json::Value::Null);
    assert_eq!(
        (json["Width"].as_u64(), json["Height"].as_u64()),
        (Some(480), Some(360))
    );
    let out = mogr::process(&jpeg, "imageInfo").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.bytes).unwrap();
    assert_eq!(
        (json["Format"].as_str(), json["Quality"].as_u64()),
        (Some("jpg"), Some(75))
    );
    let err = mogr::process(&jpeg, "imageInfo|imageMogr2/quality/50").unwrap_err();
    assert!(
        err.to_string().contains("imageInfo must be the last stage"),
        "{err}"
    );
}

#[test]
fn corpus_jpeg_and_webp_dpi_agree_with_identify() {
    let Some(corpus) = corpus() else { return };
    if !have("identify") {
        eprintln!("notice: no ImageMagick identify, skipping");
        return;
    }
    let mut paths = files(&corpus, "jpeg", &["jpg", "jpeg", "mpo"]);
    paths.extend(files(&corpus, "webp", &["webp"]));
    for path in paths {
        let out = std::process::Command::new("identify")
            .args(["-format", "%x %y\\n"])
            .arg(&path)
            .output()
            .unwrap();
        // One line per frame: the first frame's.
        let im = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let info = mogr::info(&std::fs::read(&path).unwrap()).unwrap();
        let ours = format!("{} {}", info.horizontal_dpi, info.vertical_dpi);
        assert_eq!(ours, im, "{}", path.display());
    }
}
