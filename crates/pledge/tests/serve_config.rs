//! `pledge serve --config FILE`: a bad file stops the server before it listens, naming the
//! file, line and column; a secret in the file is refused with the variable to use; a bad
//! environment override is named too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pledge-serve-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(dir: &Path, config: &str, env: &[(&str, &str)]) -> Output {
    std::fs::write(dir.join("serve.toml"), config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pledge"));
    cmd.args(["serve", "--config", "serve.toml"])
        .current_dir(dir)
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A config file, the environment beside it, and what the error must say.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_files_and_secrets_stop_the_server_before_it_starts() {
    let d = dir("bad");
    let cases: [Case; 4] = [
        (
            "[public]\nmax_attempts = \"five\"\n",
            &[],
            "serve.toml:2:16: invalid type",
        ),
        (
            "[mail]\nsmtp_url = \"smtps://u:p@mail.example.com\"\n",
            &[],
            "serve.toml:2:12: `mail.smtp_url` holds a password: set it in the environment as PLEDGE_SMTP_URL",
        ),
        (
            "workers = 1\n",
            &[("PLEDGE_WORKERS", "many")],
            "PLEDGE_WORKERS=`many`",
        ),
        (
            "listen = \"127.0.0.1:0\"\n",
            &[("PLEDGE_SMTP_URL", "gopher://nowhere")],
            "the SMTP URL is not valid",
        ),
    ];
    for (config, env, expected) in cases {
        let out = serve(&d, config, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config}");
        assert!(stderr.contains(expected), "{config}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{config}"
        );
    }
    std::fs::remove_dir_all(&d).ok();
}
