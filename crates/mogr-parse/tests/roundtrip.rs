//! Property tests: parse(print(ast)) == ast for every AST, and for everything that parses.

use mogr_parse::{parse, Format, MogrParams, Pipeline, Quality, Stage, Value};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![0u64..=120, any::<u64>()].prop_map(Value::new)
}

fn params() -> impl Strategy<Value = MogrParams> {
    let quality = prop_oneof![
        Just(None),
        (value(), any::<bool>())
            .prop_map(|(value, force)| Some(Quality::Absolute { value, force })),
        value().prop_map(|v| Some(Quality::Relative(v))),
    ];
    (
        proptest::option::of(proptest::sample::select(Format::ALL.to_vec())),
        quality,
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
    )
        .prop_map(
            |(format, quality, lquality, cgif, interlace, ignore_error)| {
                let mut p = MogrParams::default();
                p.format = format;
                p.quality = quality;
                p.lquality = lquality;
                p.cgif = cgif;
                p.interlace = interlace;
                p.ignore_error = ignore_error;
                p
            },
        )
}

fn pipeline() -> impl Strategy<Value = Pipeline> {
    let stage = prop_oneof![
        params().prop_map(Stage::Mogr),
        Just(Stage::Slim),
        Just(Stage::Info),
    ];
    proptest::collection::vec(stage, 1..=mogr_parse::MAX_STAGES).prop_map(|mut stages| {
        // imageInfo may only come last.
        let last = stages.len() - 1;
        for s in &mut stages[..last] {
            if *s == Stage::Info {
                *s = Stage::Slim;
            }
        }
        Pipeline { stages }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_ast_round_trips(ast in pipeline()) {
        let printed = ast.to_string();
        let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&reparsed, &ast);
        // Validation agrees too: same verdict before and after printing.
        prop_assert_eq!(reparsed.validate().is_ok(), ast.validate().is_ok());
    }

    #[test]
    fn whatever_parses_round_trips(s in "[ ?&=%|/!a-zA-Z0-9\\-]{0,60}") {
        if let Ok(ast) = parse(&s) {
            let printed = ast.to_string();
            prop_assert_eq!(parse(&printed), Ok(ast.clone()), "{} printed as {}", s, printed);
            // The canonical form is a fixed point.
            prop_assert_eq!(parse(&printed).unwrap().to_string(), printed);
        }
    }

    #[test]
    fn rule_like_strings_round_trip(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("quality/80".to_string()), Just("quality/80!".to_string()),
                Just("rquality/50".to_string()), Just("lquality/60".to_string()),
                Just("format/WebP".to_string()), Just("format/jpeg".to_string()),
                Just("cgif/10".to_string()), Just("interlace/1".to_string()),
                Just("ignore-error/1".to_string()), (0u64..300).prop_map(|n| format!("quality/{n}")),
            ],
            0..6,
        ),
        slash in any::<bool>(),
    ) {
        let rule = format!("imageMogr2/{}{}", parts.join("/"), if slash { "/" } else { "" });
        if let Ok(ast) = parse(&rule) {
            prop_assert_eq!(parse(&ast.to_string()), Ok(ast));
        }
    }

    #[test]
    fn errors_point_inside_the_input(s in "\\PC{0,80}") {
        if let Err(e) = parse(&s) {
            prop_assert!(e.offset <= s.len(), "offset {} past {} bytes", e.offset, s.len());
        }
    }
}
