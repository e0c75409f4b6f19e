//! Data files that templates draw values from: one record per line, or CSV
//! with a header; records picked at random or in sequence.

use std::sync::atomic::{AtomicUsize, Ordering};

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
    pub rows: Rows,
    pub pick: Pick,
    cursor: AtomicUsize,
}

/// Every record's cells in one buffer, with where each cell ends: about
/// 4 bytes a cell besides the text itself (a `Vec<String>` per row cost
/// some 220 bytes a row: 10 million short lines took 2.4 GB).
#[derive(Debug)]
pub struct Rows {
    text: String,
    /// Where cell `i` ends in `text` (it starts where cell `i - 1` ends),
    /// `width` cells a row; a row shorter than the header has empty cells.
    ends: Vec<u32>,
    width: usize,
}

impl Rows {
    fn new(width: usize) -> Self {
        Rows {
            text: String::new(),
            ends: Vec::new(),
            width: width.max(1),
        }
    }

    /// Adds a row of at most `width` cells; false when the values no
    /// longer fit in 4 GiB.
    fn push<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> bool {
        let mut n = 0;
        for cell in cells.take(self.width) {
            self.text.push_str(cell);
            let Ok(end) = u32::try_from(self.text.len()) else {
                return false;
            };
            self.ends.push(end);
            n += 1;
        }
        let Ok(end) = u32::try_from(self.text.len()) else {
            return false;
        };
        for _ in n..self.width {
            self.ends.push(end);
        }
        true
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.ends.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// A cell; one outside the rows or the header reads as empty.
    pub fn cell(&self, row: usize, column: usize) -> &str {
        if column >= self.width {
            return "";
        }
        let Some(i) = row
            .checked_mul(self.width)
            .and_then(|r| r.checked_add(column))
        else {
            return "";
        };
        let start = match i.checked_sub(1) {
            None => 0,
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0) as usize,
        };
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        self.text.get(start..end).unwrap_or("")
    }

    /// The memory the rows hold, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<u32>()
    }

    fn shrink(mut self) -> Self {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self
    }
}

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0} has no records")]
    Empty(String),
    #[error("{0}: its values add up to more than 4 GiB, more than a data file may hold")]
    TooLarge(String),
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
    /// One record per non-empty line.
    pub fn from_lines(name: &str, file: &str, text: &str, pick: Pick) -> Result<Self, DataError> {
        let mut rows = Rows::new(1);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if !rows.push(std::iter::once(line)) {
                return Err(DataError::TooLarge(file.to_owned()));
            }
        }
        Self::new(name, file, vec!["line".into()], 0, rows, pick)
    }

    /// CSV with a header row; `column` picks what `{{ name }}` means. A row
    /// shorter than the header reads as empty in its missing columns; a
    /// longer one is an error naming its line.
    pub fn from_csv(
        name: &str,
        file: &str,
        text: &str,
        column: Option<&str>,
        pick: Pick,
    ) -> Result<Self, DataError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let columns: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
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
        let mut rows = Rows::new(columns.len());
        // One record read into again and again: the rows' own buffer is
        // the only copy kept.
        let mut rec = csv::StringRecord::new();
        while reader.read_record(&mut rec)? {
            if rec.len() > columns.len() {
                return Err(DataError::LongRow {
                    file: file.to_owned(),
                    line: rec.position().map_or(0, |p| p.line()),
                    fields: rec.len(),
                    columns: columns.len(),
                });
            }
            if !rows.push(rec.iter()) {
                return Err(DataError::TooLarge(file.to_owned()));
            }
        }
        Self::new(name, file, columns, default_column, rows, pick)
    }

    fn new(
        name: &str,
        file: &str,
        columns: Vec<String>,
        default_column: usize,
        rows: Rows,
        pick: Pick,
    ) -> Result<Self, DataError> {
        if rows.is_empty() {
            return Err(DataError::Empty(file.to_owned()));
        }
        Ok(DataSource {
            name: name.to_owned(),
            columns,
            default_column,
            rows: rows.shrink(),
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
            "user,pass\nann,x1\nbob,\"y,2\"\n",
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
        let d = DataSource::from_lines("u", "u.txt", &text, Pick::Sequential).unwrap();
        assert_eq!(d.rows.len(), 100_000);
        assert_eq!(d.value(0, 0), "user000000");
        assert_eq!(d.value(99_999, 0), "user099999");
        assert_eq!(d.value(100_000, 0), "", "past the last row");
        assert_eq!(d.value(5, 1), "", "past the header");
        // 10 bytes of text and 4 of offset a row, nothing else.
        assert_eq!(d.rows.heap_bytes(), 100_000 * 14);
        let csv: String = std::iter::once("a,b,c\n".to_owned())
            .chain((0..1000).map(|i| format!("{i},\"x,{i}\"\n")))
            .collect();
        let d = DataSource::from_csv("c", "c.csv", &csv, None, Pick::Random).unwrap();
        assert_eq!(
            (d.value(7, 0), d.value(7, 1), d.value(7, 2)),
            ("7", "x,7", "")
        );
        assert!(d.rows.heap_bytes() <= csv.len() + 1000 * 3 * 4);
    }
}
