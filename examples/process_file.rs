//! Apply a rule to a file: `cargo run --example process_file -- RULE INPUT OUTPUT`.
//!
//! The smallest useful program with mogr: one reusable `Processor`, one call, and what the
//! `Output` says about the result.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rule, input, output] = args.as_slice() else {
        eprintln!("usage: process_file RULE INPUT OUTPUT");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Share one Processor across requests; it holds the limits and the metadata policy.
    let processor = mogr::Processor::new().with_metadata(mogr::Metadata::Keep);
    match processor.process(&bytes, rule) {
        Ok(out) => {
            if let Err(e) = std::fs::write(output, &out.bytes) {
                eprintln!("cannot write {output}: {e}");
                return ExitCode::FAILURE;
            }
            let how = match &out.returned {
                Some(mogr::Returned::Unchanged) => "input returned: nothing to change".to_string(),
                Some(mogr::Returned::IgnoredError(e)) => format!("input returned, ignored: {e}"),
                _ => "re-encoded".to_string(),
            };
            println!(
                "{} {}x{} frames={} quality={:?}: {} -> {} bytes ({how})",
                out.format,
                out.width,
                out.height,
                out.frames,
                out.quality,
                bytes.len(),
                out.bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(mogr::Error::Rule(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
