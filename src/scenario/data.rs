//! Data files that templates draw values from: one record per line, or CSV
//! with a header; records picked at random or in sequence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use rand::Rng;

/// How records are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Random,
    /// In file order, wrapping around, shared by every user of the engine.
    Sequential,
    /// Each user holds one record of its own for its whole life; no record
    /// is held by two users at once, in one engine or across a cluster
    /// (each engine hands out only its slice of the rows).
    PerUser,
}

/// A loaded data file.
#[derive(Debug)]
pub struct DataSource {
    pub name: String,
    pub columns: Vec<String>,
    /// Column the bare `{{ name }}` means.
    pub default_column: usize,
    /// Shared by every compile of the same file in this process.
    pub rows: Arc<Rows>,
    pub pick: Pick,
    cursor: AtomicUsize,
}

/// Every record's cells as spans of one buffer: the file itself, shared,
/// for a `lines` file (its lines are its cells), or one buffer of the cells
/// for a CSV file (whose quoted cells are not the file's bytes). A span is
/// 8 bytes a cell besides the text (a `Vec<String>` per row cost some 220
/// bytes a row: 10 million short lines took 2.4 GB).
#[derive(Debug)]
pub struct Rows {
    text: Bytes,
    /// Where cell `i` starts and ends in `text`, `width` cells a row; a row
    /// shorter than the header has empty cells.
    spans: Vec<(u32, u32)>,
    width: usize,
    /// Whether `text` is the rows' own (CSV) rather than the file's.
    owns_text: bool,
}

impl Rows {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.spans.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// A cell; one outside the rows or the header reads as empty.
    pub fn cell(&self, row: usize, column: usize) -> &str {
        if column >= self.width {
            return "";
        }
        let Some(&(start, end)) = row
            .checked_mul(self.width)
            .and_then(|r| r.checked_add(column))
            .and_then(|i| self.spans.get(i))
        else {
            return "";
        };
        // Spans cut UTF-8 text at ASCII separators: always whole characters.
        self.text
            .get(start as usize..end as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The memory the rows hold of their own, in bytes (a `lines` file's
    /// text is the file's, shared with the scenario's copy of it).
    pub fn heap_bytes(&self) -> usize {
        let own_text = if self.owns_text { self.text.len() } else { 0 };
        own_text + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

/// Rows parsed once per process: the master and its local workers compile
/// the same scenario from the same shared file, and get the same rows.
/// Keyed by the file's memory (address and length) and format; an entry is
/// only found while its rows are alive, and they hold that memory, so an
/// address cannot have been reused by another file.
type Key = (usize, usize, &'static str);
static PARSED: Mutex<Vec<(Key, Weak<Rows>)>> = Mutex::new(Vec::new());

fn parsed(
    file: &Bytes,
    format: &'static str,
    parse: impl FnOnce() -> Result<Rows, DataError>,
) -> Result<Arc<Rows>, DataError> {
    let key = (file.as_ptr() as usize, file.len(), format);
    let mut all = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|(_, w)| w.strong_count() > 0);
    if let Some(rows) = all
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(rows);
    }
    let rows = Arc::new(parse()?);
    all.push((key, Arc::downgrade(&rows)));
    Ok(rows)
}

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0} has no records")]
    Empty(String),
    #[error("{0}: its values add up to more than 4 GiB, more than a data file may hold")]
    TooLarge(String),
    #[error("{0} is not UTF-8")]
    NotUtf8(String),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("column {column:?} is not in the CSV header ({header})")]
    NoColumn { column: String, header: String },
    #[error(
        "{file} line {line} has {fields} fields, but the header has {columns} (quote a value that holds a comma: \"a,b\")"
    )]
    LongRow {
        file: String,
        line: u64,
        fields: usize,
        columns: usize,
    },
}

impl DataSource {
    /// One record per non-empty line: the lines are spans of the file
    /// itself, which is not copied.
    pub fn from_lines(
        name: &str,
        file: &str,
        text: impl Into<Bytes>,
        pick: Pick,
    ) -> Result<Self, DataError> {
        let text: Bytes = text.into();
        let rows = parsed(&text, "lines", || {
            let s = std::str::from_utf8(&text).map_err(|_| DataError::NotUtf8(file.to_owned()))?;
            let too_large = || DataError::TooLarge(file.to_owned());
            let mut spans = Vec::new();
            let mut at = 0usize;
            for line in s.split_inclusive('\n') {
                let start = at;
                at += line.len();
                let body = line.strip_suffix('\n').unwrap_or(line);
                let body = body.strip_suffix('\r').unwrap_or(body);
                if body.trim().is_empty() {
                    continue;
                }
                let start32 = u32::try_from(start).map_err(|_| too_large())?;
                let end32 = u32::try_from(start + body.len()).map_err(|_| too_large())?;
                spans.push((start32, end32));
            }
            spans.shrink_to_fit();
            Ok(Rows {
                text: text.clone(),
                spans,
                width: 1,
                owns_text: false,
            })
        })?;
        Self::new(name, file, vec!["line".into()], 0, rows, pick)
    }

