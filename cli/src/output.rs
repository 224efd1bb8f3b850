//! `--output table|json`: aligned tables for people, one JSON object per line for scripts;
//! and progress bars on stderr, shown only on a terminal and only once a task has run for a
//! second.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub struct Out {
    pub format: Format,
}

impl Out {
    /// `format`, or a table on a terminal and JSON lines otherwise.
    pub fn new(format: Option<Format>) -> Out {
        let format = format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        });
        Out { format }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// One JSON object on one line.
    pub fn json(&self, value: &impl Serialize) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, value)?;
        writeln!(stdout)
    }

    /// A line of text.
    pub fn line(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        writeln!(std::io::stdout().lock(), "{}", text.as_ref())
    }

    /// `rows` under `headers`, columns padded to their widest cell; the last column unpadded.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut stdout = std::io::stdout().lock();
        let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(rows) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i == last {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            writeln!(stdout, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A progress bar over `total` steps (records), drawn on stderr once a second has passed.
pub struct Progress {
    bar: ProgressBar,
    shown: std::sync::atomic::AtomicBool,
}

impl Progress {
    pub fn new(total: u64, what: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        Progress {
            bar,
            shown: Default::default(),
        }
    }

    pub fn inc(&self, n: u64) {
        use std::sync::atomic::Ordering;
        self.bar.inc(n);
        if self.bar.elapsed() > Duration::from_secs(1) && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Runs `f` with the bar cleared, so that output and bar do not garble each other.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
