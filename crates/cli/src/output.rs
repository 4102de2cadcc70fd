//! Tables for people, JSON for scripts.

use std::time::Duration;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use keyward_api::ListEnvelope;
use serde::Serialize;
use serde_json::Value;

pub struct Output {
    pub json: bool,
}

/// What a command that returns nothing prints with --json.
#[derive(Serialize)]
struct Done<'a> {
    status: &'a str,
    message: &'a str,
}

impl Output {
    /// Prints a value as pretty JSON (object keys sorted, as always).
    pub fn print_json<T: Serialize + ?Sized>(&self, v: &T) {
        let v = serde_json::to_value(v).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }

    /// Prints a list envelope as a table of the given columns, a row of cells made by `row`
    /// from each resource (see [`Cell`]); with --json the envelope as it is.
    pub fn list<T: Serialize>(
        &self,
        envelope: &ListEnvelope<T>,
        columns: &[&str],
        row: impl Fn(&T) -> Vec<String>,
    ) {
        if self.json {
            return self.print_json(envelope);
        }
        let rows: Vec<Vec<String>> = envelope.resources.iter().map(row).collect();
        self.rows(columns, &rows, envelope.total);
    }

    /// Prints rows under the given columns, then `<shown> of <total>`.
    pub fn rows(&self, columns: &[&str], rows: &[Vec<String>], total: i64) {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(columns.to_vec());
        for r in rows {
            table.add_row(r.clone());
        }
        println!("{table}");
        println!("{} of {total}", rows.len());
    }

    /// A spinner with the elapsed time and a message, ticking on its own; hidden with --json.
    pub fn spinner(&self) -> ProgressBar {
        let bar = if self.json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Prints one resource as a two-column table, every field in name order.
    pub fn object<T: Serialize + ?Sized>(&self, v: &T) {
        if self.json {
            return self.print_json(v);
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        if let Ok(Value::Object(map)) = serde_json::to_value(v) {
            for (k, val) in map {
                table.add_row(vec![k, value_cell(&val)]);
            }
        }
        println!("{table}");
    }

    /// Prints chosen fields of one resource, in the given order, as a two-column table; with
    /// --json the whole resource.
    pub fn fields<T: Serialize + ?Sized>(&self, whole: &T, rows: &[(&str, String)]) {
        if self.json {
            return self.print_json(whole);
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        for (k, v) in rows {
            table.add_row(vec![k.to_string(), v.clone()]);
        }
        println!("{table}");
    }

    pub fn done(&self, message: &str) {
        if self.json {
            self.print_json(&Done {
                status: "ok",
                message,
            });
        } else {
            println!("{message}");
        }
    }
}

/// A field as a table cell: strings bare, absent values empty, lists joined with commas,
/// anything else as JSON writes it.
pub trait Cell {
    fn cell(&self) -> String;
}

impl Cell for String {
    fn cell(&self) -> String {
        self.clone()
    }
}

impl Cell for str {
    fn cell(&self) -> String {
        self.to_string()
    }
}

impl Cell for bool {
    fn cell(&self) -> String {
        self.to_string()
    }
}

impl Cell for i64 {
    fn cell(&self) -> String {
        self.to_string()
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self) -> String {
        self.as_ref().map(Cell::cell).unwrap_or_default()
    }
}

impl<T: Cell> Cell for Vec<T> {
    fn cell(&self) -> String {
        self.iter().map(Cell::cell).collect::<Vec<_>>().join(", ")
    }
}

/// A JSON value as a cell, for [`Output::object`], which shows every field.
fn value_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}