    /// CSV with a header row; `column` picks what `{{ name }}` means. A row
    /// shorter than the header reads as empty in its missing columns; a
    /// longer one is an error naming its line.
    pub fn from_csv(
        name: &str,
        file: &str,
        text: impl Into<Bytes>,
        column: Option<&str>,
        pick: Pick,
    ) -> Result<Self, DataError> {
        let text: Bytes = text.into();
        let columns: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(&text[..])
            .headers()?
            .iter()
            .map(str::to_owned)
            .collect();
        let default_column = match column {
            None => 0,
            Some(c) => columns
                .iter()
                .position(|h| h == c)
                .ok_or_else(|| DataError::NoColumn {
                    column: c.to_owned(),
                    header: columns.join(","),
                })?,
        };
        let width = columns.len().max(1);
        let rows = parsed(&text, "csv", || {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(&text[..]);
            let too_large = || DataError::TooLarge(file.to_owned());
            let mut own = String::new();
            let mut spans = Vec::new();
            // One record read into again and again: the rows' own buffer
            // is the only copy kept.
            let mut rec = csv::StringRecord::new();
            while reader.read_record(&mut rec)? {
                if rec.len() > width {
                    return Err(DataError::LongRow {
                        file: file.to_owned(),
                        line: rec.position().map_or(0, |p| p.line()),
                        fields: rec.len(),
                        columns: width,
                    });
                }
                for cell in rec.iter() {
                    let start = u32::try_from(own.len()).map_err(|_| too_large())?;
                    own.push_str(cell);
                    let end = u32::try_from(own.len()).map_err(|_| too_large())?;
                    spans.push((start, end));
                }
                let end = u32::try_from(own.len()).map_err(|_| too_large())?;
                for _ in rec.len()..width {
                    spans.push((end, end));
                }
            }
            spans.shrink_to_fit();
            Ok(Rows {
                text: Bytes::from(own),
                spans,
                width,
                owns_text: true,
            })
        })?;
        Self::new(name, file, columns, default_column, rows, pick)
    }

    fn new(
        name: &str,
        file: &str,
        columns: Vec<String>,
        default_column: usize,
        rows: Arc<Rows>,
        pick: Pick,
    ) -> Result<Self, DataError> {
        if rows.is_empty() {
            return Err(DataError::Empty(file.to_owned()));
        }
        Ok(DataSource {
            name: name.to_owned(),
            columns,
            default_column,
            rows,
            pick,
            cursor: AtomicUsize::new(0),
        })
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The next record's index.
    pub fn next_row(&self, rng: &mut impl Rng) -> usize {
        match self.pick {
            Pick::Random => rng.random_range(0..self.rows.len()),
            Pick::Sequential => self.cursor.fetch_add(1, Ordering::Relaxed) % self.rows.len(),
            // Rendering reads a user's own record; this is only reached by a
            // user that holds none, which the engine does not let run.
            Pick::PerUser => 0,
        }
    }

    /// A cell; rows shorter than the header read as empty.
    pub fn value(&self, row: usize, column: usize) -> &str {
        self.rows.cell(row, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lines_and_sequential_pick() {
        let d = DataSource::from_lines("t", "t.txt", "a\n\nb\nc\n", Pick::Sequential).unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let got: Vec<&str> = (0..4).map(|_| d.value(d.next_row(&mut rng), 0)).collect();
        assert_eq!(got, ["a", "b", "c", "a"]);
    }

    #[test]
    fn csv_columns() {
        let d = DataSource::from_csv(
            "u",
            "u.csv",
            Bytes::from_static(b"user,pass\nann,x1\nbob,\"y,2\"\n"),
            Some("pass"),
            Pick::Random,
        )
        .unwrap();
        assert_eq!(d.default_column, 1);
        assert_eq!(d.column("user"), Some(0));
        assert_eq!(d.value(1, 1), "y,2");
        let err = DataSource::from_csv("u", "u.csv", "user\nann\n", Some("nope"), Pick::Random)
            .unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        assert!(DataSource::from_lines("e", "e.txt", "\n\n", Pick::Random).is_err());
    }

    #[test]
    fn short_csv_rows_read_as_empty_and_long_ones_are_refused() {
        let d = DataSource::from_csv(
            "u",
            "u.csv",
            "user,pass,team\nann,x1,red\n\nbob\ncid,y2\n",
            None,
            Pick::Sequential,
        )
        .unwrap();
        assert_eq!(d.rows.len(), 3);
        assert_eq!(
            (d.value(1, 0), d.value(1, 1), d.value(1, 2)),
            ("bob", "", "")
        );
        assert_eq!((d.value(2, 1), d.value(2, 2)), ("y2", ""));
        let err = DataSource::from_csv(
            "u",
            "u.csv",
            "user,pass\nann,x1\nbob,hello, world\n",
            None,
            Pick::Random,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("u.csv line 3 has 3 fields, but the header has 2"),
            "{text}"
        );
    }

    #[test]
    fn rows_cost_about_four_bytes_a_cell_beside_their_text() {
        let text: String = (0..100_000).map(|i| format!("user{i:06}\n")).collect();
        let d = DataSource::from_lines("u", "u.txt", Bytes::from(text), Pick::Sequential).unwrap();
        assert_eq!(d.rows.len(), 100_000);
        assert_eq!(d.value(0, 0), "user000000");
        assert_eq!(d.value(99_999, 0), "user099999");
        assert_eq!(d.value(100_000, 0), "", "past the last row");
        assert_eq!(d.value(5, 1), "", "past the header");
        // 8 bytes of span a row; the text is the file's own.
        assert_eq!(d.rows.heap_bytes(), 100_000 * 8);
        let csv: String = std::iter::once("a,b,c\n".to_owned())
            .chain((0..1000).map(|i| format!("{i},\"x,{i}\"\n")))
            .collect();
        let d = DataSource::from_csv("c", "c.csv", Bytes::from(csv.clone()), None, Pick::Random)
            .unwrap();
        assert_eq!(
            (d.value(7, 0), d.value(7, 1), d.value(7, 2)),
            ("7", "x,7", "")
        );
        assert!(d.rows.heap_bytes() <= csv.len() + 1000 * 3 * 8);
    }
}
