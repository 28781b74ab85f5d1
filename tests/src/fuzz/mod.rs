//! A mutation fuzzer that runs on stable Rust, for every decoder and parser that takes input
//! from outside a node (issue 21, item 5).
//!
//! cargo-fuzz and libFuzzer need a nightly toolchain, which Tally does not use. This engine
//! needs none: each [`Target`] has a seed corpus of valid inputs made with the real encoders
//! ([`corpus`]), [`mutate`] derives inputs from it with a seeded PRNG, and each input runs
//! the target's real decoding and checking code under [`std::panic::catch_unwind`]. There is no
//! coverage guidance; the structured mutations (JSON nodes, text tokens, postcard lengths)
//! stand in for it by keeping inputs close enough to valid to reach the checks behind the
//! parsers.
//!
//! Three kinds of finding:
//! * a **panic** (recorded by a quiet panic hook): the input is written to the findings
//!   directory and the run fails at its end;
//! * a **hang**: a watchdog thread sees one input running longer than the limit (1 s of the
//!   fuzzing thread's CPU time where Linux tells it, so a busy machine makes no false hang; 30
//!   times the limit of wall time in any case), writes it and ends the process with status 2;
//! * **allocation over the target's bound**: the fuzz binary's global allocator measures the
//!   peak heap use during each input ([`Heap`]); a peak over the target's [`Bound`] is written
//!   like a panic. The watchdog also ends the process (status 3) if the heap grows past the
//!   bound by more than 1 GiB while an input runs, before it can take the machine down.
//!
//! The allocator is installed only by the binaries that run the engine (`src/bin/fuzz.rs`,
//! `tests/fuzz.rs`), never by the library crates; the engine reads it through [`Heap`].
//! Heap measurements are of the whole process, so one engine runs one target at a time on
//! one thread.

pub mod corpus;
pub mod mutate;
pub mod targets;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use corpus::Fixtures;
use mutate::{Mutator, Rng, Shape};

use crate::Error;

/// The global allocator's counters, as the binary that installed it reads them.
#[derive(Debug, Clone, Copy)]
pub struct Heap {
    /// Bytes allocated now.
    pub current: fn() -> usize,
    /// The most bytes allocated at once since the last reset.
    pub peak: fn() -> usize,
    /// Starts a new peak from the current use.
    pub reset_peak: fn(),
}

/// The most heap one input may take: `fixed` bytes plus `per_byte` for each input byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Bytes allowed whatever the input's size.
    pub fixed: usize,
    /// Bytes allowed per input byte.
    pub per_byte: usize,
}

impl Bound {
    /// The bound for an input of `len` bytes.
    pub fn for_len(&self, len: usize) -> usize {
        self.fixed.saturating_add(self.per_byte.saturating_mul(len))
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} MiB + {} × input", self.fixed >> 20, self.per_byte)
    }
}

/// One decoder or parser under test.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name given on the command line.
    pub name: &'static str,
    /// What it calls, as the node or CLI calls it.
    pub calls: &'static str,
    /// What it reads, which decides the mutations.
    pub shape: Shape,
    /// The most heap one input may take.
    pub bound: Bound,
    /// The longest input generated (mutations that grow an input are cut here).
    pub max_len: usize,
    /// The valid inputs mutations start from.
    pub seeds: fn(&Fixtures) -> Result<Vec<Vec<u8>>, Error>,
    /// Runs one input; `true` when the code accepted it (decoded and, where real use checks
    /// what it decoded, checked it).
    pub run: fn(&Fixtures, &[u8]) -> bool,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The PRNG seed; each target mixes in its name.
    pub seed: u64,
    /// Where findings are written.
    pub findings_dir: PathBuf,
    /// One input running longer than this is a hang.
    pub hang: Duration,
    /// Print a progress line to standard error every this often (`None`: never).
    pub progress: Option<Duration>,
}

impl Options {
    /// The default findings directory: `target/fuzz-findings` of the workspace.
    pub fn default_findings_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings")
    }
}

/// What went wrong with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// The code panicked.
    Panic(String),
    /// The peak heap use exceeded the target's bound.
    Allocation {
        /// Bytes at the peak.
        peak: usize,
        /// The bound for this input.
        bound: usize,
    },
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindingKind::Panic(message) => write!(f, "panic: {message}"),
            FindingKind::Allocation { peak, bound } => {
                write!(
                    f,
                    "allocated {peak} bytes at the peak, over the bound of {bound}"
                )
            }
        }
    }
}

/// A finding, as written and printed.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The input's index in the run (seeds first).
    pub index: u64,
    /// What happened.
    pub kind: FindingKind,
    /// The input's length.
    pub len: usize,
    /// Where the input was written (`None` if it could not be, or repeats an earlier one).
    pub path: Option<PathBuf>,
}

