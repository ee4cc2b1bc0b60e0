//! `pledge request`: run a rights request against the declared datasets.

use super::ReportFormat;
use crate::input;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use pledge_connect::{Database, Options, Outcome, Who};
use pledge_docs::export::{self, DatasetRows};
use pledge_lang::Declaration;
use pledge_lang::model::Dataset;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_law::report;
use pledge_plan::people::{self, Identities, Record};
use pledge_plan::{self as plan, Change, Plan, TableRows, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The environment variable holding the key for HMAC pseudonyms.
pub const HMAC_KEY_ENV: &str = "PLEDGE_HMAC_KEY";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Subcommand)]
enum Kind {
    /// Export everything about the person, with the meta-information of GDPR Art. 15.
    Access(Common),
    /// Export the data the person provided under consent or contract (GDPR Art. 20).
    Portability(Common),
    /// Erase the person: delete in foreign-key order, keep held rows pseudonymised (Art. 17).
    Erase(Common),
    /// Correct the person's data and every copy of it (Art. 16): --set column=value.
    Rectify(Common),
    /// Restrict processing of the person's rows (Art. 18).
    Restrict(Common),
}

#[derive(clap::Args)]
struct Common {
    /// The declaration (file or folder). Default: pledge.toml.
    path: Option<PathBuf>,
    /// Who: an identity kind the datasets declare and its value, e.g. email=ana@example.com.
    /// Repeatable, for one person: every identity must find the same rows.
    #[arg(
        long = "identity",
        short = 'i',
        value_name = "KIND=VALUE",
        required_unless_present = "identities",
        conflicts_with = "identities"
    )]
    identity: Vec<String>,
    /// A batch, one person per record: lines of KIND=VALUE[,KIND=VALUE...], a JSON array
    /// of objects or JSON lines, or CSV with a header of identity kinds.
    #[arg(long, value_name = "FILE")]
    identities: Option<PathBuf>,
    /// For rectify: the new value of a column, `column=value` or `table.column=value`.
    #[arg(long = "set", value_name = "COLUMN=VALUE")]
    set: Vec<String>,
    /// Print the plan with the rows each step would touch, then roll back: nothing changes.
    #[arg(long)]
    dry_run: bool,
    /// Only this dataset.
    #[arg(long, value_name = "ID")]
    dataset: Option<String>,
    /// Where to write the export (access, portability). Default: pledge-<kind>-<time>.zip.
    #[arg(long = "output", alias = "out", short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    format: ReportFormat,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (kind, common) = match args.kind {
        Kind::Access(c) => (RequestKind::Access, c),
        Kind::Portability(c) => (RequestKind::Portability, c),
        Kind::Erase(c) => (RequestKind::Erasure, c),
        Kind::Rectify(c) => (RequestKind::Rectification, c),
        Kind::Restrict(c) => (RequestKind::Restriction, c),
    };
    let runtime = super::runtime()?;
    runtime.block_on(run_request(kind, common))
}

async fn run_request(kind: RequestKind, args: Common) -> Result<ExitCode> {
    let started = Instant::now();
    let path = input::declaration_path(args.path.clone());
    let (sources, decl) = match input::load_or_report(&path)? {
        Ok(loaded) => loaded,
        Err((sources, errors)) => {
            anstream::eprint!("{}", report::human(&errors, &sources, true));
            return Ok(super::exit_invalid());
        }
    };
    drop(sources);
    let people = parse_people(&args)?;
    let changes = parse_changes(&args.set)?;
    let request = plan::Request {
        kind,
        identities: people::by_kind(people.iter().map(|r| &r.identities)),
        changes,
        now: crate::clock::now(),
    };
    let datasets: Vec<&Dataset> = decl
        .doc()
        .datasets
        .iter()
        .filter(|d| args.dataset.as_ref().is_none_or(|id| d.id.as_str() == id))
        .collect();
    if datasets.is_empty() {
        bail!(match &args.dataset {
            Some(id) => format!("the declaration has no dataset `{id}`"),
            None => "the declaration declares no datasets: add [[datasets]] with the tables that hold personal data".into(),
        });
    }
    let key = hmac_key(args.dry_run)?;
    let mut results = Vec::new();
    for dataset in datasets {
        let result = run_dataset(&decl, dataset, &request, &people, &args, &key)
            .await
            .with_context(|| format!("dataset `{}`", dataset.id.value))?;
        results.push(result);
    }
    let export = if matches!(kind, RequestKind::Access | RequestKind::Portability) && !args.dry_run
    {
        Some(write_export(
            &decl,
            kind,
            &results,
            &people,
            request.now,
            args.out.clone(),
        )?)
    } else {
        None
    };
    print_report(kind, &args, &results, export.as_ref(), started.elapsed())?;
    Ok(ExitCode::SUCCESS)
}

struct DatasetResult {
    dataset: String,
    plan: Plan,
    outcome: Outcome,
}

