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

/// Every record's cells as spans of the file itself, shared with the
/// scenario's copy of it: a `lines` file's lines, a CSV record's fields
/// when they stand in the file as they read (unquoted). Fields that do not
/// (quoted, escaped) are copied into a buffer of the rows' own, and their
/// spans marked [`OWN`]. A span is 8 bytes a cell besides the file (a
/// `Vec<String>` per row cost some 220 bytes a row: 10 million short lines
/// took 2.4 GB).
#[derive(Debug)]
pub struct Rows {
    text: Bytes,
    /// The cells that are not the file's bytes (CSV only).
    own: Option<Bytes>,
    /// Where cell `i` starts and ends, `width` cells a row; a row shorter
    /// than the header has empty cells. With `own`, a start with [`OWN`]
    /// set is in `own`.
    spans: Vec<(u32, u32)>,
    width: usize,
}

/// The mark of a span in a CSV's own buffer: a CSV file (and its own
/// buffer) may be 2 GiB at most.
const OWN: u32 = 1 << 31;

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
        let (text, start) = match &self.own {
            Some(own) if start & OWN != 0 => (own, start & !OWN),
            _ => (&self.text, start),
        };
        // Spans cut UTF-8 text at ASCII separators: always whole characters.
        text.get(start as usize..end as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The memory the rows hold of their own, in bytes (a `lines` file's
    /// text is the file's, shared with the scenario's copy of it).
    pub fn heap_bytes(&self) -> usize {
        self.own.as_ref().map_or(0, Bytes::len)
            + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
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
    #[error("{0}: too large for a data file (a lines file may be 4 GiB at most, a CSV file 2 GiB)")]
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
                own: None,
                spans,
                width: 1,
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
            // Offsets below OWN, in the file and in the own buffer.
            let offset = |n: usize| {
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n < OWN)
                    .ok_or_else(too_large)
            };
            let mut own = String::new();
            let mut spans = Vec::new();
            // One record read into again and again: what is kept is the
            // spans, and the fields the file does not hold as they read.
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
                // The record's fields as they stand in the file, joined by
                // commas from where it starts: its cells are then spans of
                // the file (no quotes to take away).
                let mut verbatim = Vec::with_capacity(rec.len());
                if let Some(p) = rec.position() {
                    let mut at = usize::try_from(p.byte()).unwrap_or(usize::MAX);
                    // After a CRLF the csv reader places a record at its LF.
                    while matches!(text.get(at), Some(b'\r' | b'\n')) {
                        at += 1;
                    }
                    for (i, cell) in rec.iter().enumerate() {
                        if i > 0 {
                            if text.get(at) != Some(&b',') {
                                break;
                            }
                            at += 1;
                        }
                        let end = at.saturating_add(cell.len());
                        if text.get(at..end) != Some(cell.as_bytes()) {
                            break;
                        }
                        verbatim.push((at, end));
                        at = end;
                    }
                }
                if verbatim.len() == rec.len() {
                    for (start, end) in verbatim {
                        spans.push((offset(start)?, offset(end)?));
                    }
                } else {
                    for cell in rec.iter() {
                        let start = offset(own.len())?;
                        own.push_str(cell);
                        spans.push((start | OWN, offset(own.len())?));
                    }
                }
                for _ in rec.len()..width {
                    spans.push((0, 0));
                }
            }
            spans.shrink_to_fit();
            own.shrink_to_fit();
            Ok(Rows {
                text: text.clone(),
                own: Some(Bytes::from(own)),
                spans,
                width,
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
    fn rows_are_spans_of_the_file_and_cost_eight_bytes_a_cell() {
        let text: String = (0..100_000).map(|i| format!("user{i:06}\n")).collect();
        let d = DataSource::from_lines("u", "u.txt", text, Pick::Sequential).unwrap();
        assert_eq!(d.rows.len(), 100_000);
        assert_eq!(d.value(0, 0), "user000000");
        assert_eq!(d.value(99_999, 0), "user099999");
        assert_eq!(d.value(100_000, 0), "", "past the last row");
        assert_eq!(d.value(5, 1), "", "past the header");
        // 8 bytes of span a row; the text is the file's own.
        assert_eq!(d.rows.heap_bytes(), 100_000 * 8);
        // CRLF, blank and space-only lines.
        let d =
            DataSource::from_lines("c", "c.txt", "a\r\n\r\n  \nb c\r\nlast", Pick::Random).unwrap();
        assert_eq!(d.rows.len(), 3);
        assert_eq!(
            (d.value(0, 0), d.value(1, 0), d.value(2, 0)),
            ("a", "b c", "last")
        );
        // A CSV of unquoted fields is spans of the file too; quoted fields
        // (and their records) are copied, unquoted.
        let csv: String = std::iter::once("a,b,c\r\n".to_owned())
            .chain((0..1000).map(|i| {
                if i % 10 == 7 {
                    format!("{i},\"x,{i}\"\r\n")
                } else {
                    format!("{i},y{i},z\r\n")
                }
            }))
            .collect();
        let d = DataSource::from_csv("c", "c.csv", csv, None, Pick::Random).unwrap();
        assert_eq!(
            (d.value(7, 0), d.value(7, 1), d.value(7, 2)),
            ("7", "x,7", "")
        );
        assert_eq!(
            (d.value(8, 0), d.value(8, 1), d.value(8, 2)),
            ("8", "y8", "z")
        );
        assert_eq!(d.value(999, 1), "y999");
        // 100 quoted records copied ("97" and "x,97": 5 to 7 bytes each).
        let own = d.rows.heap_bytes() - 1000 * 3 * 8;
        assert!((400..=800).contains(&own), "{own} bytes copied");
    }
}
