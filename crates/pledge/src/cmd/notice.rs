//! `pledge notice`: write the privacy notice; `pledge notice diff`: what changed between two
//! versions of a declaration, and whether people must be told before it applies.
//!
//! The shell's part: read the declaration and the template files, decide the effective date
//! (the one place the clock is read), run `git show` for `git:REV:path` arguments, write the
//! output. Everything else is `pledge_docs::notice`.

use super::{EXIT_FINDINGS, EXIT_OK, exit_invalid};
use crate::input;
use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use pledge_docs::notice::{self, Options, TEMPLATE_NAMES, Templates};
use pledge_lang::types::Date;
use pledge_lang::{Declaration, Diagnostic, Severity, SourceFile, SourceMap};
use pledge_law::{lint, report};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Compare two versions of a declaration: material changes (tell people before they
    /// apply) and editorial ones. OLD and NEW are paths, or `git:REV:PATH` (`git:REV` alone
    /// takes NEW's path at that revision).
    Diff(DiffArgs),
}

#[derive(clap::Args)]
struct RenderArgs {
    /// The declaration: a file, or a folder whose files are merged. Default: pledge.toml.
    path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,
    /// Language of the notice (BCP 47). English is built in; others need --templates.
    #[arg(long, default_value = notice::DEFAULT_LANG)]
    lang: String,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A folder of templates replacing the built-in ones: notice.html, notice.md (and
    /// ropa.html), directly in it or in a subfolder named after the language.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// The date the notice applies from (YYYY-MM-DD). Default: `[policy] effective_date`,
    /// else today.
    #[arg(long, value_name = "DATE")]
    effective_date: Option<String>,
    /// Refuse to write the notice while `pledge check` reports errors.
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One self-contained page.
    Html,
    /// Markdown, for wikis and repositories.
    #[value(alias = "markdown")]
    Md,
    /// JSON-LD in W3C Data Privacy Vocabulary terms.
    #[value(alias = "json-ld")]
    Jsonld,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The earlier declaration: a path, or `git:REV:PATH`.
    old: String,
    /// The later declaration: a path, or `git:REV:PATH`.
    new: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    format: DiffFormat,
    /// Exit with status 1 when there are material changes (for CI).
    #[arg(long)]
    check: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Human,
    Json,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Some(Command::Diff(d)) => diff(d),
        None => render(args.render),
    }
}

fn render(args: RenderArgs) -> Result<ExitCode> {
    let path = input::declaration_path(args.path);
    let Some(decl) = load(&path, args.strict)? else {
        return Ok(exit_invalid());
    };
    let templates = match &args.templates {
        Some(dir) => read_templates(dir, &args.lang)?,
        None => Templates::builtin(),
    };
    let effective_date = effective_date(args.effective_date.as_deref(), &decl)?;
    let format = match args.format {
        Format::Html => notice::Format::Html,
        Format::Md => notice::Format::Markdown,
        Format::Jsonld => notice::Format::JsonLd,
    };
    let options = Options {
        format,
        lang: args.lang,
        effective_date: Some(effective_date),
        templates,
    };
    let rendered = notice::render(&decl, &options)?;
    write_output(args.output.as_deref(), rendered.text.as_bytes())?;
    if let Some(out) = &args.output {
        eprintln!(
            "wrote {} (version {}, effective {effective_date})",
            out.display(),
            rendered.version
        );
    }
    Ok(EXIT_OK)
}

/// Load a declaration, printing its errors; also warn (or, with `strict`, stop) when
/// `pledge check` would report errors. `None` when it cannot be used.
pub(crate) fn load(path: &Path, strict: bool) -> Result<Option<Declaration>> {
    match input::load_or_report(path)? {
        Ok((sources, decl)) => {
            let errors: Vec<Diagnostic> = lint::lint(&decl)
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(lint::Finding::to_diagnostic)
                .collect();
            if !errors.is_empty() {
                if strict {
                    anstream::eprint!("{}", report::human(&errors, &sources, true));
                    eprintln!(
                        "error: not written: `pledge check` reports {} error(s) (--strict)",
                        errors.len()
                    );
                    return Ok(None);
                }
                eprintln!(
                    "warning: `pledge check {}` reports {} error(s); the output says what the declaration holds, defects included",
                    path.display(),
                    errors.len()
                );
            }
            Ok(Some(decl))
        }
        Err((sources, diagnostics)) => {
            anstream::eprint!("{}", report::human(&diagnostics, &sources, true));
            Ok(None)
        }
    }
}

/// Read the templates of a folder: `DIR/<lang>/<name>`, else `DIR/<name>`.
pub(crate) fn read_templates(dir: &Path, lang: &str) -> Result<Templates> {
    if !dir.is_dir() {
        bail!("--templates {}: not a folder", dir.display());
    }
    let mut templates = Templates::builtin();
    let mut found = 0;
    for name in TEMPLATE_NAMES {
        let candidates = [dir.join(lang).join(name), dir.join(name)];
        if let Some(file) = candidates.iter().find(|p| p.is_file()) {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            templates.set(lang, name, text);
            found += 1;
        }
    }
    if found == 0 {
        bail!(
            "--templates {}: holds none of {} (directly or under {lang}/)",
            dir.display(),
            TEMPLATE_NAMES.join(", ")
        );
    }
    Ok(templates)
}

