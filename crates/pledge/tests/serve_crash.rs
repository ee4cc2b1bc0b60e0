//! The real `pledge serve` binary, killed with SIGKILL in the middle of an erasure job (after
//! the database work committed, before the job was recorded): on restart another worker
//! takes the job over when its lease expires, runs the erasure again (changing nothing), and
//! completes the request exactly once. The database ends exactly as after one
//! uninterrupted `pledge request erase`, and the audit chain is intact.

use pledge_connect::Database;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHINOOK: &str =
    include_str!("../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");
const LUIS: &str = "luisg@embraer.com.br";
const HMAC: &str = "a-secret-of-sixteen+";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn chinook(path: &Path) -> String {
    let url = format!("sqlite:{}", path.display());
    runtime().block_on(async {
        let mut db = Database::connect(None, &format!("{url}?mode=rwc"))
            .await
            .unwrap();
        db.batch(&format!("BEGIN;\n{CHINOOK}\nCOMMIT;"))
            .await
            .unwrap();
        db.close().await;
    });
    url
}

fn dump(url: &str) -> String {
    runtime().block_on(async {
        let mut db = Database::connect(None, url).await.unwrap();
        let mut out = String::new();
        for table in ["customer", "invoice", "invoice_line", "employee"] {
            let rows = db
                .query(&format!("SELECT * FROM {table} ORDER BY 1"))
                .await
                .unwrap();
            out.push_str(&format!("{table}: {rows:?}\n"));
        }
        db.close().await;
        out
    })
}

fn pledge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pledge"));
    c.env("NO_COLOR", "1")
        .env("PLEDGE_HMAC_KEY", HMAC)
        .env_remove("PLEDGE_STORE_URL")
        .env_remove("PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS");
    c
}

/// A started server: its address, and its stderr lines as they come.
struct Server {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

fn start(store: &str, chinook: &str, pause: bool) -> Server {
    let mut cmd = pledge();
    cmd.args([
        "serve",
        &repo().join("examples/chinook").display().to_string(),
        "--store",
        store,
        "--listen",
        "127.0.0.1:0",
        "--lease-secs",
        "2",
    ])
    .env("CHINOOK_DATABASE_URL", chinook)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if pause {
        cmd.env("PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS", "600000");
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("pledge serve: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
    });
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Server {
        child,
        addr,
        stderr: rx,
    }
}

/// One HTTP/1.1 exchange; returns the status and the body as JSON.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status: u16 = response[9..12].parse().unwrap();
    let json = response
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[test]
fn sigkill_during_an_erasure_then_restart_completes_it_once() {
    let dir = std::env::temp_dir().join(format!("pledge-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let app = chinook(&dir.join("chinook.db"));
    let reference = chinook(&dir.join("reference.db"));
    let store = format!("sqlite:{}", dir.join("store.db").display());

    let created = pledge()
        .args(["keys", "create", "--role", "admin", "--store", &store])
        .output()
        .unwrap();
    assert!(created.status.success());
    let key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();

    let mut server = start(&store, &app, true);
    let (status, r) = http(
        &server.addr,
        "POST",
        "/v1/requests",
        &key,
        Some(&format!(
            r#"{{"kind":"erasure","identities":{{"email":"{LUIS}"}}}}"#
        )),
    );
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    // Wait until the erasure has committed in the app database and the worker pauses.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = server
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the worker never reached the pause");
        if line.contains("pausing before completion") {
            break;
        }
    }
    let after_first_run = dump(&app);
    assert!(
        !after_first_run.contains(LUIS),
        "the erasure did not commit"
    );
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let (status, seen) = {
        // The store still says in progress: the crash came before the job was recorded.
        let restarted = start(&store, &app, false);
        let seen_early = http(
            &restarted.addr,
            "GET",
            &format!("/v1/requests/{id}"),
            &key,
            None,
        );
        server = restarted;
        seen_early
    };
    assert_eq!(status, 200);
    assert_eq!(seen["job"]["state"], "running", "{seen}");

    // The lease (2 s) expires, the new worker takes the job over and completes it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, r) = http(
            &server.addr,
            "GET",
            &format!("/v1/requests/{id}"),
            &key,
            None,
        );
        if r["state"] == "completed" {
            break r;
        }
        assert!(Instant::now() < deadline, "never completed: {r}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["job"]["attempts"], 2, "{done}");
    let states: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["in_progress", "completed"],
        "completed more than once?"
    );
    // The second run changed nothing: every step touched 0 rows but the held, masked ones
    // (which it leaves alone too: masking is conditional).
    let changed: u64 = done["result"]["datasets"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "keep")
        .map(|s| s["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(changed, 0, "{done}");

    // Graceful stop on SIGTERM.
    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    // The database is exactly what one uninterrupted erasure leaves.
    let cli = pledge()
        .args([
            "request",
            "erase",
            &repo().join("examples/chinook").display().to_string(),
            "-i",
            &format!("email={LUIS}"),
        ])
        .env("CHINOOK_DATABASE_URL", &reference)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(dump(&app), dump(&reference));
    assert_eq!(dump(&app), after_first_run);

    let verify = pledge()
        .args(["audit", "verify", "--store", &store])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    std::fs::remove_dir_all(&dir).ok();
}
