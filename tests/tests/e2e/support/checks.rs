//! Many checks against one run, each named, all evaluated before the test
//! fails: one real-runtime run answers every question at once, and the
//! failure lists each fact that did not hold (today's gaps, one per line).

use std::fmt::{Debug, Display};

pub struct Checks {
    scenario: String,
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Checks {
    pub fn new(scenario: &str) -> Checks {
        Checks {
            scenario: scenario.to_string(),
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// `what` holds when `ok`; `detail` says what was seen.
    pub fn check(&mut self, what: &str, ok: bool, detail: impl Display) {
        if ok {
            self.passed.push(what.to_string());
        } else {
            self.failed.push(format!("{what}: {detail}"));
        }
    }

    pub fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        let ok = got == want;
        self.check(what, ok, format_args!("got {got:?}, want {want:?}"));
    }

    pub fn all_passed(&self) -> bool {
        self.failed.is_empty()
    }

    /// Print every check; panic listing the ones that failed.
    pub fn finish(self) {
        eprintln!("---- {}", self.scenario);
        for p in &self.passed {
            eprintln!("  PASS {p}");
        }
        for f in &self.failed {
            eprintln!("  FAIL {f}");
        }
        assert!(
            self.failed.is_empty(),
            "{}: {} of {} checks failed:\n  {}",
            self.scenario,
            self.failed.len(),
            self.failed.len() + self.passed.len(),
            self.failed.join("\n  ")
        );
    }
}
