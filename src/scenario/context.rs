//! The context every part of the compiler works in ([`Ctx`]): the file and
//! its text (for file:line:column errors), the options, the `${NAME}`
//! values, the files read so far and the request names taken. The
//! `compile_*` modules take it and import nothing back from `compile.rs`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::env::EnvError;
use super::error::ScenarioError;
use super::file::{self, S};
use super::options::{Options, Sources, normalize};
use super::template::{Scope, Template};
use super::units::parse_duration;
use super::variables::Variables;
use super::{RequestSpec, Source};

pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    text: &'a str,
    pub(super) options: &'a Options,
    vars: Variables<'a>,
    pub(super) sources: &'a dyn Sources,
    /// The files read so far, by normalized path (shipped to workers).
    read: Mutex<BTreeMap<String, Bytes>>,
    /// The names of requests and steps so far (one namespace).
    names: Mutex<HashSet<String>>,
    /// `[http] max_body`, in bytes.
    pub(super) max_body: usize,
    /// See [`Options::reflected`].
    pub(super) reflected: Option<&'a prost_reflect::DescriptorPool>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        file: &'a Path,
        text: &'a str,
        sources: &'a dyn Sources,
        options: &'a Options,
        max_body: usize,
    ) -> Self {
        Ctx {
            file,
            text,
            options,
            vars: Variables::new(options),
            sources,
            read: Mutex::new(BTreeMap::new()),
            names: Mutex::new(HashSet::new()),
            max_body,
            reflected: options.reflected.as_ref(),
        }
    }

    /// What the scenario was compiled from: its text, the files it read,
    /// the `${NAME}`s it looked up, and the options that change it.
    pub(super) fn into_source(self) -> Source {
        Source {
            path: self.file.to_path_buf(),
            text: self.text.to_owned(),
            files: self.read.into_inner().unwrap_or_else(|p| p.into_inner()),
            vars: self.vars.into_looked_up(),
            host: self.options.host.clone(),
            headers: self.options.headers.clone(),
        }
    }

    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.text, Some(span), message)
    }

    pub(super) fn env(&self, v: &S<String>) -> Result<String, ScenarioError> {
        self.expand(v.get_ref())
            .map_err(|e| self.err(v.span(), e.to_string()))
    }

    pub(super) fn expand(&self, s: &str) -> Result<String, EnvError> {
        self.vars.expand(s)
    }

    pub(super) fn duration(&self, v: &S<String>, what: &str) -> Result<Duration, ScenarioError> {
        parse_duration(&self.env(v)?).map_err(|e| self.err(v.span(), format!("{what}: {e}")))
    }

    /// A bound's verdict as an error at `span`: "KEY why".
    pub(super) fn bound<T, E: Display>(
        &self,
        span: Range<usize>,
        key: &str,
        r: Result<T, E>,
    ) -> Result<T, ScenarioError> {
        r.map_err(|why| self.err(span, format!("{key} {why}")))
    }

    /// An integer setting given as a TOML value: a whole number within
    /// `check`, else an error naming the key and the range.
    pub(super) fn whole<E: Display>(
        &self,
        v: &S<toml::Value>,
        key: &str,
        range: &str,
        check: fn(u64) -> Result<u64, E>,
    ) -> Result<u64, ScenarioError> {
        match v.get_ref() {
            toml::Value::Integer(i) if *i >= 0 => self.bound(v.span(), key, check(*i as u64)),
            other => Err(self.err(
                v.span(),
                format!("{key} must be a whole number {range}, not {other}"),
            )),
        }
    }

    pub(super) fn read_file(
        &self,
        relative: &str,
        span: Range<usize>,
    ) -> Result<Bytes, ScenarioError> {
        let key = normalize(relative);
        // A file named by every request (a CA) is read once.
        if let Some(bytes) = self
            .read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(bytes.clone());
        }
        let bytes = self
            .sources
            .read(relative)
            .map_err(|e| self.err(span, format!("cannot read {relative}: {e}")))?;
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, bytes.clone());
        Ok(bytes)
    }

    pub(super) fn template(
        &self,
        v: &S<String>,
        data: &Scope<'_>,
    ) -> Result<Template, ScenarioError> {
        let text = self.env(v)?;
        Template::compile(&text, data).map_err(|e| self.err(v.span(), format!("template: {e}")))
    }

    /// Adds a compiled request, refusing a name already taken (requests and
    /// steps share one namespace: both are rows in the reports). Every
    /// request goes through here, so that the names seen are all known.
    pub(super) fn add_request(
        &self,
        requests: &mut Vec<RequestSpec>,
        spec: RequestSpec,
        r: &S<file::Request>,
    ) -> Result<usize, ScenarioError> {
        let fresh = self
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.name.clone());
        if !fresh {
            let span = r.get_ref().name.as_ref().map_or(r.span(), |n| n.span());
            return Err(self.err(
                span,
                format!(
                    "request name {:?} is used twice (requests and flow steps share names)",
                    spec.name
                ),
            ));
        }
        requests.push(spec);
        Ok(requests.len() - 1)
    }
}
