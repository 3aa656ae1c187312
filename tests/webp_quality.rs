//! WebP header probing and the libwebp-method quality estimate.

mod common;

use common::*;
use mogr_core::internals::webp;

#[test]
fn lossy_webp_has_an_estimate_and_lossless_has_none() {
    let flower = image("webp/pil-flower.webp");
    let h = webp::read_header(&flower).unwrap();
    assert_eq!((h.width, h.height, h.frames, h.lossy), (480, 360, 1, true));
    assert_eq!(webp::estimate_quality(&flower), Some(84));
    let probe = mogr_core::probe(&flower, &mogr::Limits::default()).unwrap();
    assert_eq!(probe.quality, Some(84));

    let alpha = image("webp/pil-transparent.webp");
    let h = webp::read_header(&alpha).unwrap();
    assert_eq!(
        (h.width, h.height, h.lossy, h.alpha),
        (200, 150, true, true)
    );

    if let Some(corpus) = corpus() {
        let lossless = std::fs::read(corpus.join("webp/ski-logo.lossless.webp")).unwrap();
        let probe = mogr_core::probe(&lossless, &mogr::Limits::default()).unwrap();
        assert_eq!((probe.width, probe.height, probe.quality), (500, 500, None));
        let animated = std::fs::read(corpus.join("webp/pil-iss634.webp")).unwrap();
        let h = webp::read_header(&animated).unwrap();
        assert_eq!((h.width, h.height, h.frames), (245, 245, 42));
        let truncated = std::fs::read(corpus.join("corrupt/pil-flower.trunc70.webp")).unwrap();
        assert!(webp::read_header(&truncated).is_err());
    }
}

#[test]
fn estimate_follows_cwebp_quality() {
    if !have("cwebp") {
        return;
    }
    let dir = tempdir();
    let src = images().join("jpeg/pil-flower.jpg");
    let mut last = 0;
    for q in (5..=100).step_by(5) {
        let out = dir.join(format!("q{q}.webp"));
        let st = std::process::Command::new("cwebp")
            .args(["-quiet", "-q", &q.to_string()])
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let est = webp::estimate_quality(&std::fs::read(&out).unwrap()).unwrap();
        assert!(
            est >= last,
            "q{q}: estimate {est} below the previous {last}"
        );
        // libwebp's estimate is rough: it reads low in the middle, exact at the top.
        assert!(est <= q && est + 25 >= q, "q{q}: estimate {est}");
        last = est;
    }
    assert!(last >= 95);
}

#[test]
fn webp_input_is_requantized_by_the_rules() {
    let flower = image("webp/pil-flower.webp");
    let out = mogr::process(&flower, "imageMogr2/quality/60").unwrap();
    assert_eq!(
        (out.format, out.quality, out.width, out.height),
        (mogr::ImageFormat::Webp, Some(60), 480, 360)
    );
    assert!(webp::read_header(&out.bytes).unwrap().lossy);
}
