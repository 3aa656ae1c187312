//! Parses arbitrary bytes as a rule; whatever parses must round-trip through its canonical form.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 8192 {
        return;
    }
    let Ok(s) = std::str::from_utf8(data) else { return };
    match mogr_parse::parse(s) {
        Ok(ast) => {
            let printed = ast.to_string();
            let again = mogr_parse::parse(&printed).expect("canonical form must parse");
            assert_eq!(again, ast, "round trip of {s:?} via {printed:?}");
            assert_eq!(again.to_string(), printed);
            let _ = ast.validate();
        }
        Err(e) => assert!(e.offset <= s.len()),
    }
});
