//! `consolidate list`: every step in plan order.

use std::path::PathBuf;

use upgrade_core::Step;
use upgrade_core::model::step::Body;
use upgrade_core::planning::plan;

use crate::cli_error::{CliError, EXIT_OK};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn databases(step: &Step) -> String {
    match &step.body {
        Body::Any(_) => "all".into(),
        Body::PerDatabase(map) => {
            // Per-database variants: a no-op on any database not listed.
            let dbs: Vec<&str> = map.keys().map(String::as_str).collect();
            dbs.join(",")
        }
    }
}

/// Runs `list`.
pub fn run(root: &Option<PathBuf>, args: &Args) -> Result<u8, CliError> {
    let (_, tree) = super::load(root)?;
    let order = plan::order(&tree)?;
    if args.json {
        let steps: Vec<serde_json::Value> = order
            .iter()
            .map(|s| {
                serde_json::json!({
                    "component": s.key.component.as_str(),
                    "name": s.key.name.as_str(),
                    "phase": s.phase,
                    "release": s.release().map(|r| r.as_str()),
                    "requires": s.requires.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "transaction": s.transaction,
                    "databases": match &s.body { Body::Any(_) => None, Body::PerDatabase(m) => Some(m.keys().collect::<Vec<_>>()) },
                    "checksum": s.checksum.text().as_str(),
                    "file": s.location(),
                })
            })
            .collect();
        let doc = serde_json::json!({ "steps": steps });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(EXIT_OK);
    }
    let rows: Vec<[String; 6]> = order
        .iter()
        .map(|s| {
            [
                s.key.component.to_string(),
                s.key.name.to_string(),
                s.phase.to_string(),
                s.release()
                    .map_or_else(|| "standalone".to_string(), ToString::to_string),
                databases(s),
                s.location(),
            ]
        })
        .collect();
    let header = ["COMPONENT", "STEP", "PHASE", "RELEASE", "DATABASES", "FILE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 5 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out
    };
    println!("{}", line(header));
    for row in &rows {
        println!(
            "{}",
            line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]])
        );
    }
    let standalone = order.iter().filter(|s| s.release().is_none()).count();
    println!(
        "{} steps, {} standalone, {} released",
        order.len(),
        standalone,
        order.len() - standalone
    );
    Ok(EXIT_OK)
}
