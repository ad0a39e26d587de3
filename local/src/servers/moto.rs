//! moto's server, from the project's virtual environment, on a free loopback port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto is not installed at {0}: run `make setup`")]
    NotInstalled(PathBuf),
    #[error("could not start moto: {0}")]
    Spawn(std::io::Error),
    #[error("moto did not answer on {0} within {1:?}; its log: {2}")]
    NotReady(SocketAddr, Duration, PathBuf),
}

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    /// Starts `scripts/moto_server.py` with `.venv/bin/python` from the repository root,
    /// logging to `log`.
    pub async fn start(root: &Path, log: &Path) -> Result<Moto, MotoError> {
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(MotoError::NotInstalled(python));
        }
        let port = free_port().map_err(MotoError::Spawn)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(MotoError::Spawn)?;
        }
        let out = std::fs::File::create(log).map_err(MotoError::Spawn)?;
        let err = out.try_clone().map_err(MotoError::Spawn)?;
        let child = Command::new(python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(MotoError::Spawn)?;
        let moto = Moto { child, addr };
        let limit = Duration::from_secs(30);
        if !accepts_within(addr, limit).await {
            return Err(MotoError::NotReady(addr, limit, log.to_owned()));
        }
        Ok(moto)
    }

    /// The server's process id (for its memory figures).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (for outage tests) and waits for it to exit.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits until something accepts connections on `addr`; false if nothing did within
/// `limit` (a server that has just been spawned).
pub async fn accepts_within(addr: SocketAddr, limit: Duration) -> bool {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// A port the OS considers free right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
