//! The values of `${NAME}` while a scenario compiles: the options' values
//! first, then (unless isolated, as on a worker) this process's
//! environment. Every name looked up is recorded with what it was, so that
//! workers compile the scenario with the very values its master saw.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::env::{self, EnvError};
use super::options::Options;

pub(super) struct Variables<'a> {
    given: &'a BTreeMap<String, String>,
    isolated: bool,
    /// Every ${NAME} looked up, with what it was (None: unset). Behind a
    /// lock because compiling shares the context by reference.
    looked_up: Mutex<BTreeMap<String, Option<String>>>,
}

impl<'a> Variables<'a> {
    pub(super) fn new(options: &'a Options) -> Self {
        Variables {
            given: &options.vars,
            isolated: options.isolated,
            looked_up: Mutex::new(BTreeMap::new()),
        }
    }

    /// `s` with its `${NAME}`s expanded.
    pub(super) fn expand(&self, s: &str) -> Result<String, EnvError> {
        env::expand_with(s, |n| {
            let v = self.given.get(n).cloned().or_else(|| {
                if self.isolated {
                    None
                } else {
                    std::env::var(n).ok()
                }
            });
            self.looked_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(n.to_owned(), v.clone());
            v
        })
    }

    /// Every name looked up, with its value (None: unset).
    pub(super) fn into_looked_up(self) -> BTreeMap<String, Option<String>> {
        self.looked_up
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
    }
}
