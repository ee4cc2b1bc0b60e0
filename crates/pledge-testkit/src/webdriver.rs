//! A small W3C WebDriver client for browser tests: starts ChromeDriver, opens a headless
//! Chromium session and drives it over WebDriver's JSON protocol.
//!
//! The protocol is a handful of JSON calls over HTTP/1.1 on loopback, so the client is a
//! plain `TcpStream` with one request per connection: no HTTP client or async runtime is
//! pulled into the build for it. Everything blocks; call it from a blocking thread
//! (`tokio::task::spawn_blocking`) when the server under test runs on a runtime.
//!
//! ```no_run
//! # fn demo() -> Result<(), pledge_testkit::webdriver::Error> {
//! use pledge_testkit::webdriver::Browser;
//! let Some(chromium) = pledge_testkit::require!(pledge_testkit::CHROMIUM, pledge_testkit::chromium()) else { return Ok(()) };
//! let Some(driver) = pledge_testkit::require!(pledge_testkit::CHROMEDRIVER, pledge_testkit::chromedriver()) else { return Ok(()) };
//! let browser = Browser::start(&driver, &chromium)?;
//! browser.goto("http://127.0.0.1:8080/")?;
//! let title = browser.run("return document.title")?;
//! # let _ = title;
//! # Ok(()) }
//! ```

use serde_json::{Value, json};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long to wait for ChromeDriver to answer, and for [`Browser::wait_for`].
const PATIENCE: Duration = Duration::from_secs(20);