/// The `--effective-date` flag, else the declared date, else today.
fn effective_date(flag: Option<&str>, decl: &Declaration) -> Result<Date> {
    if let Some(text) = flag {
        return text
            .parse()
            .map_err(|e| anyhow::anyhow!("--effective-date: {e}"));
    }
    if let Some(date) = notice::declared_effective_date(decl) {
        return Ok(date);
    }
    let date = crate::clock::today();
    eprintln!(
        "note: no effective date declared; using today, {date} (set [policy] effective_date or --effective-date)"
    );
    Ok(date)
}

/// Write to the file, or to standard output.
pub(crate) fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
            Ok(())
        }
    }
}

fn diff(args: DiffArgs) -> Result<ExitCode> {
    let new_source = Source::parse(&args.new, None)?;
    let old_source = Source::parse(&args.old, Some(new_source.path()))?;
    let (Some(old), Some(new)) = (old_source.load()?, new_source.load()?) else {
        return Ok(exit_invalid());
    };
    let changes = notice::diff::diff(&old, &new);
    let text = match args.format {
        DiffFormat::Human => changes.human(),
        DiffFormat::Json => changes.json(),
    };
    write_output(None, text.as_bytes())?;
    Ok(if args.check && changes.is_material() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Where a declaration of `notice diff` comes from.
enum Source {
    Path(PathBuf),
    Git { rev: String, path: PathBuf },
}

impl Source {
    /// `git:REV:PATH`, `git:REV` (with the other argument's path) or a path.
    fn parse(arg: &str, other_path: Option<&Path>) -> Result<Source> {
        let Some(rest) = arg.strip_prefix("git:") else {
            return Ok(Source::Path(PathBuf::from(arg)));
        };
        let (rev, path) = match rest.split_once(':') {
            Some((rev, path)) if !path.is_empty() => (rev, PathBuf::from(path)),
            other => {
                let rev = other.map_or(rest, |(r, _)| r);
                match other_path {
                    Some(p) => (rev, p.to_path_buf()),
                    None => bail!("`{arg}`: write git:REV:PATH, e.g. git:HEAD~1:pledge.toml"),
                }
            }
        };
        if rev.is_empty() {
            bail!("`{arg}`: the revision is empty; write git:REV:PATH, e.g. git:main:pledge.toml");
        }
        Ok(Source::Git {
            rev: rev.to_string(),
            path,
        })
    }

    fn path(&self) -> &Path {
        match self {
            Source::Path(p) | Source::Git { path: p, .. } => p,
        }
    }

    fn load(&self) -> Result<Option<Declaration>> {
        let sources = match self {
            Source::Path(p) => input::read_sources(p)?,
            Source::Git { rev, path } => git_sources(rev, path)?,
        };
        match pledge_lang::load(&sources) {
            Ok(decl) => Ok(Some(decl)),
            Err(diagnostics) => {
                anstream::eprint!("{}", report::human(&diagnostics, &sources, true));
                Ok(None)
            }
        }
    }
}

fn git(args: &[&str]) -> Result<Vec<u8>> {
    let output = Process::new("git")
        .args(args)
        .output()
        .context("cannot run git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// The files of a declaration at a git revision: one file, or the declaration files of a
/// folder. Paths are relative to the current directory, as for files on disk.
fn git_sources(rev: &str, path: &Path) -> Result<SourceMap> {
    let rel = path.to_string_lossy();
    let rel = if rel.starts_with("./") || rel.starts_with("../") || rel.starts_with('/') {
        rel.into_owned()
    } else {
        format!("./{rel}")
    };
    let object = format!("{rev}:{rel}");
    let kind = String::from_utf8(git(&["cat-file", "-t", &object])?)?;
    let mut map = SourceMap::new();
    let mut add = |object: &str, name: String| -> Result<()> {
        let bytes = git(&["show", object])?;
        let text = String::from_utf8(bytes).with_context(|| format!("{name} is not UTF-8 text"))?;
        map.add(SourceFile::new(name, text));
        Ok(())
    };
    if kind.trim() == "tree" {
        let listing = String::from_utf8(git(&["ls-tree", "--full-tree", "--name-only", &object])?)?;
        let mut names: Vec<&str> = listing
            .lines()
            .filter(|n| {
                [".toml", ".yaml", ".yml", ".json"]
                    .iter()
                    .any(|e| n.ends_with(e))
            })
            .collect();
        names.sort_unstable();
        if names.is_empty() {
            bail!("{object} holds no declaration files (.toml, .yaml, .yml, .json)");
        }
        for n in names {
            add(
                &format!("{object}/{n}"),
                format!("git:{rev}:{}/{n}", path.display()),
            )?;
        }
    } else {
        add(&object, format!("git:{rev}:{}", path.display()))?;
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_arguments_parse() {
        assert!(matches!(
            Source::parse("pledge.toml", None).unwrap(),
            Source::Path(_)
        ));
        match Source::parse("git:HEAD~1:a/pledge.toml", None).unwrap() {
            Source::Git { rev, path } => {
                assert_eq!(rev, "HEAD~1");
                assert_eq!(path, PathBuf::from("a/pledge.toml"));
            }
            Source::Path(_) => panic!("not git"),
        }
        match Source::parse("git:main", Some(Path::new("p.toml"))).unwrap() {
            Source::Git { rev, path } => {
                assert_eq!((rev.as_str(), path), ("main", PathBuf::from("p.toml")))
            }
            Source::Path(_) => panic!("not git"),
        }
        assert!(Source::parse("git:main", None).is_err());
        assert!(Source::parse("git::p.toml", None).is_err());
    }
}
