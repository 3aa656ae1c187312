//! The rule table: every row is an input and the canonical form or error it must give.

use mogr_parse::{parse, ErrorKind};

/// What a row expects.
enum Want {
    /// Parses and validates; the canonical form.
    Ok(&'static str),
    /// Parses (syntax fine) but validation fails: parameter name, byte offset.
    Range(&'static str, usize),
    /// Syntax error: kind name, byte offset.
    Syntax(&'static str, usize),
}
use Want::*;

fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::TooLong { .. } => "too-long",
        ErrorKind::NoRule => "no-rule",
        ErrorKind::MultipleRules => "multiple-rules",
        ErrorKind::EmptyStage => "empty-stage",
        ErrorKind::TooManyStages { .. } => "too-many-stages",
        ErrorKind::InfoNotLast => "info-not-last",
        ErrorKind::UnknownStage { .. } => "unknown-stage",
        ErrorKind::UnknownParameter { .. } => "unknown-parameter",
        ErrorKind::RepeatedParameter { .. } => "repeated",
        ErrorKind::ConflictingParameters { .. } => "conflict",
        ErrorKind::MissingValue { .. } => "missing-value",
        ErrorKind::InvalidValue { .. } => "invalid-value",
        ErrorKind::UnknownFormat { .. } => "unknown-format",
        ErrorKind::Unexpected { .. } => "unexpected",
        ErrorKind::OutOfRange { .. } => "out-of-range",
        _ => "other",
    }
}

const TABLE: &[(&str, Want)] = &[
    // --- stages
    ("imageSlim", Ok("imageSlim")),
    ("imageInfo", Ok("imageInfo")),
    ("imageSlim/", Ok("imageSlim")),
    ("imageInfo/", Ok("imageInfo")),
    ("imageMogr2", Ok("imageMogr2")),
    ("imageMogr2/", Ok("imageMogr2")),
    ("imageslim", Syntax("unknown-stage", 0)),
    ("ImageMogr2/quality/80", Syntax("unknown-stage", 0)),
    ("imagemogr2/quality/80", Syntax("unknown-stage", 0)),
    ("imageMogr/quality/80", Syntax("unknown-stage", 0)),
    ("imageView2/quality/80", Syntax("unknown-stage", 0)),
    ("imageSlimX", Syntax("unknown-stage", 0)),
    ("imageSlim/quality/80", Syntax("unexpected", 9)),
    ("imageSlim//", Syntax("unexpected", 9)),
    ("imageInfo!", Syntax("unexpected", 9)),
    ("/imageSlim", Syntax("unexpected", 0)),
    ("", Syntax("no-rule", 0)),
    ("   ", Syntax("no-rule", 3)),
    ("?", Syntax("no-rule", 1)),
    // --- pipelines
    ("imageMogr2/quality/80|imageSlim", Ok("imageMogr2/quality/80|imageSlim")),
    ("imageSlim|imageInfo", Ok("imageSlim|imageInfo")),
    ("imageInfo|imageSlim", Syntax("info-not-last", 0)),
    ("imageMogr2/format/png|imageInfo|imageMogr2/quality/5", Syntax("info-not-last", 22)),
    ("imageInfo/|imageInfo", Syntax("info-not-last", 0)),
    ("imageMogr2/format/png|imageMogr2/format/jpg", Ok("imageMogr2/format/png|imageMogr2/format/jpg")),
    ("imageMogr2/quality/80/|imageSlim/", Ok("imageMogr2/quality/80|imageSlim")),
    ("imageSlim||imageInfo", Syntax("empty-stage", 10)),
    ("|imageSlim", Syntax("empty-stage", 0)),
    ("imageSlim|", Syntax("empty-stage", 10)),
    ("imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim",
        Ok("imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim")),
    ("imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim|imageSlim",
        Syntax("too-many-stages", 100)),
    ("imageSlim|imageFoo", Syntax("unknown-stage", 10)),
    ("imageSlim |imageInfo", Syntax("unexpected", 9)),
    ("imageSlim| imageInfo", Syntax("unexpected", 10)),
    // --- quality
    ("imageMogr2/quality/80", Ok("imageMogr2/quality/80")),
    ("imageMogr2/quality/0", Ok("imageMogr2/quality/0")),
    ("imageMogr2/quality/100", Ok("imageMogr2/quality/100")),
    ("imageMogr2/quality/80!", Ok("imageMogr2/quality/80!")),
    ("imageMogr2/quality/0!", Ok("imageMogr2/quality/0!")),
    ("imageMogr2/quality/100!", Ok("imageMogr2/quality/100!")),
    ("imageMogr2/quality/080", Ok("imageMogr2/quality/80")),
    ("imageMogr2/quality/0000000000000000000000000000075", Ok("imageMogr2/quality/75")),
    ("imageMogr2/quality/101", Range("quality", 19)),
    ("imageMogr2/quality/150", Range("quality", 19)),
    ("imageMogr2/quality/150!", Range("quality", 19)),
    ("imageMogr2/quality/99999999999999999999999999", Range("quality", 19)),
    ("imageMogr2/quality/18446744073709551616", Range("quality", 19)),
    ("imageMogr2/quality/-1", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/+80", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/80.5", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/8O", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/abc", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/!", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/80!!", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/!80", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/80 ", Ok("imageMogr2/quality/80")),
    ("imageMogr2/quality/ 80", Syntax("invalid-value", 19)),
    ("imageMogr2/quality /80", Syntax("unexpected", 18)),
    ("imageMogr2/quality/8 0", Syntax("invalid-value", 19)),
    ("imageMogr2/quality", Syntax("missing-value", 18)),
    ("imageMogr2/quality/", Syntax("missing-value", 19)),
    ("imageMogr2/quality/|imageSlim", Syntax("missing-value", 19)),
    ("imageMogr2/quality|imageSlim", Syntax("missing-value", 18)),
    ("imageMogr2/quality//", Syntax("missing-value", 19)),
    ("imageMogr2/quality/80/quality/70", Syntax("repeated", 22)),
    ("imageMogr2/Quality/80", Syntax("unknown-parameter", 11)),
    ("imageMogr2/QUALITY/80", Syntax("unknown-parameter", 11)),
    ("imageMogr2/q/80", Syntax("unknown-parameter", 11)),
    ("imageMogr2/quality/８０", Syntax("invalid-value", 19)),
    // --- rquality
    ("imageMogr2/rquality/60", Ok("imageMogr2/rquality/60")),
    ("imageMogr2/rquality/0", Ok("imageMogr2/rquality/0")),
    ("imageMogr2/rquality/100", Ok("imageMogr2/rquality/100")),
    ("imageMogr2/rquality/101", Range("rquality", 20)),
    ("imageMogr2/rquality/60!", Syntax("invalid-value", 20)),
    ("imageMogr2/rquality/x", Syntax("invalid-value", 20)),
    ("imageMogr2/rquality", Syntax("missing-value", 19)),
    ("imageMogr2/rquality/60/rquality/60", Syntax("repeated", 23)),
    ("imageMogr2/quality/80/rquality/60", Syntax("conflict", 22)),
    ("imageMogr2/rquality/60/quality/80", Syntax("conflict", 23)),
    ("imageMogr2/rquality/60/quality/80!", Syntax("conflict", 23)),
    // --- lquality
    ("imageMogr2/lquality/60", Ok("imageMogr2/lquality/60")),
    ("imageMogr2/lquality/0", Ok("imageMogr2/lquality/0")),
    ("imageMogr2/lquality/101", Range("lquality", 20)),
    ("imageMogr2/lquality/60!", Syntax("invalid-value", 20)),
    ("imageMogr2/lquality/", Syntax("missing-value", 20)),
    ("imageMogr2/rquality/80/lquality/60", Ok("imageMogr2/rquality/80/lquality/60")),
    ("imageMogr2/lquality/60/rquality/80", Ok("imageMogr2/rquality/80/lquality/60")),
    ("imageMogr2/quality/80/lquality/60", Ok("imageMogr2/quality/80/lquality/60")),
    ("imageMogr2/lquality/60/quality/80!", Ok("imageMogr2/quality/80!/lquality/60")),
    ("imageMogr2/lquality/60/lquality/70", Syntax("repeated", 23)),
    ("imageMogr2/lquality/200/quality/300", Range("lquality", 20)),
    ("imageMogr2/quality/300/lquality/200", Range("quality", 19)),
    // --- format
    ("imageMogr2/format/jpg", Ok("imageMogr2/format/jpg")),
    ("imageMogr2/format/jpeg", Ok("imageMogr2/format/jpg")),
    ("imageMogr2/format/JPEG", Ok("imageMogr2/format/jpg")),
    ("imageMogr2/format/Jpg", Ok("imageMogr2/format/jpg")),
    ("imageMogr2/format/yjpeg", Ok("imageMogr2/format/yjpeg")),
    ("imageMogr2/format/YJPEG", Ok("imageMogr2/format/yjpeg")),
    ("imageMogr2/format/png", Ok("imageMogr2/format/png")),
    ("imageMogr2/format/PNG", Ok("imageMogr2/format/png")),
    ("imageMogr2/format/bmp", Ok("imageMogr2/format/bmp")),
    ("imageMogr2/format/gif", Ok("imageMogr2/format/gif")),
    ("imageMogr2/format/webp", Ok("imageMogr2/format/webp")),
    ("imageMogr2/format/WebP", Ok("imageMogr2/format/webp")),
    ("imageMogr2/format/heif", Ok("imageMogr2/format/heif")),
    ("imageMogr2/format/heic", Ok("imageMogr2/format/heif")),
    ("imageMogr2/format/HEIC", Ok("imageMogr2/format/heif")),
    ("imageMogr2/format/avif", Ok("imageMogr2/format/avif")),
    ("imageMogr2/format/tpg", Ok("imageMogr2/format/tpg")),
    ("imageMogr2/format/tiff", Syntax("unknown-format", 18)),
    ("imageMogr2/format/jpg2", Syntax("unknown-format", 18)),
    ("imageMogr2/format/jp-g", Syntax("invalid-value", 18)),
    ("imageMogr2/format/.jpg", Syntax("invalid-value", 18)),
    ("imageMogr2/format/", Syntax("missing-value", 18)),
    ("imageMogr2/format", Syntax("missing-value", 17)),
    ("imageMogr2/format/png/format/jpg", Syntax("repeated", 22)),
    ("imageMogr2/Format/png", Syntax("unknown-parameter", 11)),
    ("imageMogr2/format/ｐｎｇ", Syntax("invalid-value", 18)),
    // --- cgif
    ("imageMogr2/cgif/1", Ok("imageMogr2/cgif/1")),
    ("imageMogr2/cgif/2", Ok("imageMogr2/cgif/2")),
    ("imageMogr2/cgif/100", Ok("imageMogr2/cgif/100")),
    ("imageMogr2/cgif/0", Range("cgif", 16)),
    ("imageMogr2/cgif/101", Range("cgif", 16)),
    ("imageMogr2/cgif/x", Syntax("invalid-value", 16)),
    ("imageMogr2/cgif/10!", Syntax("invalid-value", 16)),
    ("imageMogr2/format/gif/cgif/10", Ok("imageMogr2/format/gif/cgif/10")),
    ("imageMogr2/cgif/10/format/gif", Ok("imageMogr2/format/gif/cgif/10")),
    // --- interlace
    ("imageMogr2/interlace/1", Ok("imageMogr2/interlace/1")),
    ("imageMogr2/interlace/0", Ok("imageMogr2/interlace/0")),
    ("imageMogr2/interlace/2", Range("interlace", 21)),
    ("imageMogr2/interlace/01", Ok("imageMogr2/interlace/1")),
    ("imageMogr2/interlace/yes", Syntax("invalid-value", 21)),
    ("imageMogr2/interlace", Syntax("missing-value", 20)),
    // --- ignore-error
    ("imageMogr2/ignore-error/1", Ok("imageMogr2/ignore-error/1")),
    ("imageMogr2/ignore-error/0", Range("ignore-error", 24)),
    ("imageMogr2/ignore-error/2", Range("ignore-error", 24)),
    ("imageMogr2/ignore-error/true", Syntax("invalid-value", 24)),
    ("imageMogr2/ignore-error", Syntax("missing-value", 23)),
    ("imageMogr2/ignoreerror/1", Syntax("unknown-parameter", 11)),
    ("imageMogr2/ignore_error/1", Syntax("unknown-parameter", 11)),
    ("imageMogr2/quality/150/ignore-error/1", Range("quality", 19)),
    ("imageMogr2/ignore-error/1/quality/150", Range("quality", 34)),
    ("imageMogr2/ignore-error/1/ignore-error/1", Syntax("repeated", 26)),
    // --- every parameter, canonical order
    ("imageMogr2/ignore-error/1/interlace/1/cgif/5/lquality/30/quality/70!/format/webp",
        Ok("imageMogr2/format/webp/quality/70!/lquality/30/cgif/5/interlace/1/ignore-error/1")),
    ("imageMogr2/format/webp/quality/75!/interlace/1|imageSlim",
        Ok("imageMogr2/format/webp/quality/75!/interlace/1|imageSlim")),
    ("imageMogr2/interlace/1/rquality/50/format/jpeg/",
        Ok("imageMogr2/format/jpg/rquality/50/interlace/1")),
    // --- unknown parameters
    ("imageMogr2/thumbnail/100x100", Syntax("unknown-parameter", 11)),
    ("imageMogr2/quality/80/thumbnail/100x", Syntax("unknown-parameter", 22)),
    ("imageMogr2/crop/100x100", Syntax("unknown-parameter", 11)),
    ("imageMogr2/strip", Syntax("unknown-parameter", 11)),
    ("imageMogr2/auto-orient", Syntax("unknown-parameter", 11)),
    ("imageMogr2/blur/1x1", Syntax("unknown-parameter", 11)),
    ("imageMogr2/qualité/80", Syntax("unknown-parameter", 11)),
    // --- slashes and garbage
    ("imageMogr2//quality/80", Syntax("unexpected", 11)),
    ("imageMogr2/quality/80//", Syntax("unexpected", 22)),
    ("imageMogr2/quality/80/", Ok("imageMogr2/quality/80")),
    ("imageMogr2quality/80", Syntax("unknown-stage", 0)),
    ("imageMogr2/quality/80/x", Syntax("unknown-parameter", 22)),
    ("imageMogr2/quality/80/!", Syntax("unknown-parameter", 22)),
    ("imageMogr2/quality/80|", Syntax("empty-stage", 22)),
    ("imageMogr2/quality/80 |imageSlim", Syntax("invalid-value", 19)),
    ("imageMogr2 /quality/80", Syntax("unexpected", 10)),
    ("imageMogr2\t/quality/80", Syntax("unexpected", 10)),
    ("imageMogr2/quality/80\n", Ok("imageMogr2/quality/80")),
    ("  imageMogr2/quality/80  ", Ok("imageMogr2/quality/80")),
    ("\timageSlim\n", Ok("imageSlim")),
    ("  imageMogr2/quality/150", Range("quality", 21)),
    ("imageMogr2/quality/80\u{0}", Syntax("invalid-value", 19)),
    ("imageMogr2/é", Syntax("unknown-parameter", 11)),
    ("图片/quality/80", Syntax("unexpected", 0)),
    ("imageMogr2/quality/80/format/webp/é", Syntax("unknown-parameter", 34)),
    // --- URL forms
    ("?imageMogr2/quality/80", Ok("imageMogr2/quality/80")),
    ("?imageSlim", Ok("imageSlim")),
    ("imageMogr2/quality/80%21", Ok("imageMogr2/quality/80!")),
    ("imageMogr2%2Fquality%2F80", Ok("imageMogr2/quality/80")),
    ("imageMogr2%2fquality%2f80", Ok("imageMogr2/quality/80")),
    ("imageMogr2/quality/80%7CimageSlim", Ok("imageMogr2/quality/80|imageSlim")),
    ("imageMogr2/quality/80%7cimageSlim", Ok("imageMogr2/quality/80|imageSlim")),
    ("imageMogr2%2Fquality%2F150", Range("quality", 23)),
    ("imageMogr2%2Fquality%2F80%2Fthumbnail", Syntax("unknown-parameter", 28)),
    ("imageMogr2/quality/80%7C%7CimageSlim", Syntax("empty-stage", 24)),
    ("imageMogr2/quality/80%2", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/80%zz", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/%2B80", Syntax("invalid-value", 19)),
    ("imageMogr2/quality/80%E4%B8%AD", Syntax("invalid-value", 19)),
    ("q-sign-algorithm=sha1&imageMogr2/rquality/60", Ok("imageMogr2/rquality/60")),
    ("?q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1593342360;1593342720&imageMogr2/rquality/60",
        Ok("imageMogr2/rquality/60")),
    ("imageMogr2/quality/60&q-sign-algorithm=sha1", Ok("imageMogr2/quality/60")),
    ("q-sign-algorithm=sha1&imageMogr2/quality/150", Range("quality", 41)),
    ("q-sign-algorithm=sha1&imageMogr2/quality%2F150%21", Range("quality", 43)),
    ("a=1&b=2", Syntax("no-rule", 0)),
    ("?a=1", Syntax("no-rule", 1)),
    ("a=1&&imageSlim", Ok("imageSlim")),
    ("imageSlim&imageInfo", Syntax("multiple-rules", 10)),
    ("q-sign-algorithm=sha1&imageMogr2/quality/60=", Ok("imageMogr2/quality/60")),
    ("x=imageSlim&imageInfo", Ok("imageInfo")),
    ("q-url-param-list=imageMogr2%252fquality&imageMogr2/quality/60", Ok("imageMogr2/quality/60")),
    ("a=1&imageMogr2/quality/80/thumbnail/1", Syntax("unknown-parameter", 26)),
    ("a=1&imageMogr2/quality/8x", Syntax("invalid-value", 23)),
    ("imageMogr2/quality/8=0", Syntax("invalid-value", 19)),
    ("imageMogr2/format=png", Syntax("unexpected", 17)),
];

#[test]
fn rule_table() {
    assert!(TABLE.len() >= 150, "table has {} rows", TABLE.len());
    let mut failures = Vec::new();
    for (input, want) in TABLE {
        let got = parse(input);
        let ok = match (want, &got) {
            (Ok(canonical), Result::Ok(p)) => p.validate().is_ok() && p.to_string() == *canonical,
            (Range(name, offset), Result::Ok(p)) => match p.validate() {
                Err(e) => {
                    e.offset == *offset
                        && matches!(e.kind, ErrorKind::OutOfRange { name: n, .. } if n == *name)
                }
                _ => false,
            },
            (Syntax(kind, offset), Err(e)) => kind_name(&e.kind) == *kind && e.offset == *offset,
            _ => false,
        };
        if !ok {
            let shown = match &got {
                Result::Ok(p) => format!("Ok({p}) validate={:?}", p.validate()),
                Err(e) => format!("Err({} at {}: {e})", kind_name(&e.kind), e.offset),
            };
            failures.push(format!("{input:?}: got {shown}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn too_long_input_is_rejected_without_panicking() {
    let long = format!("imageMogr2/quality/{}", "9".repeat(5000));
    let err = parse(&long).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::TooLong { len } if len == long.len()));
    // Exactly at the limit a (huge) digit run is an ordinary out-of-range value.
    let at_limit = format!("imageMogr2/quality/{}", "9".repeat(4096 - 19));
    assert_eq!(at_limit.len(), 4096);
    let err = parse(&at_limit).unwrap().validate().unwrap_err();
    assert!(err.is_out_of_range());
    assert_eq!(err.offset, 19);
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn error_messages_read_like_sentences() {
    let cases = [
        ("imageMogr2/quality/150", "invalid rule at byte 19: quality must be 0..=100, found 150"),
        ("imageMogr2/thumbnail/1", "invalid rule at byte 11: `thumbnail` is an imageMogr2 parameter that mogr does not implement (it implements format, quality, rquality, lquality, cgif, interlace, ignore-error)"),
        ("imageMogr2/qualty/80", "invalid rule at byte 11: unknown imageMogr2 parameter `qualty`; did you mean `quality`?"),
        ("imageMogr2/cigf/3", "invalid rule at byte 11: unknown imageMogr2 parameter `cigf`; did you mean `cgif`?"),
        ("imageMogr2/zoom/3", "invalid rule at byte 11: unknown imageMogr2 parameter `zoom`"),
        ("imageMogr2/format/wepb", "invalid rule at byte 18: unknown format `wepb`, expected one of jpg, jpeg, yjpeg, png, bmp, gif, webp, heif, heic, avif, tpg; did you mean `webp`?"),
        ("imageMogr2/quality/80/rquality/5", "invalid rule at byte 22: rquality cannot be combined with quality"),
        ("imageMogr2/quality/abc", "invalid rule at byte 19: quality must be a number 0..=100, optionally followed by `!`, found `abc`"),
        ("imageMogr2/format/tiff", "invalid rule at byte 18: unknown format `tiff`, expected one of jpg, jpeg, yjpeg, png, bmp, gif, webp, heif, heic, avif, tpg"),
        ("imageSlim||imageInfo", "invalid rule at byte 10: empty stage, expected imageMogr2/..., imageSlim or imageInfo"),
    ];
    for (input, message) in cases {
        let err = mogr_parse::parse_validated(input).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}
