//! A short pass of every fuzz target (`tally_tests::fuzz`), so CI runs each decoder of
//! outside input on a few thousand mutated inputs with a fixed seed: the test fails on any
//! panic, allocation over a target's bound, or hang (the watchdog ends the process), and if a
//! target's seed corpus is no longer accepted by the code it seeds (a stale corpus would fuzz
//! nothing but error paths). The long runs are `cargo run --release -p tally-tests --bin fuzz`
//! (docs/benchmarks.md).
//!
//! One test runs every target in turn: the heap counters are the whole process's, so targets
//! must not run side by side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peak_alloc::PeakAlloc;
use tally_tests::fuzz::corpus::Fixtures;
use tally_tests::fuzz::{Fuzzer, Heap, Options, Target, targets};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Mutated inputs per target: enough to reach past the parsers in each (a few dozen to
/// hundreds of them get through to verification), few enough that the whole pass takes about
/// half a minute in a debug build. The bundle targets verify a whole story for every input
/// that parses (about 3 ms in a debug build), so they get a third as many.
fn inputs(target: &Target) -> u64 {
    match target.name {
        "evidence-bundle" | "period-bundle" => 1_000,
        _ => 3_000,
    }
}

#[test]
fn every_target_survives_a_short_pass_and_accepts_its_seeds() {
    let fixtures = Fixtures::build().unwrap();
    let options = Options {
        seed: 2105,
        findings_dir: Options::default_findings_dir(),
        // The release runs hold each input to 1 s of CPU; a debug build is ten to thirty times
        // slower, so the short pass only catches real hangs.
        hang: Duration::from_secs(30),
        progress: None,
    };
    let fuzzer = Fuzzer::new(
        Heap {
            current: || ALLOCATOR.current_usage(),
            peak: || ALLOCATOR.peak_usage(),
            reset_peak: || ALLOCATOR.reset_peak_usage(),
        },
        options,
    );
    let mut failures = Vec::new();
    for target in targets::all() {
        let summary = fuzzer.run(&target, &fixtures, inputs(&target)).unwrap();
        println!(
            "{:<18} {} inputs in {:.2} s, {} accepted, seeds {}/{}, slowest {:.1} ms, peak {} bytes",
            summary.target,
            summary.inputs,
            summary.elapsed.as_secs_f64(),
            summary.accepted,
            summary.seeds.1,
            summary.seeds.0,
            summary.slowest.as_secs_f64() * 1e3,
            summary.max_peak.0
        );
        if summary.seeds.1 != summary.seeds.0 {
            failures.push(format!(
                "{}: only {} of its {} seeds are accepted",
                summary.target, summary.seeds.1, summary.seeds.0
            ));
        }
        for finding in &summary.findings {
            failures.push(format!(
                "{}: input #{} ({} bytes): {} (written to {:?})",
                summary.target, finding.index, finding.len, finding.kind, finding.path
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