/// What a run of one target did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The target.
    pub target: &'static str,
    /// The seed the run used.
    pub seed: u64,
    /// Seeds in the corpus, and how many the code accepted (all, unless a seed is stale).
    pub seeds: (usize, usize),
    /// The places in the corpus of the seeds the code refused.
    pub refused_seeds: Vec<usize>,
    /// Mutated inputs run.
    pub inputs: u64,
    /// Of which the code accepted.
    pub accepted: u64,
    /// Wall time of the mutated inputs.
    pub elapsed: Duration,
    /// CPU time the fuzzing thread spent on them, where the system tells (Linux), so a rate
    /// can be given that other work on the machine does not lower.
    pub cpu: Option<Duration>,
    /// The largest peak heap use of one input, and that input's length.
    pub max_peak: (usize, usize),
    /// The largest peak relative to its bound, in per cent.
    pub max_peak_of_bound: f64,
    /// The longest one input ran, seeds included (a hang is one over the limit).
    pub slowest: Duration,
    /// Distinct findings (by message), each with its first input.
    pub findings: Vec<Finding>,
    /// Inputs that gave a finding, repeats included.
    pub finding_inputs: u64,
}

impl Summary {
    /// Inputs per second of wall time.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Inputs per second of the fuzzing thread's CPU time, if known.
    pub fn cpu_rate(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| self.inputs as f64 / cpu.as_secs_f64().max(1e-9))
    }
}

