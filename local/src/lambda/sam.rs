//! SAM CLI's local Lambda as the stack's functions: the artifacts `sam build` made (arm64,
//! as deployed) run in SAM's containers, and every invocation of the bus, the gateway and
//! the stream pollers goes through `sam local start-lambda`'s Invoke API.
//!
//! Two things SAM does differently shape this module. SAM passes a function only the
//! environment variables its template declares (`--env-vars` can override those, not add
//! others), so the endpoints the functions need locally are declared, empty, in a copy of
//! the built template, `template.local.yaml` beside it, which `--env-vars` then fills. And
//! the containers sit on Docker's bridge: they reach this machine at the bridge's gateway
//! address, not at 127.0.0.1, so the servers they call listen there
//! ([`bridge_gateway`]).

use super::FunctionSpec;
use super::invoke::{BoxFuture, InvokeError, Invoker};
use crate::aws::REGION;
use crate::client;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Variables SAM sets itself from its own environment and `--region`; the env-vars file
/// cannot override them.
const SET_BY_SAM: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The credentials SAM hands the functions (moto accepts any).
const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
];

#[derive(Debug, thiserror::Error)]
pub enum SamError {
    #[error(
        "{0} is missing: build the functions with `make build` (sam build) first; \
         --lambda sam runs what sam build made"
    )]
    NotBuilt(PathBuf),
    #[error("{path}: {message}")]
    Template { path: PathBuf, message: String },
    #[error("Docker does not answer ({0}): run scripts/sam-local-setup.sh (make sam-setup)")]
    Docker(String),
    #[error("could not run {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("sam local start-lambda did not answer on {0} within {1:?}; its log: {2}")]
    NotReady(SocketAddr, Duration, PathBuf),
}

/// The `sam` of the project's virtual environment, else the one on PATH.
pub fn sam_command(root: &Path) -> PathBuf {
    let venv = root.join(".venv/bin/sam");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("sam")
    }
}

