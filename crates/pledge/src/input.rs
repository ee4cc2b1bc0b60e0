//! Reading a declaration from disk: one file, or every `.toml`/`.yaml`/`.yml`/`.json` file of
//! a folder (merged). The only place the CLI turns paths into a `SourceMap`.

use anyhow::{Context, Result, bail};
use pledge_lang::{Declaration, Diagnostic, SourceFile, SourceMap};
use std::path::{Path, PathBuf};

/// The declaration looked for when no path is given.
pub const DEFAULT_PATH: &str = "pledge.toml";

const EXTENSIONS: &[&str] = &["toml", "yaml", "yml", "json"];

/// Read the files of a declaration. Names in the map are the paths as the user gave them, so
/// that diagnostics point where the user looks.
pub fn read_sources(path: &Path) -> Result<SourceMap> {
    let mut map = SourceMap::new();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "{} holds no declaration files (.toml, .yaml, .yml, .json)",
                path.display()
            );
        }
        for file in files {
            map.add(read_file(&file)?);
        }
    } else {
        map.add(read_file(path)?);
    }
    Ok(map)
}

fn read_file(path: &Path) -> Result<SourceFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// The declaration's path: the argument, or `pledge.toml` in the working directory.
pub fn declaration_path(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// A declaration read from disk: loaded, or the sources with what is wrong with them (for the
/// caller to report in its own format).
pub type Loaded = std::result::Result<(SourceMap, Declaration), (SourceMap, Vec<Diagnostic>)>;

/// Read and load a declaration. The outer error is a file that cannot be read at all.
pub fn load_or_report(path: &Path) -> Result<Loaded> {
    let sources = read_sources(path)?;
    Ok(match pledge_lang::load(&sources) {
        Ok(decl) => Ok((sources, decl)),
        Err(diagnostics) => Err((sources, diagnostics)),
    })
}
