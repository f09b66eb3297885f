//! Tidy checks over the source tree: names that break seed replay stay out
//! of the simulated code, every `select!` is `biased;`, and nothing is left
//! unfinished.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders whose code must replay bit for bit from a seed.
const SIMULATED: &[&str] = &["src/codec", "src/model", "src/sim", "src/trace", "src/check"];

/// Names that bring wall clocks, unseeded randomness or hash iteration order.
const BANNED: &[&str] = &["Instant::now", "SystemTime", "thread_rng", "rand::rng()", "HashMap", "HashSet"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of code with comments removed (line comments and doc comments).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let code = match line.find("//") {
                Some(at) => &line[..at],
                None => line,
            };
            (i + 1, code.to_owned())
        })
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Simulated code names no wall clock, unseeded RNG, HashMap or HashSet.
#[test]
fn simulated_code_uses_no_wall_clock_unseeded_rng_or_hash_collections() {
    let mut hits = Vec::new();
    for dir in SIMULATED {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        for file in files {
            for (n, line) in code_lines(&file) {
                for name in BANNED {
                    if line.contains(name) {
                        hits.push(format!("{}:{n}: {name}: {}", file.display(), line.trim()));
                    }
                }
            }
        }
    }
    assert!(hits.is_empty(), "banned names in simulated code:\n{}", hits.join("\n"));
}

/// Every `tokio::select!` in the crate starts with `biased;`, so the branch order never depends on a runtime RNG.
#[test]
fn every_select_is_biased() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut unbiased = Vec::new();
    let mut seen = 0;
    for file in files {
        let lines = code_lines(&file);
        for (i, (n, line)) in lines.iter().enumerate() {
            if line.contains("select!") && !line.contains("macro_rules") {
                seen += 1;
                let next: String = lines.iter().skip(i + 1).take(2).map(|(_, l)| l.trim()).collect();
                if !next.starts_with("biased;") {
                    unbiased.push(format!("{}:{n}", file.display()));
                }
            }
        }
    }
    assert!(seen > 0, "the scan found no select! at all, so it checks nothing");
    assert!(unbiased.is_empty(), "select! without biased; at:\n{}", unbiased.join("\n"));
}

/// No `todo!`, `unimplemented!` or `dbg!` is left in the library or the binary.
#[test]
fn no_unfinished_code_in_src() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut hits = Vec::new();
    for file in files {
        for (n, line) in code_lines(&file) {
            for name in ["todo!(", "unimplemented!(", "dbg!("] {
                if line.contains(name) {
                    hits.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "unfinished code:\n{}", hits.join("\n"));
}