/// The address of Docker's default bridge on this machine: where SAM's containers reach
/// the servers the functions call. Docker reports it as the network's gateway, or (the
/// default bridge, on some engines) only as the address of the bridge's interface.
pub fn bridge_gateway() -> Result<IpAddr, SamError> {
    let run = |program: &str, args: &[&str]| -> Result<String, SamError> {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| SamError::Docker(format!("{program}: {e}")))?;
        if !out.status.success() {
            return Err(SamError::Docker(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let format = "{{range .IPAM.Config}}{{.Gateway}}{{end}} \
                  {{index .Options \"com.docker.network.bridge.name\"}}";
    let text = run(
        "docker",
        &["network", "inspect", "bridge", "--format", format],
    )?;
    let (gateway, interface) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    if let Ok(ip) = gateway.trim().parse() {
        return Ok(ip);
    }
    let interface = match interface.trim() {
        "" | "<no value>" => "docker0",
        name => name,
    };
    let addr = run("ip", &["-4", "-o", "addr", "show", "dev", interface])?;
    // "5: docker0    inet 172.17.0.1/16 brd ... scope global docker0"
    addr.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| SamError::Docker(format!("no address on {interface}: {addr:?}")))
}

/// What `sam local` needs to run the stack's functions: the local template and the
/// env-vars file, written from the functions' specs.
#[derive(Debug, Clone)]
pub struct SamFiles {
    /// `template.local.yaml`, beside the built template (its `CodeUri`s are relative).
    pub template: PathBuf,
    /// `{ "<logical id>": { "NAME": "value", ... } }`, as `--env-vars` takes it.
    pub env_vars: PathBuf,
}

/// Writes [`SamFiles`] for `functions` (their environments as the native runtime would
/// give them) from `<build_dir>/template.yaml`; the env-vars file goes to `env_vars`.
pub fn write_files(
    build_dir: &Path,
    functions: &[FunctionSpec],
    env_vars: &Path,
) -> Result<SamFiles, SamError> {
    let built = build_dir.join("template.yaml");
    let text = std::fs::read_to_string(&built).map_err(|_| SamError::NotBuilt(built.clone()))?;
    let fail = |message: String| SamError::Template {
        path: built.clone(),
        message,
    };
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let names: BTreeSet<&str> = functions
        .iter()
        .flat_map(|f| f.env.keys())
        .map(String::as_str)
        .filter(|k| !SET_BY_SAM.contains(k))
        .collect();
    declare(&mut doc, &names).map_err(fail)?;
    let template = build_dir.join("template.local.yaml");
    let yaml = serde_yaml::to_string(&doc).map_err(|e| fail(e.to_string()))?;
    let header = "# Written by eventmart-local from template.yaml (sam build's copy): the same \
                  template, with the\n# variables the functions need locally declared, so that \
                  --env-vars can set them.\n";
    std::fs::write(&template, format!("{header}{yaml}")).map_err(|e| fail(e.to_string()))?;

    let vars: BTreeMap<&str, BTreeMap<&str, &str>> = functions
        .iter()
        .map(|f| {
            let env = f
                .env
                .iter()
                .filter(|(k, _)| !SET_BY_SAM.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            (f.name.as_str(), env)
        })
        .collect();
    if let Some(dir) = env_vars.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let json = serde_json::to_vec_pretty(&vars).map_err(|e| fail(e.to_string()))?;
    std::fs::write(env_vars, json).map_err(|e| fail(e.to_string()))?;
    Ok(SamFiles {
        template,
        env_vars: env_vars.to_owned(),
    })
}

/// Declares each of `names` in `Globals.Function.Environment.Variables` (empty unless
/// declared already), so that SAM passes what `--env-vars` gives it.
fn declare(doc: &mut serde_yaml::Value, names: &BTreeSet<&str>) -> Result<(), String> {
    use serde_yaml::{Mapping, Value as Y};
    let mut at = doc;
    for key in ["Globals", "Function", "Environment", "Variables"] {
        let map = at
            .as_mapping_mut()
            .ok_or_else(|| format!("{key}'s parent is not a mapping"))?;
        at = map
            .entry(Y::String(key.to_owned()))
            .or_insert_with(|| Y::Mapping(Mapping::new()));
    }
    let vars = at
        .as_mapping_mut()
        .ok_or("Globals.Function.Environment.Variables is not a mapping")?;
    for name in names {
        vars.entry(Y::String((*name).to_owned()))
            .or_insert_with(|| Y::String(String::new()));
    }
    Ok(())
}

/// The arguments every SAM local command here takes: the local template, the env-vars
/// file, the region, and no registry (every image is local).
pub fn common_args(files: &SamFiles) -> Vec<String> {
    vec![
        "--template".into(),
        files.template.display().to_string(),
        "--env-vars".into(),
        files.env_vars.display().to_string(),
        "--region".into(),
        REGION.into(),
        "--skip-pull-image".into(),
    ]
}

/// `sam` with the environment SAM hands on to the functions (region, credentials).
pub fn command(root: &Path) -> Command {
    let mut cmd = Command::new(sam_command(root));
    cmd.current_dir(root)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    for (k, v) in CREDENTIALS {
        cmd.env(k, v);
    }
    cmd
}

/// `sam local start-lambda`, serving the Lambda Invoke API on a loopback port; stopped
/// (with its containers) when dropped.
pub struct SamLambda {
    child: std::sync::Mutex<Option<Child>>,
    url: String,
    /// The longest a function may run (its template timeout), per logical id.
    timeouts: BTreeMap<String, Duration>,
}

impl SamLambda {
    pub async fn start(
        root: &Path,
        files: &SamFiles,
        functions: &[FunctionSpec],
        log: &Path,
    ) -> Result<SamLambda, SamError> {
        let spawn = |what: &str| {
            let what = what.to_owned();
            move |source| SamError::Spawn { what, source }
        };
        let port = crate::servers::moto::free_port().map_err(spawn("a free port"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(spawn("the log directory"))?;
        }
        let out = std::fs::File::create(log).map_err(spawn("the log"))?;
        let err = out.try_clone().map_err(spawn("the log"))?;
        let child = command(root)
            .args(["local", "start-lambda"])
            .args(common_args(files))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // One container per function, started with SAM and kept warm, as Lambda keeps
            // an instance (SAM's default starts one per invocation): a container started
            // at the first invocation spends that invocation's timeout starting, under
            // emulation.
            .args(["--warm-containers", "EAGER"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn("sam local start-lambda"))?;
        let sam = SamLambda {
            child: std::sync::Mutex::new(Some(child)),
            url: format!("http://{addr}"),
            timeouts: functions
                .iter()
                .map(|f| (f.name.clone(), f.timeout))
                .collect(),
        };
        let limit = Duration::from_secs(120);
        if !crate::servers::moto::accepts_within(addr, limit).await {
            return Err(SamError::NotReady(addr, limit, log.to_owned()));
        }
        Ok(sam)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops SAM; it removes its warm containers as it exits on SIGTERM.
    pub async fn shutdown(&self) {
        let child = self.child.lock().map(|mut c| c.take()).unwrap_or(None);
        let Some(mut child) = child else { return };
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = child.kill().await;
    }
}

impl Invoker for SamLambda {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let function = function.to_owned();
        Box::pin(async move {
            let Some(timeout) = self.timeouts.get(&function).copied() else {
                return Err(InvokeError::NoSuchFunction(function));
            };
            let url = format!("{}/2015-03-31/functions/{function}/invocations", self.url);
            let body = payload.to_string();
            // A cold container under emulation takes seconds before the timeout's clock
            // starts; SAM enforces the timeout itself.
            let call = client::request(
                "POST",
                &url,
                &[("content-type", "application/json")],
                Some(body.as_bytes()),
            );
            let response = tokio::time::timeout(timeout + Duration::from_secs(60), call)
                .await
                .map_err(|_| InvokeError::Timeout(timeout))?
                .map_err(|e| InvokeError::Crashed(e.to_string()))?;
            decode(&function, response)
        })
    }
}

/// `sam local invoke`, one container per invocation: what a user runs on a sample event.
pub struct SamInvoke {
    root: PathBuf,
    files: SamFiles,
    /// Where each invocation's event file and SAM's output go.
    work: PathBuf,
    count: std::sync::atomic::AtomicUsize,
}

impl SamInvoke {
    pub fn new(root: &Path, files: SamFiles, work: &Path) -> Result<SamInvoke, SamError> {
        std::fs::create_dir_all(work).map_err(|source| SamError::Spawn {
            what: format!("mkdir {}", work.display()),
            source,
        })?;
        Ok(SamInvoke {
            root: root.to_owned(),
            files,
            work: work.to_owned(),
            count: Default::default(),
        })
    }

    /// The command line that invokes `function` with the event in `event` (for a README
    /// or an error message).
    pub fn command_line(&self, function: &str, event: &Path) -> String {
        let mut parts = vec![
            "sam".to_owned(),
            "local".into(),
            "invoke".into(),
            function.to_owned(),
            "--event".into(),
            event.display().to_string(),
        ];
        parts.extend(common_args(&self.files));
        parts.join(" ")
    }

    /// A container whose handler never started is run again, up to [`STARTS`] times in
    /// all. SAM publishes the emulator's port before the emulator listens and gives up
    /// after three quick attempts (0.7 s in all); under arm64 emulation on a busy machine
    /// the emulator can miss that window, and SAM then reports a timeout with no START
    /// line. Nothing ran, so running again is safe; a handler that started and failed or
    /// timed out is reported as it is.
    async fn run(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let mut attempt = 1;
        loop {
            match self.run_once(function, payload).await {
                Attempt::NeverStarted(e) if attempt < STARTS => {
                    tracing::warn!(target: "eventmart_local::sam", %function, attempt, "the container never started the handler ({e}); running it again");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Attempt::NeverStarted(e) => return Err(e),
                Attempt::Ran(result) => return result,
            }
        }
    }

    async fn run_once(&self, function: &str, payload: &Value) -> Attempt {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let event = self.work.join(format!("{n:03}-{function}.json"));
        let log = self.work.join(format!("{n:03}-{function}.log"));
        let crashed = |what: String| Attempt::Ran(Err(InvokeError::Crashed(what)));
        if let Err(e) = std::fs::write(&event, payload.to_string()) {
            return crashed(e.to_string());
        }
        let output = command(&self.root)
            .args(["local", "invoke", function, "--event"])
            .arg(&event)
            .args(common_args(&self.files))
            .stdin(Stdio::null())
            .output()
            .await;
        let output = match output {
            Ok(output) => output,
            Err(e) => return crashed(format!("sam local invoke: {e}")),
        };
        let _ = std::fs::write(&log, &output.stderr);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return crashed(format!(
                "`{}` exited with {}; its output: {}",
                self.command_line(function, &event),
                output.status,
                log.display()
            ));
        }
        // The response is the last line SAM prints.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let Ok(value) = serde_json::from_str::<Value>(last) else {
            // SAM reports a timeout on stderr only, and exits 0.
            if let Some(seconds) = timed_out_after(&stderr) {
                let timeout = InvokeError::Timeout(Duration::from_secs(seconds));
                return match never_started(&stderr) {
                    true => Attempt::NeverStarted(timeout),
                    false => Attempt::Ran(Err(timeout)),
                };
            }
            let lines: Vec<&str> = stderr.lines().collect();
            let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
            return crashed(format!(
                "sam local invoke printed no JSON response ({last:?}); the end of its output ({}): {tail}",
                log.display(),
            ));
        };
        Attempt::Ran(match (&value["errorType"], &value["errorMessage"]) {
            (Value::String(t), Value::String(m)) => Err(InvokeError::Function {
                error_type: t.clone(),
                message: m.clone(),
            }),
            _ => Ok(value),
        })
    }
}

/// How many times [`SamInvoke`] starts a container whose handler never started.
const STARTS: u32 = 4;

/// One `sam local invoke`.
enum Attempt {
    /// SAM got no answer and the function's log has no START line: nothing ran.
    NeverStarted(InvokeError),
    Ran(Result<Value, InvokeError>),
}

/// Whether SAM's log says the container answered nothing before the handler started.
fn never_started(stderr: &str) -> bool {
    stderr.contains("No response from invoke container") && !stderr.contains("START RequestId")
}

/// The timeout SAM reports (`Function 'X' timed out after 10 seconds`), if it did.
fn timed_out_after(stderr: &str) -> Option<u64> {
    let (_, rest) = stderr.split_once("timed out after ")?;
    rest.split_whitespace().next()?.parse().ok()
}

impl Invoker for SamInvoke {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let function = function.to_owned();
        Box::pin(async move { self.run(&function, &payload).await })
    }
}

/// The Invoke API's answer as the native runtime reports it.
fn decode(function: &str, response: client::HttpResponse) -> Result<Value, InvokeError> {
    let body = response
        .json()
        .unwrap_or_else(|_| Value::String(response.text()));
    match response.status {
        200 if response.header("x-amz-function-error").is_some() => {
            let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
            Err(InvokeError::Function {
                error_type: field("errorType"),
                message: field("errorMessage"),
            })
        }
        // SAM answers 200 with nothing when the container gave no response: the function
        // timed out or its process died.
        200 if response.body.iter().all(u8::is_ascii_whitespace) => Err(InvokeError::Crashed(
            format!("{function} gave no response (timed out or exited; see SAM's log)"),
        )),
        200 => Ok(body),
        404 => Err(InvokeError::NoSuchFunction(function.to_owned())),
        status => Err(InvokeError::Crashed(format!(
            "sam local start-lambda answered {status}: {}",
            response.text()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> client::HttpResponse {
        client::HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn sam_local_invoke_timeouts_are_read_from_its_log() {
        let log = "Invoking bootstrap (provided.al2023)\nFunction 'NotificationsFunction' \
                   timed out after 10 seconds\n";
        assert_eq!(timed_out_after(log), Some(10));
        assert_eq!(
            timed_out_after("END RequestId: 1\nREPORT RequestId: 1"),
            None
        );
        // The stall under emulation: SAM gave up before the handler started.
        let stalled =
            format!("SAM_CONTAINER_ID: 9c84\nNo response from invoke container for F\n{log}");
        assert!(never_started(&stalled));
        // A handler that started and ran out of time is not run again.
        let ran = format!(
            "START RequestId: 1 Version: $LATEST\nNo response from invoke container for F\n{log}"
        );
        assert!(!never_started(&ran));
        assert!(!never_started(log));
    }

    #[test]
    fn invoke_api_answers_map_to_the_runtime_outcomes() {
        assert_eq!(
            decode("F", response(200, &[], r#"{"statusCode":201}"#)),
            Ok(serde_json::json!({"statusCode": 201}))
        );
        assert_eq!(
            decode(
                "F",
                response(
                    200,
                    &[("X-Amz-Function-Error", "Unhandled")],
                    r#"{"errorType":"Transient","errorMessage":"moto is down"}"#
                )
            ),
            Err(InvokeError::Function {
                error_type: "Transient".into(),
                message: "moto is down".into()
            })
        );
        assert_eq!(
            decode("F", response(404, &[], "{}")),
            Err(InvokeError::NoSuchFunction("F".into()))
        );
        assert!(matches!(
            decode("F", response(200, &[], "")),
            Err(InvokeError::Crashed(m)) if m.contains("no response")
        ));
        assert!(matches!(
            decode("F", response(502, &[], "bad gateway")),
            Err(InvokeError::Crashed(m)) if m.contains("502") && m.contains("bad gateway")
        ));
    }

    #[test]
    fn the_local_template_declares_every_variable_the_env_vars_file_sets() {
        let dir = std::env::temp_dir().join(format!("sam-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("template.yaml"),
            "Globals:\n  Function:\n    Environment:\n      Variables:\n        RUST_LOG: info\n\
             Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             CodeUri: F\n      Environment:\n        Variables:\n          T: !Ref Table\n",
        )
        .unwrap();
        let mut spec = FunctionSpec::new("F", "bootstrap");
        for (k, v) in [
            ("T", "local-table"),
            ("RUST_LOG", "debug"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://172.17.0.1:5000"),
            ("AWS_REGION", "us-east-1"),
        ] {
            spec.env.insert(k.into(), v.into());
        }
        let files = write_files(&dir, &[spec], &dir.join("env.json")).unwrap();
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&files.template).unwrap()).unwrap();
        let globals = &doc["Globals"]["Function"]["Environment"]["Variables"];
        assert_eq!(globals["RUST_LOG"], "info", "declared values are kept");
        assert_eq!(globals["AWS_ENDPOINT_URL_DYNAMODB"], "");
        assert_eq!(globals["T"], "");
        assert!(globals.get("AWS_REGION").is_none(), "SAM sets the region");
        let tagged = &doc["Resources"]["F"]["Properties"]["Environment"]["Variables"]["T"];
        assert!(
            matches!(tagged, serde_yaml::Value::Tagged(t) if t.tag == "!Ref"),
            "{tagged:?}"
        );
        let env: Value = serde_json::from_slice(&std::fs::read(&files.env_vars).unwrap()).unwrap();
        assert_eq!(
            env,
            serde_json::json!({"F": {
                "AWS_ENDPOINT_URL_DYNAMODB": "http://172.17.0.1:5000",
                "RUST_LOG": "debug",
                "T": "local-table"
            }})
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
