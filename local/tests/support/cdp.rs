//! Headless Chromium driven over the DevTools protocol, through `--remote-debugging-pipe`
//! (commands on fd 3, answers and events on fd 4, each a JSON message ending in NUL), so
//! that a test can type into a page and read what it shows.

use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub struct Browser {
    child: Child,
    commands: File,
    messages: Receiver<Value>,
    next_id: u64,
}

/// One tab.
pub struct Page {
    session: String,
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    (fds[0], fds[1])
}

impl Browser {
    /// Starts headless Chromium with a fresh profile under `profile`, English number
    /// formats, and no network beyond what the pages ask for.
    pub fn launch(profile: &Path) -> Browser {
        let (commands_read, commands_write) = pipe();
        let (messages_read, messages_write) = pipe();
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--lang=en-US",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .env("LANG", "en_US.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec. The pipe ends
        // are first moved above 10 so that placing them at 3 and 4 cannot clobber either.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::fcntl(commands_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(messages_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("chromium runs (scripts/install-chromium.sh)");
        // SAFETY: each fd is ours alone from here; closing the child's ends in this
        // process lets a dead browser end the reads.
        let (commands, messages_in) = unsafe {
            libc::close(commands_read);
            libc::close(messages_write);
            (
                File::from_raw_fd(commands_write),
                File::from_raw_fd(messages_read),
            )
        };
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(messages_in);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        Browser {
            child,
            commands,
            messages,
            next_id: 0,
        }
    }

    /// Sends one command and waits (at most 30 s) for its answer's `result`.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("a command to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if m["id"] == id => {
                    assert!(m.get("error").is_none(), "{method}: {}", m["error"]);
                    return m["result"].clone();
                }
                Ok(_) => {} // an event, or another command's answer
                Err(RecvTimeoutError::Timeout) => panic!("{method}: no answer from chromium"),
                Err(RecvTimeoutError::Disconnected) => panic!("{method}: chromium exited"),
            }
        }
    }

    /// A new tab at `url`, once its document has loaded.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.send(None, "Target.createTarget", json!({"url": url}));
        let attached = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let page = Page {
            session: attached["sessionId"]
                .as_str()
                .expect("a session")
                .to_owned(),
        };
        self.wait_for(&page, "document.readyState === 'complete'");
        page
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.send(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits (at most 90 s: the page's requests share two cores with the other end-to-end
    /// tests' stacks) until `expression` is truthy in the page; returns its value. A page
    /// that never gets there fails with what it shows, so the failure says why.
    pub fn wait_for(&mut self, page: &Page, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let v = self.eval(page, expression);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let shown = self.eval(
                    page,
                    "location.href + '\\n' + (document.body ? document.body.innerText : '')",
                );
                panic!("the page never got to: {expression}\nit shows: {shown}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
