//! `[data.NAME]`: data files read through the scenario's sources, each
//! with its pick (random, sequential, per user) and format (lines, csv).

use std::collections::BTreeMap;

use super::context::Ctx;
use super::data::{DataSource, Pick};
use super::error::ScenarioError;
use super::file::{self, S};

/// Every data source, in name order.
pub(super) fn compile_data(
    cx: &Ctx<'_>,
    data: &BTreeMap<String, S<file::Data>>,
) -> Result<Vec<DataSource>, ScenarioError> {
    let mut out = Vec::new();
    for (name, d) in data {
        let span = d.span();
        let d = d.get_ref();
        let path = cx.env(&d.file)?;
        let bytes = cx.read_file(&path, d.file.span())?;
        if std::str::from_utf8(&bytes).is_err() {
            return Err(cx.err(d.file.span(), format!("{path} is not UTF-8")));
        }
        let pick = match d.pick.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None | Some(("random", _)) => Pick::Random,
            Some(("sequential", _)) => Pick::Sequential,
            Some(("per_user", _)) => Pick::PerUser,
            Some((other, span)) => {
                return Err(cx.err(
                    span,
                    format!(
                        "pick must be \"random\", \"sequential\" or \"per_user\", not {other:?}"
                    ),
                ));
            }
        };
        let format = d.format.as_ref().map(|f| (f.get_ref().as_str(), f.span()));
        let source = match format {
            None | Some(("lines", _)) => {
                if let Some(c) = &d.column {
                    return Err(cx.err(c.span(), "column applies to format = \"csv\" only"));
                }
                DataSource::from_lines(name, &path, bytes.clone(), pick)
            }
            Some(("csv", _)) => DataSource::from_csv(
                name,
                &path,
                bytes.clone(),
                d.column.as_ref().map(|c| c.get_ref().as_str()),
                pick,
            ),
            Some((other, span)) => {
                return Err(cx.err(
                    span,
                    format!("format must be \"lines\" or \"csv\", not {other:?}"),
                ));
            }
        }
        .map_err(|e| cx.err(span.clone(), format!("data source {name:?}: {e}")))?;
        out.push(source);
    }
    Ok(out)
}