/// The CPU time of the calling thread: the first field of Linux's
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU); `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    cpu_time_at(Path::new("/proc/thread-self/schedstat"))
}

/// The CPU time in a `schedstat` file.
fn cpu_time_at(path: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let nanos = text.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The message of the last panic, recorded by the quiet hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held leaves the data usable (plain values), so poisoning is
    // ignored.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the watchdog sees of the input running now.
#[derive(Debug, Default)]
struct Running {
    target: &'static str,
    seed: u64,
    index: u64,
    input: Vec<u8>,
    started: Option<Instant>,
    /// Heap use before the input, and the most it may grow before the process is ended.
    baseline: usize,
    ceiling: usize,
    /// Where the fuzzing thread's CPU time can be read (Linux), so that a hang is judged by
    /// the time the input had a CPU, not by time other work on the machine took.
    cpu_of_runner: Option<PathBuf>,
}

#[derive(Debug)]
struct Watch {
    running: Mutex<Running>,
    stop: AtomicBool,
}

/// The fuzzer: a quiet panic hook and a watchdog thread, for as long as it lives.
#[derive(Debug)]
pub struct Fuzzer {
    heap: Heap,
    options: Options,
    watch: Arc<Watch>,
    watchdog: Option<std::thread::JoinHandle<()>>,
}

/// Heap growth past the bound, while one input runs, at which the watchdog ends the process.
const RUNAWAY: usize = 1 << 30;

impl Fuzzer {
    /// Installs the quiet panic hook and starts the watchdog.
    pub fn new(heap: Heap, options: Options) -> Self {
        std::panic::set_hook(Box::new(|info| {
            let message = match info.payload().downcast_ref::<&str>() {
                Some(text) => (*text).to_owned(),
                None => match info.payload().downcast_ref::<String>() {
                    Some(text) => text.clone(),
                    None => "a panic with a non-text payload".to_owned(),
                },
            };
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            *lock(&LAST_PANIC) = Some(format!("{message}{place}"));
        }));
        let watch = Arc::new(Watch {
            running: Mutex::new(Running::default()),
            stop: AtomicBool::new(false),
        });
        let watchdog = {
            let watch = watch.clone();
            let findings = options.findings_dir.clone();
            let hang = options.hang;
            std::thread::spawn(move || watchdog(&watch, heap, hang, &findings))
        };
        Self {
            heap,
            options,
            watch,
            watchdog: Some(watchdog),
        }
    }

    /// Runs the target's seeds, then `inputs` mutated inputs.
    pub fn run(&self, target: &Target, fixtures: &Fixtures, inputs: u64) -> Result<Summary, Error> {
        let corpus = (target.seeds)(fixtures)?;
        if corpus.is_empty() {
            return Err(format!("target {} has no seeds", target.name).into());
        }
        // `/proc/thread-self` links to `<pid>/task/<tid>`, relative to `/proc`.
        lock(&self.watch.running).cpu_of_runner = std::fs::read_link("/proc/thread-self")
            .ok()
            .map(|task| Path::new("/proc").join(task).join("schedstat"));
        let seed = self.options.seed;
        let mut summary = Summary {
            target: target.name,
            seed,
            seeds: (corpus.len(), 0),
            refused_seeds: Vec::new(),
            inputs: 0,
            accepted: 0,
            elapsed: Duration::ZERO,
            cpu: None,
            max_peak: (0, 0),
            max_peak_of_bound: 0.0,
            slowest: Duration::ZERO,
            findings: Vec::new(),
            finding_inputs: 0,
        };
        let mut index = 0;
        for (place, input) in corpus.iter().enumerate() {
            if self.one(target, fixtures, input, index, &mut summary)? {
                summary.seeds.1 += 1;
            } else {
                summary.refused_seeds.push(place);
            }
            index += 1;
        }
        let mutator = Mutator::new(&corpus, target.shape, target.max_len);
        let mut rng = Rng::new(seed ^ mutate::name_hash(target.name));
        let mut input = Vec::new();
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let mut last_report = started;
        for _ in 0..inputs {
            mutator.generate(&mut rng, &mut input);
            if self.one(target, fixtures, &input, index, &mut summary)? {
                summary.accepted += 1;
            }
            summary.inputs += 1;
            index += 1;
            if let Some(every) = self.options.progress
                && summary.inputs.is_multiple_of(1024)
                && last_report.elapsed() >= every
            {
                last_report = Instant::now();
                let elapsed = started.elapsed().as_secs_f64();
                eprintln!(
                    "  {}: {} inputs, {:.0}/s, {} findings",
                    target.name,
                    summary.inputs,
                    summary.inputs as f64 / elapsed,
                    summary.finding_inputs
                );
            }
        }
        summary.elapsed = started.elapsed();
        summary.cpu = thread_cpu_time()
            .zip(cpu_started)
            .map(|(now, then)| now.saturating_sub(then));
        Ok(summary)
    }

    /// Runs one input (a seed or a mutation); `Ok(true)` when the code accepted it.
    fn one(
        &self,
        target: &Target,
        fixtures: &Fixtures,
        input: &[u8],
        index: u64,
        summary: &mut Summary,
    ) -> Result<bool, Error> {
        let bound = target.bound.for_len(input.len());
        {
            let mut running = lock(&self.watch.running);
            running.target = target.name;
            running.seed = self.options.seed;
            running.index = index;
            running.input.clear();
            running.input.extend_from_slice(input);
            running.baseline = (self.heap.current)();
            running.ceiling = bound.saturating_add(RUNAWAY);
            running.started = Some(Instant::now());
        }
        let baseline = (self.heap.current)();
        (self.heap.reset_peak)();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(fixtures, input)));
        let took = started.elapsed();
        let peak = (self.heap.peak)().saturating_sub(baseline);
        summary.slowest = summary.slowest.max(took);
        lock(&self.watch.running).started = None;
        if peak > summary.max_peak.0 {
            summary.max_peak = (peak, input.len());
        }
        let share = peak as f64 * 100.0 / bound.max(1) as f64;
        if share > summary.max_peak_of_bound {
            summary.max_peak_of_bound = share;
        }
        let mut finding = None;
        let accepted = match outcome {
            Ok(accepted) => accepted,
            Err(_) => {
                let message = lock(&LAST_PANIC)
                    .take()
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                finding = Some(FindingKind::Panic(message));
                false
            }
        };
        if finding.is_none() && peak > bound {
            finding = Some(FindingKind::Allocation { peak, bound });
        }
        if let Some(kind) = finding {
            self.record(target, input, index, kind, summary)?;
        }
        Ok(accepted)
    }

    fn record(
        &self,
        target: &Target,
        input: &[u8],
        index: u64,
        kind: FindingKind,
        summary: &mut Summary,
    ) -> Result<(), Error> {
        summary.finding_inputs += 1;
        // One finding per message (allocation findings: one per run); the first input of
        // each is the one written, up to a few per target.
        let same = |f: &Finding| match (&f.kind, &kind) {
            (FindingKind::Panic(a), FindingKind::Panic(b)) => a == b,
            (FindingKind::Allocation { .. }, FindingKind::Allocation { .. }) => true,
            _ => false,
        };
        if summary.findings.iter().any(same) {
            return Ok(());
        }
        let path = if summary.findings.len() < MAX_WRITTEN {
            Some(write_finding(
                &self.options.findings_dir,
                target.name,
                input,
            )?)
        } else {
            None
        };
        print_finding(
            target.name,
            self.options.seed,
            index,
            input,
            &kind,
            path.as_deref(),
        );
        summary.findings.push(Finding {
            index,
            kind,
            len: input.len(),
            path,
        });
        Ok(())
    }

    /// Runs one saved input under the same checks, for reproducing a finding; returns what
    /// was found, if anything, whether the code accepted the input, and its peak heap use.
    pub fn replay(
        &self,
        target: &Target,
        fixtures: &Fixtures,
        input: &[u8],
    ) -> Result<(Option<FindingKind>, bool, usize), Error> {
        let mut summary = Summary {
            target: target.name,
            seed: self.options.seed,
            seeds: (0, 0),
            refused_seeds: Vec::new(),
            inputs: 1,
            accepted: 0,
            elapsed: Duration::ZERO,
            cpu: None,
            max_peak: (0, 0),
            max_peak_of_bound: 0.0,
            slowest: Duration::ZERO,
            findings: Vec::new(),
            finding_inputs: 0,
        };
        let accepted = self.one(target, fixtures, input, 0, &mut summary)?;
        let peak = summary.max_peak.0;
        Ok((
            summary.findings.into_iter().next().map(|f| f.kind),
            accepted,
            peak,
        ))
    }
}

impl Drop for Fuzzer {
    fn drop(&mut self) {
        self.watch.stop.store(true, Ordering::Relaxed);
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
        // Panics are loud again once the fuzzer is gone.
        let _ = std::panic::take_hook();
    }
}

/// Distinct findings written per target; more are counted and printed, not written.
const MAX_WRITTEN: usize = 20;

/// Writes `input` as `<dir>/<target>-<n>.bin` with the first free `n`.
fn write_finding(dir: &Path, target: &str, input: &[u8]) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir)?;
    for n in 0.. {
        let path = dir.join(format!("{target}-{n}.bin"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(input)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err("no free finding file name".into())
}

/// The first bytes of an input as hex, for the report.
fn hex_prefix(input: &[u8]) -> String {
    const SHOWN: usize = 128;
    let mut text = hex::encode(&input[..input.len().min(SHOWN)]);
    if input.len() > SHOWN {
        text.push_str(&format!("… ({} bytes in all)", input.len()));
    }
    text
}

fn print_finding(
    target: &str,
    seed: u64,
    index: u64,
    input: &[u8],
    kind: &dyn std::fmt::Display,
    path: Option<&Path>,
) {
    println!(
        "FINDING in {target} (seed {seed}, input #{index}, {} bytes): {kind}",
        input.len()
    );
    println!("  input: {}", hex_prefix(input));
    match path {
        Some(path) => println!("  written to {}", path.display()),
        None => println!("  (not written: enough findings of this target are)"),
    }
}

/// Watches the running input: a hang or a runaway heap ends the process, after the input is
/// written where findings go.
fn watchdog(watch: &Watch, heap: Heap, hang: Duration, findings: &Path) {
    // The input seen running, and the fuzzing thread's CPU time when it was first seen
    // (inputs shorter than one poll are never measured, and need not be).
    let mut seen: Option<(&'static str, u64, Option<Duration>)> = None;
    while !watch.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        let running = lock(&watch.running);
        let Some(started) = running.started else {
            continue;
        };
        let cpu_now = running.cpu_of_runner.as_deref().and_then(cpu_time_at);
        let first_cpu = match seen {
            Some((target, index, cpu)) if target == running.target && index == running.index => cpu,
            _ => {
                seen = Some((running.target, running.index, cpu_now));
                cpu_now
            }
        };
        let on_cpu = cpu_now
            .zip(first_cpu)
            .map(|(now, first)| now.saturating_sub(first));
        let hung = match on_cpu {
            Some(on_cpu) => on_cpu > hang || started.elapsed() > hang * 30,
            None => started.elapsed() > hang,
        };
        let grown = (heap.current)().saturating_sub(running.baseline);
        let (what, status) = if hung {
            (format!("hang: running for more than {hang:?}"), 2)
        } else if grown > running.ceiling {
            (
                format!(
                    "runaway allocation: {grown} bytes and growing, over the bound by more than 1 GiB"
                ),
                3,
            )
        } else {
            continue;
        };
        let path = write_finding(findings, running.target, &running.input).ok();
        print_finding(
            running.target,
            running.seed,
            running.index,
            &running.input,
            &what,
            path.as_deref(),
        );
        let _ = std::io::stdout().flush();
        std::process::exit(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_can_read_the_fuzzing_threads_cpu_time_on_linux() {
        if !Path::new("/proc/thread-self").exists() {
            return;
        }
        let task = std::fs::read_link("/proc/thread-self").map(|t| Path::new("/proc").join(t));
        let before = task
            .as_ref()
            .ok()
            .and_then(|t| cpu_time_at(&t.join("schedstat")));
        let mut x = 0_u64;
        for i in 0..20_000_000_u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let after = thread_cpu_time();
        let (Some(before), Some(after)) = (before, after) else {
            panic!("no CPU time: {task:?}");
        };
        assert!(after > before, "{before:?} then {after:?}");
    }
}
