//! The core every rule family uses: the [`Checker`] that collects violations (capped,
//! de-duplicated), counts the existing objects a request names (each a lookup at the
//! daemon) and answers from the facts already fetched.

use super::model::Policy;
use super::rules as r;
use super::{ContainerFacts, Facts, Lookup, Violation};

/// Violations listed in a denial; further ones are counted. A body of 100,000 host
/// binds must not make a 100,000-line answer, nor a quadratic de-duplication.
const MAX_LISTED: usize = 32;

/// Distinct existing containers and volumes one request may name. Each is a lookup at
/// the daemon, so an unbounded list would make one request flood the daemon.
pub const MAX_REFERENCES: usize = 32;

/// One evaluation: the policy, the facts known so far, and what was found.
pub(super) struct Checker<'a> {
    pub policy: &'a Policy,
    pub facts: &'a Facts,
    violations: Vec<Violation>,
    /// Violations not listed (over [`MAX_LISTED`]), and the rule of the first of them.
    unlisted: usize,
    unlisted_rule: &'static str,
    /// The distinct containers, volumes and services the request names, up to the cap,
    /// each with whether it is still to be looked up (not in `facts`).
    referenced: Vec<(Lookup, bool)>,
    too_many_references: bool,
}

impl<'a> Checker<'a> {
    pub fn new(policy: &'a Policy, facts: &'a Facts) -> Self {
        Checker {
            policy,
            facts,
            violations: Vec::new(),
            unlisted: 0,
            unlisted_rule: "",
            referenced: Vec::new(),
            too_many_references: false,
        }
    }

    pub fn deny(&mut self, rule: &'static str, message: impl Into<String>) {
        if self.violations.len() >= MAX_LISTED {
            if self.unlisted == 0 {
                self.unlisted_rule = rule;
            }
            self.unlisted += 1;
            return;
        }
        let message = message.into();
        if !self
            .violations
            .iter()
            .any(|v| v.rule == rule && v.message == message)
        {
            self.violations.push(Violation { rule, message });
        }
    }

    /// A mark to pass to [`retag`](Self::retag) or [`prefix_since`](Self::prefix_since).
    pub fn mark(&self) -> usize {
        self.violations.len()
    }

    /// Report the violations found since `mark` under `rule` (what a request brings in
    /// through another object, under the rule for that route).
    pub fn retag(&mut self, mark: usize, rule: &'static str) {
        for v in self.violations.iter_mut().skip(mark) {
            v.rule = rule;
        }
    }

    /// Put `label: ` before the messages of the violations found since `mark`.
    pub fn prefix_since(&mut self, mark: usize, label: &str) {
        for v in self.violations.iter_mut().skip(mark) {
            v.message = format!("{label}: {}", v.message);
        }
    }

    /// Count a named object (`unknown`: not in `facts`); false once the request names
    /// too many.
    pub fn refer(&mut self, what: Lookup, unknown: bool) -> bool {
        if self.too_many_references {
            return false;
        }
        if !self.referenced.iter().any(|(l, _)| *l == what) {
            // The image a create inherits its working directory from is one lookup per
            // request at most: not counted against the cap.
            let named = self
                .referenced
                .iter()
                .filter(|(l, _)| !matches!(l, Lookup::Image(_)))
                .count();
            if named >= MAX_REFERENCES && !matches!(what, Lookup::Image(_)) {
                self.too_many_references = true;
                return false;
            }
            self.referenced.push((what, unknown));
        }
        true
    }

    /// An existing container by name or id: `None` when the request names too many,
    /// `Some(None)` when it does not exist or is not known yet (then it is looked up).
    pub fn container(&mut self, name: &str) -> Option<Option<&'a ContainerFacts>> {
        let known = self.facts.containers.get(name);
        if !self.refer(Lookup::Container(name.to_string()), known.is_none()) {
            return None;
        }
        known.map(Option::as_ref)
    }

    /// Whether a container is one of the platform's (protected by name or label).
    pub fn is_protected(&self, f: &ContainerFacts) -> bool {
        self.is_protected_object(&f.name, &f.labels)
    }

    /// Whether a container or service name or its labels mark it protected.
    pub fn is_protected_object(
        &self,
        name: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> bool {
        let protected = &self.policy.protected;
        protected.name_patterns.iter().any(|re| re.is_match(name))
            || protected.labels.iter().any(|l| labels.contains_key(l))
    }

    /// The violations and the lookups still needed.
    pub fn finish(mut self) -> (Vec<Violation>, Vec<Lookup>) {
        let need = if self.too_many_references {
            // Refuse without looking anything up.
            Vec::new()
        } else {
            std::mem::take(&mut self.referenced)
                .into_iter()
                .filter_map(|(l, unknown)| unknown.then_some(l))
                .collect()
        };
        if self.too_many_references {
            let message = format!(
                "the request names or reaches more than {MAX_REFERENCES} existing \
                 containers and volumes (volumes, --volumes-from, --link, container:<name> \
                 namespaces, the mounts of a container it works in); each is a lookup at \
                 the daemon"
            );
            self.violations.truncate(MAX_LISTED - 1);
            self.violations.push(Violation {
                rule: r::TOO_MANY_REFERENCES,
                message,
            });
        }
        if self.unlisted > 0 {
            let message = format!(
                "and {} more violations, not listed (the first under {})",
                self.unlisted, self.unlisted_rule
            );
            self.violations.push(Violation {
                rule: self.unlisted_rule,
                message,
            });
        }
        (self.violations, need)
    }
}
