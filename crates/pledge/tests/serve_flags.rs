//! `pledge serve` refuses a bad schedule or export key before it starts anything, naming the
//! flag or environment variable, with exit code 2.

use std::path::Path;
use std::process::{Command, Output};

fn serve(args: &[&str], env: &[(&str, &str)]) -> Output {
    let declaration = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
    command
        .arg("serve")
        .arg(&declaration)
        .args(["--listen", "127.0.0.1:0", "--store", "sqlite::memory:"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PLEDGE_RETAIN_SCHEDULE")
        .env_remove("PLEDGE_MAINTENANCE_SCHEDULE")
        .env_remove("PLEDGE_EXPORT_KEY")
        .env_remove("PLEDGE_EXPORT_KEYS_PREVIOUS");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run pledge")
}

/// Flags, environment, and what the error must say.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_schedules_and_keys_are_named() {
    let cases: [Case; 5] = [
        (
            &["--retain-schedule", "61 * * * *"],
            &[],
            "minute: 61 is outside 0-59",
        ),
        (
            &[],
            &[("PLEDGE_RETAIN_SCHEDULE", "0 3 * *")],
            "PLEDGE_RETAIN_SCHEDULE",
        ),
        (
            &[],
            &[("PLEDGE_MAINTENANCE_SCHEDULE", "@sometimes")],
            "unknown shorthand",
        ),
        (
            &[],
            &[("PLEDGE_EXPORT_KEY", "c2hvcnQ=")],
            "PLEDGE_EXPORT_KEY",
        ),
        (
            &[],
            &[
                ("PLEDGE_EXPORT_KEY", &"ab".repeat(32)),
                ("PLEDGE_EXPORT_KEYS_PREVIOUS", "nope"),
            ],
            "PLEDGE_EXPORT_KEYS_PREVIOUS",
        ),
    ];
    for (args, env, want) in cases {
        let out = serve(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?} {env:?}: {stderr}");
    }
}
