//! `fuzz`: runs the stable mutation fuzzer ([`tally_tests::fuzz`]) over every decoder and
//! parser that takes input from outside a node, or the targets named.
//!
//! ```text
//! cargo run --release -p tally-tests --bin fuzz -- [--inputs N] [--seed S] [--list] [TARGET...]
//! ```
//!
//! Prints, per target, the inputs run, inputs per second, the largest peak heap use of one
//! input and the findings; exits with status 1 if anything was found (2 for a hang and 3 for a
//! runaway allocation, from the watchdog). Findings are written to `target/fuzz-findings/`;
//! `--replay FILE TARGET` runs one written input again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use peak_alloc::PeakAlloc;
use tally_tests::fuzz::corpus::Fixtures;
use tally_tests::fuzz::{Fuzzer, Heap, Options, Summary, targets};

/// Counts the heap in use and its peak, for the allocation bound of each input.
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

fn heap() -> Heap {
    Heap {
        current: || ALLOCATOR.current_usage(),
        peak: || ALLOCATOR.peak_usage(),
        reset_peak: || ALLOCATOR.reset_peak_usage(),
    }
}

#[derive(Debug, Parser)]
#[command(about = "Fuzz Tally's decoders of outside input (stable Rust, no coverage guidance)")]
struct Args {
    /// Mutated inputs per target (the seed corpus runs first, on top).
    #[arg(long, default_value_t = 1_000_000)]
    inputs: u64,
    /// The PRNG seed (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// List the targets and what each calls, then stop.
    #[arg(long)]
    list: bool,
    /// Where findings are written.
    #[arg(long)]
    findings: Option<PathBuf>,
    /// Run this one file (a written finding) through the one TARGET given, and stop.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// The targets to run (default: all).
    targets: Vec<String>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fuzz: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, tally_tests::Error> {
    let all = targets::all();
    if args.list {
        for target in &all {
            println!(
                "{:<18} bound {:<20} {}",
                target.name,
                target.bound.to_string(),
                target.calls
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = if args.targets.is_empty() {
        all
    } else {
        let mut chosen = Vec::new();
        for name in &args.targets {
            chosen.push(
                targets::find(name)
                    .ok_or_else(|| format!("no target {name:?}; --list shows them"))?,
            );
        }
        chosen
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let options = Options {
        seed,
        findings_dir: args.findings.unwrap_or_else(Options::default_findings_dir),
        hang: Duration::from_secs(1),
        progress: Some(Duration::from_secs(30)),
    };
    let fixtures = Fixtures::build()?;
    let fuzzer = Fuzzer::new(heap(), options.clone());

    if let Some(file) = args.replay {
        let [target] = chosen.as_slice() else {
            return Err("--replay takes exactly one TARGET".into());
        };
        let input = std::fs::read(&file)?;
        let (finding, accepted, peak) = fuzzer.replay(target, &fixtures, &input)?;
        println!(
            "{}: {} bytes, {}, peak heap {peak} bytes (bound {})",
            target.name,
            input.len(),
            if accepted { "accepted" } else { "refused" },
            target.bound.for_len(input.len())
        );
        return Ok(if finding.is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }

    println!(
        "fuzzing {} target(s), {} mutated inputs each, seed {seed}",
        chosen.len(),
        args.inputs
    );
    let mut summaries = Vec::new();
    for target in &chosen {
        let summary = fuzzer.run(target, &fixtures, args.inputs)?;
        print_line(&summary);
        if !summary.refused_seeds.is_empty() {
            println!(
                "  seeds refused (stale corpus?): {:?}",
                summary.refused_seeds
            );
        }
        summaries.push(summary);
    }
    let found: u64 = summaries.iter().map(|s| s.findings.len() as u64).sum();
    println!(
        "{} target(s), {} inputs, seed {seed}: {found} distinct finding(s)",
        summaries.len(),
        summaries.iter().map(|s| s.inputs).sum::<u64>()
    );
    Ok(if found == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_line(s: &Summary) {
    println!(
        "{:<18} {:>9} inputs {:>9.0}/s ({:>9.0}/s of CPU) {:>5.1}% accepted, seeds {}/{}; slowest {:.1} ms; peak {:>6.2} MiB (input of {} bytes), at most {:.1}% of the bound; {} finding(s) in {} input(s)",
        s.target,
        s.inputs,
        s.rate(),
        s.cpu_rate().unwrap_or(f64::NAN),
        s.accepted as f64 * 100.0 / s.inputs.max(1) as f64,
        s.seeds.1,
        s.seeds.0,
        s.slowest.as_secs_f64() * 1e3,
        s.max_peak.0 as f64 / f64::from(1 << 20),
        s.max_peak.1,
        s.max_peak_of_bound,
        s.findings.len(),
        s.finding_inputs
    );
}
