//! `pledge audit`: prove the hash chains of the audit log and the consent ledger intact, the
//! ledger's anchors in the audit log matching it, and the store holding what signed
//! checkpoints kept elsewhere vouch for; make and check checkpoints and receipts' proofs.

use super::store::{StoreArg, with_store};
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use pledge_domain::checkpoint::{Checkpoint, LOGS, LogKind, SigningKey, VerifierKey, split_notes};
use pledge_lang::time::CivilTime;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The signing key: the base64 of its 32-byte seed.
pub const CHECKPOINT_KEY_ENV: &str = "PLEDGE_CHECKPOINT_KEY";
/// A file holding the signing key, when it is not in the environment.
pub const CHECKPOINT_KEY_FILE_ENV: &str = "PLEDGE_CHECKPOINT_KEY_FILE";
/// The key's name: the first part of every origin line.
pub const CHECKPOINT_NAME_ENV: &str = "PLEDGE_CHECKPOINT_NAME";
pub const DEFAULT_CHECKPOINT_NAME: &str = "pledge";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Args, Clone)]
struct KeyName {
    /// The checkpoint key's name (the origin lines start with it). Default:
    /// $PLEDGE_CHECKPOINT_NAME, else `pledge`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

impl KeyName {
    fn resolve(&self) -> String {
        self.name
            .clone()
            .or_else(|| {
                std::env::var(CHECKPOINT_NAME_ENV)
                    .ok()
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_CHECKPOINT_NAME.to_string())
    }
}

#[derive(Subcommand)]
enum Action {
    /// Walk both chains (audit log, consent ledger) and check the ledger's anchors in the
    /// audit log; with --checkpoint, check that the store still holds what each signed
    /// checkpoint vouches for. Exit 0 when all hold, 1 naming what does not.
    Verify {
        #[command(flatten)]
        store: StoreArg,
        /// A file of signed checkpoints (one or many, as the server exports them); repeat for
        /// several files. Each must verify with the public key.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        /// The public key checkpoints are signed with (`name+id+key`, or a file holding it).
        /// Default: the one of $PLEDGE_CHECKPOINT_KEY.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Sign a checkpoint of each log now (with $PLEDGE_CHECKPOINT_KEY or the file
    /// $PLEDGE_CHECKPOINT_KEY_FILE), keep it in the store, print the notes, and append them
    /// to DIR/<log>.checkpoints with --dir.
    Checkpoint {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        name: KeyName,
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the public key of $PLEDGE_CHECKPOINT_KEY, for those who keep checkpoints.
    PublicKey {
        #[command(flatten)]
        name: KeyName,
    },
    /// Make a new checkpoint signing key: prints the seed to set as PLEDGE_CHECKPOINT_KEY
    /// (keep it outside the store) and its public key.
    GenerateKey {
        #[command(flatten)]
        name: KeyName,
    },
    /// The consent receipt of ledger event SEQ with its proof of inclusion under the consent
    /// ledger checkpoint in FILE (the last one of the file that covers it), as JSON.
    Receipt {
        seq: i64,
        /// The declaration (for the receipt's wording). Default: pledge.toml.
        declaration: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Check a receipt's proof of inclusion offline, against a consent ledger checkpoint
    /// kept in FILE: exit 0 when the event is in the ledger the checkpoint signed.
    VerifyReceipt {
        receipt: PathBuf,
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
}

/// The checkpoint signing key: $PLEDGE_CHECKPOINT_KEY (the base64 of a 32-byte seed), else
/// the file named by `key_file` or $PLEDGE_CHECKPOINT_KEY_FILE. None when neither is set.
pub fn signing_key(name: &str, key_file: Option<&Path>) -> Result<Option<SigningKey>> {
    if let Some(seed) = std::env::var(CHECKPOINT_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return SigningKey::parse(name, &seed)
            .map(Some)
            .with_context(|| CHECKPOINT_KEY_ENV.to_string());
    }
    let file = key_file.map(Path::to_path_buf).or_else(|| {
        std::env::var(CHECKPOINT_KEY_FILE_ENV)
            .ok()
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
    });
    let Some(file) = file else {
        return Ok(None);
    };
    let seed = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the checkpoint key file {}", file.display()))?;
    SigningKey::parse(name, &seed)
        .map(Some)
        .with_context(|| format!("the checkpoint key file {}", file.display()))
}

fn required_key(name: &str) -> Result<SigningKey> {
    signing_key(name, None)?.ok_or_else(|| {
        anyhow!(
            "no checkpoint key: set {CHECKPOINT_KEY_ENV} (or {CHECKPOINT_KEY_FILE_ENV}); `pledge audit generate-key` makes one"
        )
    })
}

/// The public key from `--public-key` (the key, or a file holding it), else the one of
/// the signing key in the environment.
fn verifier(arg: Option<&str>) -> Result<VerifierKey> {
    match arg {
        Some(a) => {
            let text = if Path::new(a).is_file() {
                std::fs::read_to_string(a).with_context(|| format!("cannot read {a}"))?
            } else {
                a.to_string()
            };
            text.trim()
                .parse()
                .with_context(|| format!("--public-key `{}`", text.trim()))
        }
        None => {
            let name = KeyName { name: None }.resolve();
            Ok(signing_key(&name, None)?
                .ok_or_else(|| {
                    anyhow!("give --public-key: the key the checkpoints were signed with")
                })?
                .verifier())
        }
    }
}

/// Every checkpoint in `files`, each opened with `key`; the first that does not open is
/// refused with its file and position.
fn read_checkpoints(files: &[PathBuf], key: &VerifierKey) -> Result<Vec<Checkpoint>, String> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let notes = split_notes(&text);
        if notes.is_empty() {
            return Err(format!("{} holds no checkpoint", f.display()));
        }
        for (i, note) in notes.iter().enumerate() {
            let cp = key
                .open(note.as_bytes())
                .map_err(|e| format!("{} (checkpoint {}): {e}", f.display(), i + 1))?;
            out.push(cp);
        }
    }
    Ok(out)
}

fn when(t: i64) -> String {
    CivilTime::from_unix(t).to_rfc3339()
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Verify {
            store,
            checkpoint,
            public_key,
        } => {
            let checkpoints = if checkpoint.is_empty() {
                Vec::new()
            } else {
                let key = verifier(public_key.as_deref())?;
                match read_checkpoints(&checkpoint, &key) {
                    Ok(c) => c,
                    Err(why) => {
                        anstream::println!("checkpoint REFUSED: {why}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            };
            with_store(&store, async |s| verify(s, &checkpoints).await)
        }
        Action::Checkpoint { store, name, dir } => {
            let key = required_key(&name.resolve())?;
            with_store(&store, async |s| {
                let config = pledge_server::jobs::checkpoints::CheckpointConfig {
                    key: key.clone(),
                    schedule: None,
                    every_records: None,
                    dir: dir.clone(),
                };
                let now = crate::clock::now_unix();
                let report = pledge_server::jobs::checkpoints::make(s, &config, now).await;
                s.record_checkpoint_run("cli", report.clone(), now).await?;
                let mut ok = true;
                for log in LOGS {
                    let r = &report[log.as_str().replace('-', "_")];
                    if let Some(why) = r.get("refused").or_else(|| r.get("error")) {
                        ok = false;
                        anstream::eprintln!(
                            "{}: not signed: {}",
                            log.describe(),
                            why.as_str().unwrap_or_default()
                        );
                    } else if let Some(cp) = s.latest_checkpoint(log).await? {
                        anstream::print!("{}", cp.note);
                        if let Some(e) = r["exported"].get("error") {
                            ok = false;
                            anstream::eprintln!(
                                "{}: {}",
                                log.describe(),
                                e.as_str().unwrap_or_default()
                            );
                        }
                    }
                }
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            })
        }
        Action::PublicKey { name } => {
            println!("{}", required_key(&name.resolve())?.verifier());
            Ok(ExitCode::SUCCESS)
        }
        Action::GenerateKey { name } => {
            let key = pledge_server::jobs::checkpoints::generate_key(&name.resolve())
                .map_err(anyhow::Error::msg)?;
            println!("{CHECKPOINT_KEY_ENV}={}", key.seed_base64());
            println!("public key: {}", key.verifier());
            eprintln!(
                "Keep the seed secret and away from the store; give the public key to whoever keeps copies of the checkpoints."
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Receipt {
            seq,
            declaration,
            store,
            checkpoint,
            public_key,
        } => {
            let key = verifier(public_key.as_deref())?;
            let cps = read_checkpoints(std::slice::from_ref(&checkpoint), &key)
                .map_err(anyhow::Error::msg)?;
            let text = std::fs::read_to_string(&checkpoint)?;
            let notes = split_notes(&text);
            // The last consent ledger checkpoint of the file that covers the event.
            let Some((cp, note)) = cps
                .iter()
                .zip(notes)
                .filter(|(c, _)| {
                    c.log() == Some(LogKind::ConsentLedger) && c.size >= seq.max(1) as u64
                })
                .max_by_key(|(c, _)| c.size)
            else {
                bail!(
                    "{} holds no consent ledger checkpoint that covers event {seq}",
                    checkpoint.display()
                );
            };
            let path = crate::input::declaration_path(declaration);
            let decl = match crate::input::load_or_report(&path)? {
                Ok((_, decl)) => decl,
                Err((sources, errors)) => {
                    anstream::eprint!("{}", pledge_law::report::human(&errors, &sources, true));
                    return Ok(super::exit_invalid());
                }
            };
            with_store(&store, async |s| {
                let Some((row, audit_path)) = s.consent_inclusion(seq, cp.size).await? else {
                    bail!("the ledger has no event {seq} among its first {}", cp.size);
                };
                let event = row.event()?;
                let receipt = pledge_domain::consent::receipt(&decl, &event, row.seq, &row.hash);
                let proof = pledge_domain::consent::Inclusion {
                    entry: row.canonical(),
                    prev_hash: row.prev_hash.clone(),
                    checkpoint: note.to_string(),
                    tree_size: cp.size,
                    audit_path,
                };
                let proven = pledge_domain::consent::with_inclusion(receipt, &proof);
                // Checked before it is handed out: a store that no longer matches the
                // checkpoint gives no proof.
                if let Err(why) = pledge_domain::consent::verify_inclusion(&proven, cp) {
                    bail!("the store does not match the checkpoint: {why}");
                }
                println!("{}", serde_json::to_string_pretty(&proven)?);
                Ok(ExitCode::SUCCESS)
            })
        }
        Action::VerifyReceipt {
            receipt,
            checkpoint,
            public_key,
        } => {
            let key = verifier(public_key.as_deref())?;
            let doc: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&receipt)
                    .with_context(|| format!("cannot read {}", receipt.display()))?,
            )
            .with_context(|| format!("{} is not JSON", receipt.display()))?;
            let kept = match read_checkpoints(std::slice::from_ref(&checkpoint), &key) {
                Ok(c) => c,
                Err(why) => {
                    anstream::println!("checkpoint REFUSED: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            // The receipt names the checkpoint it was proven against; the one kept here
            // must be that one (same size and root), and it is this copy that counts.
            let named = doc["inclusion"]["checkpoint"].as_str().unwrap_or_default();
            let named = key.open(named.as_bytes()).ok();
            let Some(cp) = kept.iter().find(|c| {
                c.log() == Some(LogKind::ConsentLedger)
                    && named
                        .as_ref()
                        .is_some_and(|n| n.size == c.size && n.root == c.root)
            }) else {
                anstream::println!(
                    "receipt NOT PROVEN: the checkpoint it was proven against is not among those in {} (or not signed by this key)",
                    checkpoint.display()
                );
                return Ok(ExitCode::FAILURE);
            };
            match pledge_domain::consent::verify_inclusion(&doc, cp) {
                Ok(()) => {
                    anstream::println!(
                        "receipt proven: event {} is in the consent ledger of {} events signed at {}",
                        doc["ledger"]["seq"],
                        cp.size,
                        when(cp.time)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    anstream::println!("receipt NOT PROVEN: {why}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

async fn verify(s: &pledge_store::Store, checkpoints: &[Checkpoint]) -> Result<ExitCode> {
    let audit = s.verify_audit().await?;
    let consent = s.verify_consent().await?;
    let mut intact = true;
    for (log, v) in [
        (LogKind::AuditLog, &audit),
        (LogKind::ConsentLedger, &consent),
    ] {
        let (name, unit) = (log.describe(), log.unit());
        match &v.first_broken {
            None => {
                anstream::println!("{name} intact: {} {unit}s, head {}", v.records, v.head);
            }
            Some(b) => {
                intact = false;
                anstream::println!(
                    "{name} BROKEN at {unit} {}: {} ({} {unit}s before it are intact)",
                    b.seq,
                    b.reason,
                    v.records
                );
            }
        }
        let ours: Vec<Checkpoint> = checkpoints
            .iter()
            .filter(|c| c.log() == Some(log))
            .cloned()
            .collect();
        if !ours.is_empty() {
            let check = s.verify_with_checkpoints(log, &ours).await?;
            for c in &check.checkpoints {
                match &c.problem {
                    None => anstream::println!(
                        "  checkpoint of {} ({} {unit}s): matches",
                        when(c.time),
                        c.size
                    ),
                    Some(p) => {
                        intact = false;
                        anstream::println!(
                            "  checkpoint of {} ({} {unit}s): MISMATCH: {p}",
                            when(c.time),
                            c.size
                        );
                    }
                }
            }
            if check.not_yet_checkpointed > 0 {
                anstream::println!(
                    "  {} {unit}s after the last matching checkpoint are not vouched for by one yet",
                    check.not_yet_checkpointed
                );
            }
        }
        if log == LogKind::ConsentLedger {
            let anchors = s.verify_anchors().await?;
            match &anchors.first_problem {
                None => anstream::println!(
                    "  anchors: {} groups in the audit log match the ledger's {} events",
                    anchors.anchors,
                    anchors.events
                ),
                Some(p) => {
                    intact = false;
                    anstream::println!("  anchors MISMATCH: {p}");
                }
            }
        }
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
