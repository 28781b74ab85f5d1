//! The fuzzer's own checks (`tally_tests::fuzz`), on targets made to fail: a panic is caught,
//! reported with its message and written to the findings directory, an allocation over the
//! bound is reported with its peak, a written finding replays, and a seed gives the same run
//! twice. (A hang ends the process by design, so it is not tested here.)
//!
//! A test binary of its own: the heap counters are the whole process's, and these targets
//! allocate on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peak_alloc::PeakAlloc;
use tally_tests::fuzz::corpus::Fixtures;
use tally_tests::fuzz::mutate::Shape;
use tally_tests::fuzz::{Bound, FindingKind, Fuzzer, Heap, Options, Target};

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

fn seeds(_: &Fixtures) -> Result<Vec<Vec<u8>>, tally_tests::Error> {
    Ok(vec![b"a quiet seed".to_vec()])
}

const PANICS: Target = Target {
    name: "panics-on-bang",
    calls: "a parser that panics on '!'",
    shape: Shape::Text,
    bound: Bound {
        fixed: 1 << 20,
        per_byte: 64,
    },
    max_len: 256,
    seeds,
    run: |_, input| {
        assert!(!input.contains(&b'!'), "a bang in the input");
        true
    },
};

const ALLOCATES: Target = Target {
    name: "allocates-on-z",
    calls: "a parser that allocates 64 MiB on 'z'",
    shape: Shape::Text,
    bound: Bound {
        fixed: 1 << 20,
        per_byte: 64,
    },
    max_len: 256,
    seeds,
    run: |_, input| {
        if input.contains(&b'z') {
            let big = vec![1u8; 64 << 20];
            std::hint::black_box(&big);
        }
        true
    },
};

#[test]
fn panics_and_allocations_over_the_bound_are_found_written_and_replayed() {
    let fixtures = Fixtures::build().unwrap();
    let dir = std::env::temp_dir().join(format!("tally-fuzz-engine-{}", std::process::id()));
    let fuzzer = Fuzzer::new(
        Heap {
            current: || ALLOCATOR.current_usage(),
            peak: || ALLOCATOR.peak_usage(),
            reset_peak: || ALLOCATOR.reset_peak_usage(),
        },
        Options {
            seed: 11,
            findings_dir: dir.clone(),
            hang: Duration::from_secs(1),
            progress: None,
        },
    );

    let panics = fuzzer.run(&PANICS, &fixtures, 2_000).unwrap();
    assert_eq!(panics.seeds, (1, 1));
    assert!(panics.finding_inputs > 0, "no input with a '!' in 2,000");
    assert_eq!(panics.findings.len(), 1, "one message, one finding");
    let finding = &panics.findings[0];
    let FindingKind::Panic(message) = &finding.kind else {
        panic!("not a panic: {:?}", finding.kind);
    };
    assert!(message.contains("a bang in the input"), "{message}");
    let written = std::fs::read(finding.path.as_ref().unwrap()).unwrap();
    assert!(written.contains(&b'!'));
    // The written input replays as the same finding; a seed does not.
    let (again, _, _) = fuzzer.replay(&PANICS, &fixtures, &written).unwrap();
    assert!(matches!(again, Some(FindingKind::Panic(_))));
    let (quiet, accepted, _) = fuzzer.replay(&PANICS, &fixtures, b"no bang").unwrap();
    assert!(quiet.is_none() && accepted);

    let allocates = fuzzer.run(&ALLOCATES, &fixtures, 2_000).unwrap();
    assert!(allocates.finding_inputs > 0, "no input with a 'z' in 2,000");
    match &allocates.findings[0].kind {
        FindingKind::Allocation { peak, bound } => {
            assert!(*peak >= 64 << 20, "{peak}");
            assert!(*bound < 2 << 20, "{bound}");
        }
        other => panic!("not an allocation finding: {other:?}"),
    }

    // The same seed, the same run.
    let again = fuzzer.run(&PANICS, &fixtures, 2_000).unwrap();
    assert_eq!(
        (again.accepted, again.finding_inputs),
        (panics.accepted, panics.finding_inputs)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
