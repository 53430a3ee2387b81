//! Headless Debian Chromium over WebDriver (Debian's chromedriver, W3C WebDriver JSON with
//! ureq), shared by the dashboard and recordings tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openrtmp_testkit::{free_port, ChildGuard, TempDir};
use reqwest_free_http::Agent;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A WebDriver session (W3C WebDriver, the endpoints chromedriver implements).
pub struct Browser {
    agent: Agent,
    url: String,
    _driver: ChildGuard,
    _profile: TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// Like [`Browser::start`], with `extra` Chromium flags (the studio's fake camera and
    /// microphone: `--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`).
    pub fn start_with(extra: &[&str]) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = ChildGuard(driver);
        let root = format!("http://127.0.0.1:{port}");
        let agent = agent();
        let ready = wait_for(Duration::from_secs(20), || {
            let mut r = agent.get(format!("{root}/status")).call().ok()?;
            let v: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        });
        assert!(ready.is_some(), "chromedriver did not become ready on port {port}");
        let profile = TempDir::new("chromium-profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1400,1100",
        ]
        .iter()
        .chain(extra)
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.0.display())])
        .collect::<Vec<_>>();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let v = post(&agent, &format!("{root}/session"), &caps);
        let id = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}"));
        Browser { url: format!("{root}/session/{id}"), agent, _driver: driver, _profile: profile }
    }

    pub fn go(&self, url: &str) {
        post(&self.agent, &format!("{}/url", self.url), &json!({ "url": url }));
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn eval(&self, script: &str) -> Value {
        let v = post(
            &self.agent,
            &format!("{}/execute/sync", self.url),
            &json!({ "script": script, "args": [] }),
        );
        v["value"].clone()
    }

    /// Polls `script` until it returns something truthy (not null/false/0/""), at most `limit`.
    pub fn wait_js(&self, what: &str, script: &str, limit: Duration) -> Value {
        let found = wait_for(limit, || {
            let v = self.eval(script);
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            truthy.then_some(v)
        });
        found.unwrap_or_else(|| {
            let body = self.eval("return document.body.innerText.slice(0, 2000)");
            panic!("{what}: not seen within {limit:?}; page text: {body}")
        })
    }

    fn element(&self, css: &str) -> String {
        let v = post(
            &self.agent,
            &format!("{}/element", self.url),
            &json!({ "using": "css selector", "value": css }),
        );
        v["value"]["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Clicks the element `css` selects, as a user would (WebDriver element click).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        post(&self.agent, &format!("{}/element/{id}/click", self.url), &json!({}));
    }

    /// Types `text` into the element `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        post(&self.agent, &format!("{}/element/{id}/value", self.url), &json!({ "text": text }));
    }

    /// Empties the input `css` selects.
    pub fn clear(&self, css: &str) {
        let id = self.element(css);
        post(&self.agent, &format!("{}/element/{id}/clear", self.url), &json!({}));
    }

    pub fn screenshot(&self, path: &Path) {
        let mut r = self.agent.get(format!("{}/screenshot", self.url)).call().expect("screenshot");
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().expect("body"))
            .expect("screenshot JSON");
        let png = base64_decode(v["value"].as_str().expect("base64 PNG"));
        std::fs::write(path, png).expect("write screenshot");
    }

    /// The browser console so far (chromedriver's log endpoint).
    pub fn console(&self) -> Vec<String> {
        let v = post(&self.agent, &format!("{}/se/log", self.url), &json!({ "type": "browser" }));
        v["value"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["message"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.url).call();
    }
}

fn post(agent: &Agent, url: &str, body: &Value) -> Value {
    let mut r = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let text = r.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: not JSON ({e}): {text}"))
}

pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