/// What went wrong talking to the browser.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// ChromeDriver did not start or answer in time.
    NotReady(String),
    /// A WebDriver error: `error` and `message` of the response.
    WebDriver {
        error: String,
        message: String,
    },
    /// A response that is not WebDriver JSON.
    Protocol(String),
    /// [`Browser::wait_for`] ran out of patience.
    Timeout(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::NotReady(m) => write!(f, "chromedriver is not ready: {m}"),
            Error::WebDriver { error, message } => write!(f, "webdriver: {error}: {message}"),
            Error::Protocol(m) => write!(f, "webdriver protocol: {m}"),
            Error::Timeout(m) => write!(f, "timed out waiting for {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The flags that run Chromium headless here, also as root, with nothing fetched in the
/// background; a fresh profile directory is added per session.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1024,768",
];

/// A ChromeDriver process with one Chromium session. Dropping it ends both.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: PathBuf,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Browser {
    /// Starts ChromeDriver on a free loopback port and opens a session of `chromium`.
    pub fn start(chromedriver: &Path, chromium: &Path) -> Result<Browser, Error> {
        // The free port may be taken again before ChromeDriver binds it: try another.
        let mut attempt = 0;
        let browser = loop {
            attempt += 1;
            match Browser::start_driver(chromedriver) {
                Ok(browser) => break browser,
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => {}
            }
        };
        browser.open_session(chromium)
    }

    /// Starts ChromeDriver on a free port and waits until it answers.
    fn start_driver(chromedriver: &Path) -> Result<Browser, Error> {
        let port = free_port()?;
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let profile =
            std::env::temp_dir().join(format!("pledge-chromium-{}-{port}", std::process::id()));
        // From here on, dropping `browser` stops the driver.
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            profile,
        };
        browser.wait_until_ready()?;
        Ok(browser)
    }

    /// Opens a headless session of `chromium` with a fresh profile.
    fn open_session(mut self, chromium: &Path) -> Result<Browser, Error> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.display()));
        let created = self.call(
            "POST",
            "/session",
            Some(&json!({
                "capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                }}
            })),
        )?;
        self.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| Error::Protocol(format!("no session id in {created}")))?
            .to_string();
        Ok(self)
    }

    fn wait_until_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(Error::NotReady(format!("chromedriver exited ({status})")));
            }
            match self.call("GET", "/status", None) {
                Ok(status) if status["ready"] == true => return Ok(()),
                Ok(_) | Err(Error::Io(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(status) => return Err(Error::NotReady(status.to_string())),
                Err(e) => return Err(e),
            }
        }
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) -> Result<(), Error> {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(&json!({ "url": url })),
        )?;
        Ok(())
    }

    /// Reloads the current page.
    pub fn reload(&self) -> Result<(), Error> {
        self.call("POST", &self.session_path("/refresh"), Some(&json!({})))?;
        Ok(())
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn run(&self, script: &str) -> Result<Value, Error> {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// The serious and critical accessibility violations axe-core finds in the page (WCAG
    /// 2.2 A and AA rules and axe's best practices), each as `rule: selector, ...`.
    /// `axe_source` is the text of `axe.min.js`; it runs in the page through WebDriver,
    /// which the page's Content-Security-Policy does not govern.
    pub fn accessibility_violations(&self, axe_source: &str) -> Result<Vec<String>, Error> {
        let script = format!(
            "{axe_source}\n;return axe.run(document, {{resultTypes: ['violations']}}).then(function (r) {{
                return r.violations
                    .filter(function (v) {{ return v.impact === 'serious' || v.impact === 'critical'; }})
                    .map(function (v) {{
                        return v.id + ' (' + v.impact + '): ' + v.nodes.map(function (n) {{ return n.target.join(' '); }}).join(', ');
                    }});
            }});"
        );
        let found = self.run(&script)?;
        Ok(found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a PNG of the window to `path` (a test's artefact: what the page looked like).
    pub fn screenshot(&self, path: &Path) -> Result<(), Error> {
        use base64::Engine as _;
        let shot = self.call("GET", &self.session_path("/screenshot"), None)?;
        let png = shot
            .as_str()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .ok_or_else(|| Error::Protocol("a screenshot that is not base64 PNG".into()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Runs `script` until it returns `true`, or fails after a while naming `what`.
    pub fn wait_for(&self, what: &str, script: &str) -> Result<(), Error> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.run(script)? == Value::Bool(true) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(Error::Timeout(what.to_string()))
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element, Error> {
        let found = self.call(
            "POST",
            &self.session_path("/element"),
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        found[ELEMENT]
            .as_str()
            .map(|id| Element(id.to_string()))
            .ok_or_else(|| Error::Protocol(format!("no element reference in {found}")))
    }

    /// Clicks an element, as a mouse would.
    pub fn click(&self, element: &Element) -> Result<(), Error> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/click", element.0)),
            Some(&json!({})),
        )?;
        Ok(())
    }

    /// Presses and releases keys in order, on whatever has the focus. Special keys are the
    /// WebDriver code points: [`keys::TAB`], [`keys::ENTER`], [`keys::SPACE`], [`keys::ESCAPE`].
    pub fn press(&self, keys: &[&str]) -> Result<(), Error> {
        let mut actions = Vec::new();
        for key in keys {
            actions.push(json!({"type": "keyDown", "value": key}));
            actions.push(json!({"type": "keyUp", "value": key}));
        }
        self.call(
            "POST",
            &self.session_path("/actions"),
            Some(&json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )?;
        self.call("DELETE", &self.session_path("/actions"), None)?;
        Ok(())
    }

    /// Runs a Chrome DevTools Protocol command through ChromeDriver.
    pub fn cdp(&self, command: &str, params: Value) -> Result<Value, Error> {
        self.call(
            "POST",
            &self.session_path("/goog/cdp/execute"),
            Some(&json!({"cmd": command, "params": params})),
        )
    }

    /// One WebDriver call: the `value` of the response, or its error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        stream.flush()?;
        let (status, bytes) = read_response(stream)?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Protocol(format!(
                "{method} {path}: HTTP {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ))
        })?;
        let value = json.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            return Err(Error::WebDriver {
                error: value["error"].as_str().unwrap_or("unknown").to_string(),
                message: value["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// WebDriver's code points for special keys.
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = "\u{E00D}";
    pub const SHIFT: &str = "\u{E008}";
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Reads an HTTP/1.1 response to the end: its status and body (by `Content-Length`,
/// chunked, or until the connection closes).
fn read_response(stream: TcpStream) -> Result<(u16, Vec<u8>), Error> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::Protocol(format!("bad status line {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| Error::Protocol(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Serves one canned response on a loopback port and returns the port.
    fn serve_once(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(response);
        });
        port
    }

    #[test]
    fn responses_by_length_chunks_and_close_are_read() {
        for (response, expected) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"value\":1}"[..],
                &b"{\"value\":1}"[..],
            ),
            (
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"va\r\n7\r\nlue\":2}\r\n0\r\n\r\n",
                b"{\"value\":2}",
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n{\"value\":3}", b"{\"value\":3}"),
        ] {
            let response: &'static [u8] = Box::leak(response.to_vec().into_boxed_slice());
            let port = serve_once(response);
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
            let (_, body) = read_response(stream).expect("a response");
            assert_eq!(body, expected);
        }
    }
}
