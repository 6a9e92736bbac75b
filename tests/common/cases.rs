//! A tiny case runner: many named cases against one shared daemon and proxy, each
//! reported on its own.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use super::command::tail_lines;

/// Runs named cases one after another, catching panics so that every case is
/// reported on its own while they share one daemon and one proxy.
#[derive(Default)]
pub struct Cases {
    failures: Vec<String>,
    passed: usize,
}

impl Cases {
    pub fn new() -> Cases {
        Cases::default()
    }

    /// Run one case; returns whether it passed.
    ///
    /// The closure only borrows shared fixtures for reading, so it is wrapped
    /// in `AssertUnwindSafe` here (as libtest does) rather than asking every
    /// caller to.
    pub fn run(&mut self, name: &str, f: impl FnOnce()) -> bool {
        println!("case {name} ...");
        let started = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                println!("case {name} ... ok ({secs:.1}s)");
                self.passed += 1;
                true
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "<non-string panic>".to_string());
                println!("case {name} ... FAILED ({secs:.1}s)");
                self.failures.push(format!("{name}: {message}"));
                false
            }
        }
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Print the summary and panic if any case failed.
    pub fn finish(self) {
        println!(
            "e2e: {} passed, {} failed",
            self.passed,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|f| format!("  - {}", tail_lines(f, 60).replace('\n', "\n    ")))
                .collect();
            panic!(
                "{} e2e case(s) failed:\n{}",
                self.failures.len(),
                list.join("\n")
            );
        }
    }
}
