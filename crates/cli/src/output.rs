//! Tables for people, JSON for scripts.

use std::time::Duration;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn print_json(&self, v: &Value) {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Prints a list envelope's resources as a table of the given columns.
    pub fn list(&self, envelope: &Value, columns: &[&str]) {
        if self.json {
            return self.print_json(envelope);
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(columns.to_vec());
        if let Some(items) = envelope.get("resources").and_then(Value::as_array) {
            for item in items {
                table.add_row(
                    columns
                        .iter()
                        .map(|c| cell(item.get(*c)))
                        .collect::<Vec<_>>(),
                );
            }
        }
        println!("{table}");
        let total = envelope.get("total").and_then(Value::as_i64).unwrap_or(0);
        let shown = envelope
            .get("resources")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        println!("{shown} of {total}");
    }

    /// Prints a list envelope as a table of the given columns, a row made by `row` from each
    /// resource; with --json the envelope as it is.
    pub fn list_of(&self, envelope: &Value, columns: &[&str], row: impl Fn(&Value) -> Value) {
        if self.json {
            return self.print_json(envelope);
        }
        let rows: Vec<Value> = envelope["resources"]
            .as_array()
            .map(|a| a.iter().map(&row).collect())
            .unwrap_or_default();
        self.list(
            &json!({"total": envelope["total"], "resources": rows}),
            columns,
        );
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

    /// Prints one resource as a two-column table.
    pub fn object(&self, v: &Value) {
        if self.json {
            return self.print_json(v);
        }
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        if let Some(map) = v.as_object() {
            for (k, val) in map {
                table.add_row(vec![k.clone(), cell(Some(val))]);
            }
        }
        println!("{table}");
    }

    /// Prints chosen fields of one resource, in the given order, as a two-column table; with
    /// --json the whole resource.
    pub fn fields(&self, whole: &Value, rows: &[(&str, String)]) {
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
            self.print_json(&json!({"status": "ok", "message": message}));
        } else {
            println!("{message}");
        }
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}