async fn run_dataset(
    decl: &Declaration,
    dataset: &Dataset,
    request: &plan::Request,
    people: &[Record],
    args: &Common,
    key: &[u8],
) -> Result<DatasetResult> {
    let url = pledge_connect::dataset_url(dataset)?;
    let (mut db, schema) = Database::open_dataset(dataset, &url).await?;
    // Each person's identities typed as the columns hold them, a batch's with where they are.
    let batch = args.identities.is_some();
    let persons = people
        .iter()
        .map(|r| {
            plan::person(dataset, &schema, &r.identities, batch.then_some(r.at)).map_err(|e| {
                if batch {
                    anyhow::anyhow!("{}: {e}", r.at)
                } else {
                    e.into()
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = plan::plan(decl, dataset, &schema, request)?;
    if key.is_empty() && plan.uses_hmac() {
        bail!(
            "this erasure pseudonymises columns with a keyed hash: set {HMAC_KEY_ENV} to a secret of at least 16 characters, and keep it (the same key gives the same pseudonyms)"
        );
    }
    // Short plans finish before a bar would be worth drawing.
    let bar = (plan.steps.len() >= 8)
        .then(|| {
            super::progress_bar(
                plan.steps.len() as u64,
                "{bar:40} {pos}/{len} steps {elapsed}",
            )
        })
        .flatten();
    let progress = |done: usize, _all: usize| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    };
    let options = Options {
        dry_run: args.dry_run,
        hmac_key: key,
        who: match persons.as_slice() {
            [one] if !batch => Who::Person(one),
            all => Who::Batch(all),
        },
        progress: &progress,
    };
    let outcome = db.execute(&schema, &plan, &options).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    db.close().await;
    Ok(DatasetResult {
        dataset: dataset.id.to_string(),
        plan,
        outcome: outcome?,
    })
}

/// One person from `-i`, or the people of the `--identities` file.
fn parse_people(args: &Common) -> Result<Vec<Record>> {
    if let Some(file) = &args.identities {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        return people::parse_batch(&text).with_context(|| format!("{}", file.display()));
    }
    let identities = Identities::from_pairs(&args.identity)?;
    Ok(vec![Record {
        at: people::Position::Line(0),
        identities,
    }])
}

fn parse_changes(set: &[String]) -> Result<Vec<Change>> {
    set.iter()
        .map(|s| {
            let Some((target, value)) = s.split_once('=') else {
                bail!("--set `{s}` is not COLUMN=VALUE");
            };
            let (table, column) = match target.rsplit_once('.') {
                Some((t, c)) => (Some(t.to_string()), c.to_string()),
                None => (None, target.to_string()),
            };
            Ok(Change {
                table,
                column,
                value: Value::Text(value.to_string()),
            })
        })
        .collect()
}

fn hmac_key(dry_run: bool) -> Result<Vec<u8>> {
    match std::env::var(HMAC_KEY_ENV) {
        Ok(k) if k.len() >= 16 => Ok(k.into_bytes()),
        Ok(_) => bail!("{HMAC_KEY_ENV} must hold at least 16 characters"),
        // A dry run rolls back, so the pseudonyms it computes are never stored.
        Err(_) if dry_run => Ok(b"dry-run-key-not-stored".to_vec()),
        Err(_) => Ok(Vec::new()),
    }
}

fn write_export(
    decl: &Declaration,
    kind: RequestKind,
    results: &[DatasetResult],
    people: &[Record],
    at: CivilTime,
    out: Option<PathBuf>,
) -> Result<PathBuf> {
    let tables: Vec<(String, Vec<TableRows>)> = results
        .iter()
        .map(|r| {
            (
                r.dataset.clone(),
                r.outcome
                    .steps
                    .iter()
                    .filter_map(|s| s.data.clone())
                    .collect(),
            )
        })
        .collect();
    let data: Vec<DatasetRows<'_>> = tables
        .iter()
        .map(|(d, t)| DatasetRows {
            dataset: d,
            tables: t,
        })
        .collect();
    let named: Vec<(String, String)> = people
        .iter()
        .flat_map(|r| r.identities.pairs())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let files = export::render(decl, kind, &data, &named, at);
    let stamp = at.to_string().replace([' ', ':'], "-");
    let path = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "pledge-{}-{stamp}.zip",
            pledge_lang::model::variant_name(&kind)
        ))
    });
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .collect();
    std::fs::write(&path, pledge_docs::archive::zip(&entries))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn print_report(
    kind: RequestKind,
    args: &Common,
    results: &[DatasetResult],
    export: Option<&PathBuf>,
    took: Duration,
) -> Result<()> {
    let mut out = anstream::stdout();
    if let ReportFormat::Json = args.format {
        let doc = serde_json::json!({
            "request": pledge_lang::model::variant_name(&kind),
            "dry_run": args.dry_run,
            "datasets": results.iter().map(|r| serde_json::json!({
                "dataset": r.dataset,
                "committed": r.outcome.committed,
                "steps": r.plan.steps.iter().zip(&r.outcome.steps).map(|(s, o)| serde_json::json!({
                    "table": s.table,
                    "action": s.action.name(),
                    "rows": o.rows,
                    "reason": s.reason,
                    "keys": o.keys,
                })).collect::<Vec<_>>(),
                "notes": r.plan.notes,
            })).collect::<Vec<_>>(),
            "export": export.map(|p| p.display().to_string()),
            "milliseconds": took.as_millis(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let bold = anstyle::Style::new().bold();
    for r in results {
        let header = if args.dry_run {
            "plan (dry run: rolled back, nothing changed)"
        } else {
            "done"
        };
        writeln!(out, "{bold}dataset {}{bold:#}: {header}", r.dataset)?;
        for (i, (s, o)) in r.plan.steps.iter().zip(&r.outcome.steps).enumerate() {
            writeln!(
                out,
                "  {:>2}. {:<9} {:<20} {:>7} row{}  {}",
                i + 1,
                s.action.name(),
                s.table,
                o.rows,
                if o.rows == 1 { " " } else { "s" },
                s.reason
            )?;
        }
        for note in &r.plan.notes {
            writeln!(out, "  note: {note}")?;
        }
    }
    if let Some(path) = export {
        writeln!(out, "export written to {}", path.display())?;
    }
    writeln!(
        out,
        "{} request finished in {} ms",
        pledge_lang::model::variant_name(&kind),
        took.as_millis()
    )?;
    Ok(())
}
