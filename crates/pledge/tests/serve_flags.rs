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

/// `PLEDGE_LOG_FORMAT=json` writes one JSON object per event, HTTP events inside a span
/// that names the request by the id the answer carries; an unknown format is refused.
#[test]
fn the_log_can_be_json_lines_naming_each_request() {
    use std::io::{BufRead, BufReader, Read, Write};
    let out = serve(&[], &[("PLEDGE_LOG_FORMAT", "yaml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PLEDGE_LOG_FORMAT"));

    let declaration = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .arg("serve")
        .arg(&declaration)
        .args(["--listen", "127.0.0.1:0", "--store", "sqlite::memory:"])
        .env("NO_COLOR", "1")
        .env("PLEDGE_LOG_FORMAT", "json")
        .env("PLEDGE_LOG", "debug")
        .env_remove("PLEDGE_EXPORT_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pledge");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("pledge serve: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Request-Id: probe-1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-request-id: probe-1"),
        "{response}"
    );
    // Read the log as it comes until the request's event is there (or the server ends).
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let mut answered = None;
    for line in stderr.lines().map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
        if event["fields"]["message"] == "answered" {
            answered = Some(event);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let answered = answered.unwrap_or_else(|| panic!("no `answered` event in {log}"));
    assert_eq!(answered["span"]["request_id"], "probe-1");
    assert_eq!(answered["span"]["route"], "/healthz");
    assert_eq!(answered["fields"]["status"], 200);
    assert_eq!(answered["level"], "DEBUG");
}
