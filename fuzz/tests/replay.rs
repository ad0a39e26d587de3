//! The fuzz targets on stable, without libFuzzer: each target's seed corpus (written by
//! `fuzz/seeds.py` from the fixtures in `events/` and the pattern conformance cases) and
//! a fixed number of mutations of each seed, drawn from a fixed seed so that a failure
//! reproduces. This is the smoke version of `make fuzz`: it keeps the targets compiling
//! and their assertions true on every `cargo test`; finding new inputs by coverage is
//! what `scripts/fuzz.sh` is for.
//!
//! `FUZZ_REPLAY_INPUTS` (default 20,000) sets the inputs per target: every seed once, and
//! as many mutations of each as that leaves room for (at least one).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/eventbridge-patterns/cases.jsonl"
);

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let corpus = seed_corpus();
    let dictionary = dictionary();
    let budget: usize = std::env::var("FUZZ_REPLAY_INPUTS")
        .ok()
        .map(|v| v.parse().expect("FUZZ_REPLAY_INPUTS is a number"))
        .unwrap_or(20_000);

    let mut failures = Vec::new();
    for &(name, target) in eventmart_fuzz::targets::ALL {
        let seeds = read_dir_sorted(&corpus.join(name));
        assert!(!seeds.is_empty(), "{name}: fuzz/seeds.py wrote no seeds");
        let mutations = (budget / seeds.len()).saturating_sub(1).max(1);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let mut execs = 0usize;
        let mut crash = None;
        'seeds: for seed in &seeds {
            let mut inputs = vec![seed.clone()];
            for _ in 0..mutations {
                let other = &seeds[rng.below(seeds.len())];
                inputs.push(mutate(seed, other, &dictionary, &mut rng));
            }
            for input in inputs {
                execs += 1;
                if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                    crash = Some(input);
                    break 'seeds;
                }
            }
        }
        println!("{name}: {} seeds, {execs} inputs", seeds.len());
        if let Some(input) = crash {
            let path = corpus.join(format!("crash-{name}"));
            std::fs::write(&path, &input).unwrap();
            failures.push(format!(
                "{name} panicked on {} (replay: scripts/fuzz.sh 1 {name}, or cargo fuzz run \
                 {name} {}): {}",
                path.display(),
                path.display(),
                String::from_utf8_lossy(&input).escape_debug()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `fuzz/seeds.py` into a fresh directory under the test's scratch space.
fn seed_corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay-corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(&dir);
    if Path::new(CASES).is_file() {
        cmd.arg(CASES);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {} with python3: {e}", script.display()));
    assert!(status.success(), "{} failed: {status}", script.display());
    dir
}

fn read_dir_sorted(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// The tokens of `fuzz/json.dict` (libFuzzer's format: one `"..."` per line, `\\`, `\"`
/// and `\xNN` escapes), which libFuzzer splices into its mutations too.
fn dictionary() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/json.dict"))
        .expect("fuzz/json.dict");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix('"')?.strip_suffix('"'))
        .map(unescape)
        .collect()
}

fn unescape(token: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = token.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'x')) if i + 3 < bytes.len() + 1 => {
                let hex = std::str::from_utf8(&bytes[i + 2..(i + 4).min(bytes.len())]).unwrap();
                out.push(u8::from_str_radix(hex, 16).expect("a \\xNN escape"));
                i += 4;
            }
            (b'\\', Some(&c)) => {
                out.push(c);
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// One to four of libFuzzer's simpler mutations, stacked.
fn mutate(seed: &[u8], other: &[u8], dictionary: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\0\xff\"\\{}[],:0-.e\n";
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                let chunk = data[at.min(end)..end].to_vec();
                data.splice(at..at, chunk);
            }
            4 if !dictionary.is_empty() => {
                let token = &dictionary[rng.below(dictionary.len())];
                data.splice(at..at, token.iter().copied());
            }
            5 => data.truncate(at),
            _ => {
                // Crossover: this seed's head, the other's tail.
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

/// xorshift64*: deterministic, so that a failing input is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        if n == 0 { 0 } else { (x % n as u64) as usize }
    }
}
