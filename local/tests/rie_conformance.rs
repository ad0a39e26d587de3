//! Conformance of the native Lambda Runtime API ([`Runtime`]) against AWS's Runtime
//! Interface Emulator (`aws-lambda-rie`, the binary the SAM CLI ships in its wheel),
//! run on the host without Docker. The same bootstrap
//! (tests/fixtures/conformance_function.py) runs under both and gets the same
//! invocations; what the function sees (the `/next` headers, its environment) and
//! what the caller gets (results, error shapes) are compared field by field.
//!
//! Where the two must agree the test asserts equality. Where they legitimately
//! differ it asserts each side's exact behaviour, so that it fails if either changes;
//! docs/runtime-conformance.md lists every compared field and every difference with
//! its reason. The emulator is configured as the SAM CLI configures it: the function's
//! name, memory, timeout, handler and its own variables in the emulator's environment
//! (which the emulator passes on to the function), nothing else.

use eventmart_local::client::{self, HttpResponse};
use eventmart_local::lambda::{FunctionSpec, InvokeError, Runtime, RuntimeOptions};
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FN: &str = "ConformanceFunction";
const MEMORY_MB: u32 = 128;
/// Lambda's default timeout; the emulator takes whole seconds.
const TIMEOUT_SECS: u64 = 3;
/// What the emulator accepts (its `interop.MaxPayloadSize`: 6 MiB + 100 bytes), the
/// size Lambda names in its own `Function.ResponseSizeTooLarge` message.
const RIE_MAX_RESPONSE: usize = 6 * 1024 * 1024 + 100;
/// What the native runtime accepts: the same.
const NATIVE_MAX_RESPONSE: usize = eventmart_local::lambda::MAX_RESPONSE_BYTES;

const UUID: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";
const LOOPBACK_ADDR: &str = r"^127\.0\.0\.1:[0-9]{1,5}$";

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("pattern")
}

// ---------------------------------------------------------------------------------
// The bootstrap, the emulator and the native runtime.

mod support;
use support::PythonBootstrap as Fixture;

fn fixture() -> Fixture {
    Fixture::new("conformance_function.py")
}

/// A file the function writes the Runtime API's answer to (op's "report").
fn report_path(fixture: &Fixture, name: &str) -> PathBuf {
    fixture.dir.join(format!("report-{name}.json"))
}

/// The emulator shipped in the SAM CLI wheel of the project's virtual environment.
fn rie_binary() -> PathBuf {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    };
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| {
                e.path()
                    .join("site-packages/samcli/local/rapid")
                    .join(format!("aws-lambda-rie-{arch}"))
            })
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie-{arch} under {}/python*/site-packages/samcli/local/rapid: \
             run `make setup` (it installs the SAM CLI into .venv)",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The emulator running the fixture, in its own process group; dropping it kills the
/// group (the emulator and the bootstrap it started), also when a test fails.
struct Rie {
    child: Child,
    invoke_url: String,
    runtime_api: String,
    log: PathBuf,
}

impl Rie {
    async fn start(fixture: &Fixture, timeout_secs: u64) -> Rie {
        let binary = rie_binary();
        let mut last_failure = String::new();
        // A free port can be taken between the probe and the emulator's bind: retry.
        for attempt in 0..5 {
            let (invoke_port, api_port) = (free_port(), free_port());
            if invoke_port == api_port {
                continue;
            }
            let runtime_api = format!("127.0.0.1:{api_port}");
            let log = fixture.dir.join(format!("rie-{attempt}.log"));
            let out = File::create(&log).expect("emulator log");
            let err = out.try_clone().expect("emulator log");
            let child = Command::new(&binary)
                .arg("--runtime-interface-emulator-address")
                .arg(format!("127.0.0.1:{invoke_port}"))
                .arg("--runtime-api-address")
                .arg(&runtime_api)
                .arg(&fixture.binary)
                .current_dir(&fixture.dir)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_FUNCTION_NAME", FN)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.to_string())
                .env("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_secs.to_string())
                .env("AWS_LAMBDA_FUNCTION_HANDLER", "bootstrap")
                .env("GREETING", "hello")
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let mut rie = Rie {
                child,
                invoke_url: format!(
                    "http://127.0.0.1:{invoke_port}/2015-03-31/functions/function/invocations"
                ),
                runtime_api,
                log,
            };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(status)) = rie.child.try_wait() {
                    last_failure = format!("exited ({status}): {}", rie.log_text());
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", invoke_port))
                    .await
                    .is_ok()
                {
                    return rie;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if last_failure.is_empty() {
                last_failure = format!("not listening after 10 s: {}", rie.log_text());
            }
        }
        panic!("the emulator did not start: {last_failure}");
    }

    async fn invoke(&self, event: &Value) -> HttpResponse {
        self.invoke_with(event, &[]).await
    }

    async fn invoke_with(&self, event: &Value, headers: &[(&str, &str)]) -> HttpResponse {
        let body = serde_json::to_vec(event).expect("event");
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        client::request("POST", &self.invoke_url, &all, Some(&body))
            .await
            .expect("invoke the emulator")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Rie {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with the process group this test created; no memory involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- emulator output (last lines) ---\n{}", tail.join("\n"));
        }
    }
}

/// The native runtime running the fixture with the same configuration.
async fn native(fixture: &Fixture, timeout_secs: u64) -> Runtime {
    let mut spec = FunctionSpec::new(FN, &fixture.binary);
    spec.timeout = Duration::from_secs(timeout_secs);
    spec.memory_mb = MEMORY_MB;
    spec.env.insert("GREETING".into(), "hello".into());
    let options = RuntimeOptions {
        max_instances_per_function: 1,
        // Quiet: the fixture's lines are not what this test compares.
        function_logs: Some(std::sync::Arc::new(|_: &str, _: &str| {})),
        ..RuntimeOptions::default()
    };
    Runtime::start(vec![spec], options)
        .await
        .expect("native runtime")
}

/// The emulator's body as JSON.
fn json_of(response: &HttpResponse) -> Value {
    response.json().unwrap_or_else(|e| {
        panic!(
            "the emulator answered {} with non-JSON ({e}): {}",
            response.status,
            short(&response.text())
        )
    })
}

/// A text cut for a failure message (the large payloads are megabytes).
fn short(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}... ({} bytes)", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

/// Equality of two values that may be megabytes, with a short message.
#[track_caller]
fn assert_same(actual: &Value, expected: &Value, what: &str) {
    assert!(
        actual == expected,
        "{what}: got {}, want {}",
        short(&actual.to_string()),
        short(&expected.to_string())
    );
}

/// The native invocation's error, with a short message if it succeeded.
#[track_caller]
fn native_err(result: Result<Value, InvokeError>, what: &str) -> InvokeError {
    match result {
        Ok(v) => panic!(
            "native {what}: want an error, got {}",
            short(&v.to_string())
        ),
        Err(e) => e,
    }
}

/// What the Runtime API answered the function's result post: status and JSON body
/// (the function writes it after the post returns, possibly after the caller already
/// has the result).
async fn told(path: &Path) -> (u64, Value) {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let report: Value = serde_json::from_str(&text).expect("report");
            let body = report["body"].as_str().expect("report body");
            let body = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("the Runtime API answered non-JSON ({e}): {body}"));
            return (report["status"].as_u64().expect("report status"), body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the function wrote no report to {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn pid_of(result: &Value) -> u64 {
    result["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("the fixture answers with its pid: {result}"))
}

fn millis(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not ms: {s}")),
        Value::Number(n) => n.as_i64().expect("ms"),
        other => panic!("not ms: {other}"),
    }
}

// ---------------------------------------------------------------------------------
// Expectations for one field on one side.

#[derive(Debug)]
enum Want {
    Absent,
    Is(String),
    Like(&'static str),
    /// The test process's value when it has one, else absent (inherited).
    FromParent,
}

fn is(v: impl Into<String>) -> Want {
    Want::Is(v.into())
}

fn check(side: &str, what: &str, actual: Option<&Value>, want: &Want, failures: &mut Vec<String>) {
    let actual = actual.and_then(Value::as_str);
    let ok = match want {
        Want::Absent => actual.is_none(),
        Want::Is(v) => actual == Some(v.as_str()),
        Want::Like(p) => actual.is_some_and(|a| re(p).is_match(a)),
        Want::FromParent => actual.map(str::to_owned) == std::env::var(what).ok(),
    };
    if !ok {
        failures.push(format!("{side} {what}: want {want:?}, got {actual:?}"));
    }
}

/// One row of the comparison: a field and what each side must show.
struct Row {
    name: &'static str,
    native: Want,
    rie: Want,
}

fn row(name: &'static str, native: Want, rie: Want) -> Row {
    Row { name, native, rie }
}

/// Checks every row on both sides, then that neither side shows a field outside the
/// rows but for the ones `extra` allows; all failures at once.
fn compare(
    what: &str,
    native: &Map<String, Value>,
    rie: &Map<String, Value>,
    rows: &[Row],
    extra: impl Fn(&str, &str, &str) -> bool,
) {
    let mut failures = vec![];
    for r in rows {
        check(
            "native",
            r.name,
            native.get(r.name),
            &r.native,
            &mut failures,
        );
        check("rie", r.name, rie.get(r.name), &r.rie, &mut failures);
    }
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.name).collect();
    for (side, map) in [("native", native), ("rie", rie)] {
        for (k, v) in map {
            if !listed.contains(k.as_str()) && !extra(side, k, v.as_str().unwrap_or_default()) {
                failures.push(format!("{side}: unexpected {what} {k}={v}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{what} differ from the expected conformance:\n  {}",
        failures.join("\n  ")
    );
}

/// The region the native runtime gives a function without its own `AWS_REGION`.
fn native_region() -> String {
    std::env::var("AWS_REGION").unwrap_or_else(|_| eventmart_local::aws::REGION.to_owned())
}

// ---------------------------------------------------------------------------------
// The comparisons.

/// A successful invocation: the result, the `/next` headers, the environment, the
/// working directory and the reuse of the warm process.
#[tokio::test]
async fn success_headers_and_environment_agree_or_differ_as_documented() {
    let fixture = fixture();
    let rie = Rie::start(&fixture, TIMEOUT_SECS).await;
    let runtime = native(&fixture, TIMEOUT_SECS).await;

    let event = json!({"op": "echo", "n": 1, "nested": {"list": [1, "two", null]}});
    let mut rie_results = vec![];
    let mut native_results = vec![];
    for _ in 0..2 {
        let response = rie.invoke(&event).await;
        assert_eq!(response.status, 200, "emulator: {}", response.text());
        rie_results.push(json_of(&response));
        native_results.push(runtime.invoke(FN, event.clone()).await.expect("native"));
    }

    // The event reaches the function unchanged on both.
    for r in rie_results.iter().chain(&native_results) {
        assert_eq!(r["event"], event);
    }
    // Both keep the process warm across successful invocations.
    assert_eq!(pid_of(&rie_results[0]), pid_of(&rie_results[1]));
    assert_eq!(pid_of(&native_results[0]), pid_of(&native_results[1]));
    // Both run the bootstrap in its directory (the emulator in its own working
    // directory, here the task root, as in the Lambda image's /var/task).
    assert_eq!(rie_results[0]["cwd"], fixture.dir.to_str().unwrap());
    assert_eq!(native_results[0]["cwd"], fixture.dir.to_str().unwrap());

    // --- The headers of /next.
    let region = native_region();
    let header_rows = [
        row(
            "lambda-runtime-aws-request-id",
            Want::Like(UUID),
            Want::Like(UUID),
        ),
        row(
            "lambda-runtime-deadline-ms",
            Want::Like(r"^[0-9]{13}$"),
            Want::Like(r"^[0-9]{13}$"),
        ),
        row(
            "lambda-runtime-invoked-function-arn",
            is(format!(
                "arn:aws:lambda:{region}:{}:function:{FN}",
                eventmart_local::aws::ACCOUNT_ID
            )),
            // Hard-coded region and account in the emulator.
            is(format!(
                "arn:aws:lambda:us-east-1:012345678912:function:{FN}"
            )),
        ),
        row(
            "lambda-runtime-trace-id",
            Want::Like(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$"),
            // The standalone emulator has no tracer: never a trace header.
            Want::Absent,
        ),
        // Neither has a client context or identity for a plain invocation.
        row("lambda-runtime-client-context", Want::Absent, Want::Absent),
        row(
            "lambda-runtime-cognito-identity",
            Want::Absent,
            Want::Absent,
        ),
        row("lambda-runtime-aws-tenant-id", Want::Absent, Want::Absent),
        row(
            "content-type",
            is("application/json"),
            is("application/json"),
        ),
    ];
    // Transport headers (date, content-length, connection) are HTTP's, not the API's.
    let transport = |_: &str, k: &str, _: &str| {
        !k.starts_with("lambda-runtime-") && ["date", "content-length", "connection"].contains(&k)
    };
    for i in 0..2 {
        let native_headers = native_results[i]["headers"].as_object().expect("headers");
        let rie_headers = rie_results[i]["headers"].as_object().expect("headers");
        compare(
            "headers",
            native_headers,
            rie_headers,
            &header_rows,
            transport,
        );
    }
    // A new request id each invocation, on both.
    for results in [&rie_results, &native_results] {
        assert_ne!(
            results[0]["headers"]["lambda-runtime-aws-request-id"],
            results[1]["headers"]["lambda-runtime-aws-request-id"]
        );
    }
    // The deadline: receipt + the timeout, on both (the warm invocation: the
    // emulator counts a cold start's init against the first deadline).
    for (side, r) in [("rie", &rie_results[1]), ("native", &native_results[1])] {
        let remaining =
            millis(&r["headers"]["lambda-runtime-deadline-ms"]) - millis(&r["receivedMs"]);
        let timeout = i64::try_from(TIMEOUT_SECS * 1000).unwrap();
        assert!(
            (timeout - 1000..=timeout + 20).contains(&remaining),
            "{side}: deadline {remaining} ms after receipt, timeout {timeout} ms"
        );
    }

    // --- The environment.
    let dir = fixture.dir.to_str().unwrap().to_owned();
    let path = std::env::var("PATH").unwrap_or_default();
    let env_rows = [
        // The function's configuration: the same on both.
        row("AWS_LAMBDA_FUNCTION_NAME", is(FN), is(FN)),
        row("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", is("128"), is("128")),
        row("AWS_LAMBDA_FUNCTION_VERSION", is("$LATEST"), is("$LATEST")),
        row("_HANDLER", is("bootstrap"), is("bootstrap")),
        row("GREETING", is("hello"), is("hello")),
        row("PATH", is(path.clone()), is(path)),
        row(
            "AWS_LAMBDA_RUNTIME_API",
            Want::Like(LOOPBACK_ADDR),
            is(rie.runtime_api.clone()),
        ),
        // Present on both, different values.
        row(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            is(format!("/aws/lambda/{FN}")),
            is("/aws/lambda/Functions"),
        ),
        row(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            Want::Like(r"^[0-9]{4}/[0-9]{2}/[0-9]{2}/\[\$LATEST\][0-9a-f]{32}$"),
            is("$LATEST"),
        ),
        // Credentials: the native runtime lends the caller's (how the binaries reach
        // local servers); the emulator always sets them, empty without any.
        row("AWS_ACCESS_KEY_ID", Want::FromParent, is("")),
        row("AWS_SECRET_ACCESS_KEY", Want::FromParent, is("")),
        row("AWS_SESSION_TOKEN", Want::FromParent, is("")),
        // Lambda's reserved variables that only the native runtime sets (the Lambda
        // base image or the SAM CLI sets them for the emulator).
        row(
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            is("on-demand"),
            Want::Absent,
        ),
        row(
            "AWS_EXECUTION_ENV",
            is("AWS_Lambda_provided.al2023"),
            Want::Absent,
        ),
        row("LAMBDA_TASK_ROOT", is(dir.clone()), Want::Absent),
        row("LAMBDA_RUNTIME_DIR", is(dir), Want::Absent),
        row("AWS_REGION", is(region.clone()), Want::Absent),
        row("AWS_DEFAULT_REGION", is(region), Want::Absent),
        row("TZ", is(":UTC"), Want::Absent),
        row("AWS_EC2_METADATA_DISABLED", is("true"), Want::Absent),
        row("LANG", Want::FromParent, Want::Absent),
        row("RUST_BACKTRACE", Want::FromParent, Want::Absent),
        // Only the emulator: its metadata endpoint, and its own configuration, which
        // it passes on with the rest of its environment.
        row(
            "AWS_LAMBDA_METADATA_API",
            Want::Absent,
            is(rie.runtime_api.clone()),
        ),
        row("AWS_LAMBDA_METADATA_TOKEN", Want::Absent, Want::Like(UUID)),
        row(
            "AWS_LAMBDA_FUNCTION_TIMEOUT",
            Want::Absent,
            is(TIMEOUT_SECS.to_string()),
        ),
        row("AWS_LAMBDA_FUNCTION_HANDLER", Want::Absent, is("bootstrap")),
        // Neither: set by stock runtimes per invocation, or by Lambda's X-Ray setup.
        row("_X_AMZN_TRACE_ID", Want::Absent, Want::Absent),
        row("AWS_XRAY_DAEMON_ADDRESS", Want::Absent, Want::Absent),
        row("AWS_XRAY_CONTEXT_MISSING", Want::Absent, Want::Absent),
    ];
    let allowed = |side: &str, k: &str, v: &str| {
        // Python's own locale coercion (PEP 538) when no locale is set.
        (k == "LC_CTYPE" && re(r"^(C\.UTF-8|C\.utf8|UTF-8)$").is_match(v))
            // The native runtime lends the caller's endpoint overrides.
            || (side == "native"
                && k.starts_with("AWS_ENDPOINT_URL")
                && std::env::var(k).ok().as_deref() == Some(v))
    };
    let native_env = native_results[0]["env"].as_object().expect("env");
    let rie_env = rie_results[0]["env"].as_object().expect("env");
    compare(
        "environment variables",
        native_env,
        rie_env,
        &env_rows,
        allowed,
    );
    // The native API address is the instance's own listener, not the emulator's.
    assert_ne!(
        native_env["AWS_LAMBDA_RUNTIME_API"],
        rie_env["AWS_LAMBDA_RUNTIME_API"]
    );
    // The native runtime names the region of the function's ARN.
    assert_eq!(
        native_results[0]["headers"]["lambda-runtime-invoked-function-arn"]
            .as_str()
            .unwrap()
            .split(':')
            .nth(3),
        native_env["AWS_REGION"].as_str()
    );

    // Why the trace and client context differ: the emulator takes a client context
    // from the caller (the native Invoker has no such input) but drops a trace id.
    let context = "eyJjdXN0b20iOnsiYSI6MX19"; // {"custom":{"a":1}}
    let response = rie
        .invoke_with(
            &event,
            &[
                ("X-Amz-Client-Context", context),
                (
                    "X-Amzn-Trace-Id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                ),
            ],
        )
        .await;
    let headers = &json_of(&response)["headers"];
    assert_eq!(
        headers["lambda-runtime-client-context"],
        r#"{"custom":{"a":1}}"#
    );
    assert!(headers.get("lambda-runtime-trace-id").is_none());

    runtime.shutdown().await;
}

/// A function error: the error document, as the caller gets it, and the process
/// kept for the next invocation on both.
#[tokio::test]
async fn function_errors_have_the_same_type_and_message() {
    let fixture = fixture();
    let rie = Rie::start(&fixture, TIMEOUT_SECS).await;
    let runtime = native(&fixture, TIMEOUT_SECS).await;
    let echo = json!({"op": "echo"});
    let rie_pid = pid_of(&json_of(&rie.invoke(&echo).await));
    let native_pid = pid_of(&runtime.invoke(FN, echo.clone()).await.expect("native"));

    // A JSON error document: errorType and errorMessage agree.
    let rie_report = report_path(&fixture, "rie-error");
    let response = rie
        .invoke(&json!({"op": "error", "message": "bad input", "report": rie_report}))
        .await;
    // The emulator answers 200 with the document and does not mark it as an error
    // (no X-Amz-Function-Error); the native runtime returns InvokeError::Function.
    assert_eq!(response.status, 200);
    assert!(response.header("x-amz-function-error").is_none());
    let rie_error = json_of(&response);
    assert_eq!(
        rie_error,
        json!({"errorType": "Boom", "errorMessage": "bad input"})
    );
    let native_report = report_path(&fixture, "native-error");
    let native_error = runtime
        .invoke(
            FN,
            json!({"op": "error", "message": "bad input", "report": native_report}),
        )
        .await
        .expect_err("a function error");
    let InvokeError::Function {
        error_type,
        message,
    } = &native_error
    else {
        panic!("not a function error: {native_error:?}");
    };
    assert_eq!(error_type, rie_error["errorType"].as_str().unwrap());
    assert_eq!(message, rie_error["errorMessage"].as_str().unwrap());
    assert_eq!(native_error.error_type(), "Boom");
    // The function's /error post is accepted the same way by both.
    let accepted = (202, json!({"status": "OK"}));
    assert_eq!(told(&rie_report).await, accepted);
    assert_eq!(told(&native_report).await, accepted);

    // A plain-text error body with only the error-type header: the emulator passes
    // the body through and loses the type; the native runtime keeps the header's.
    let rie_report = report_path(&fixture, "rie-text");
    let response = rie
        .invoke(&json!({"op": "error_text", "report": rie_report}))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "plain words");
    let native_report = report_path(&fixture, "native-text");
    let native_error = runtime
        .invoke(FN, json!({"op": "error_text", "report": native_report}))
        .await
        .expect_err("a function error");
    assert_eq!(
        native_error,
        InvokeError::Function {
            error_type: "Custom.Text".into(),
            message: "plain words".into()
        }
    );
    assert_eq!(told(&rie_report).await, accepted);
    assert_eq!(told(&native_report).await, accepted);

    // Neither discards the process after a function error.
    assert_eq!(pid_of(&json_of(&rie.invoke(&echo).await)), rie_pid);
    assert_eq!(
        pid_of(&runtime.invoke(FN, echo).await.expect("native")),
        native_pid
    );
    runtime.shutdown().await;
}

/// The process exits mid-invocation: Runtime.ExitError on both, then a new process.
#[tokio::test]
async fn a_crash_is_a_runtime_exit_error_and_the_next_invocation_starts_afresh() {
    let fixture = fixture();
    let rie = Rie::start(&fixture, TIMEOUT_SECS).await;
    let runtime = native(&fixture, TIMEOUT_SECS).await;
    let echo = json!({"op": "echo"});
    let rie_pid = pid_of(&json_of(&rie.invoke(&echo).await));
    let native_pid = pid_of(&runtime.invoke(FN, echo.clone()).await.expect("native"));

    let crash = json!({"op": "exit", "code": 3});
    let response = rie.invoke(&crash).await;
    // The emulator: 502 and a JSON error naming the request and the exit status.
    assert_eq!(response.status, 502);
    let rie_error = json_of(&response);
    assert_eq!(rie_error["errorType"], "Runtime.ExitError");
    let message = rie_error["errorMessage"].as_str().unwrap();
    assert!(
        re(&format!(
            "^RequestId: {} Error: Runtime exited with error: exit status 3$",
            &UUID[1..UUID.len() - 1]
        ))
        .is_match(message),
        "{message}"
    );
    // The native runtime: InvokeError::Crashed with the same errorType; the message
    // is the exit status (and the last output lines), without the request id.
    let native_error = runtime.invoke(FN, crash).await.expect_err("a crash");
    assert_eq!(
        native_error.error_type(),
        rie_error["errorType"].as_str().unwrap()
    );
    let InvokeError::Crashed(reason) = &native_error else {
        panic!("not a crash: {native_error:?}");
    };
    assert!(reason.starts_with("exit status: 3"), "{reason}");

    // Both start a new process for the next invocation.
    let rie_after = rie.invoke(&echo).await;
    assert_eq!(rie_after.status, 200);
    assert_ne!(pid_of(&json_of(&rie_after)), rie_pid);
    let native_after = runtime
        .invoke(FN, echo)
        .await
        .expect("native after a crash");
    assert_ne!(pid_of(&native_after), native_pid);
    runtime.shutdown().await;
}

/// Past the timeout (1 s here; the emulator reads it from AWS_LAMBDA_FUNCTION_TIMEOUT,
/// default 300 s) the process is killed on both; only the shapes differ.
#[tokio::test]
async fn a_timeout_kills_the_process_on_both() {
    let fixture = fixture();
    let rie = Rie::start(&fixture, 1).await;
    let runtime = native(&fixture, 1).await;
    let echo = json!({"op": "echo"});
    let rie_pid = pid_of(&json_of(&rie.invoke(&echo).await));
    let native_pid = pid_of(&runtime.invoke(FN, echo.clone()).await.expect("native"));

    let slow = json!({"op": "sleep", "seconds": 5});
    let started = Instant::now();
    let response = rie.invoke(&slow).await;
    let rie_elapsed = started.elapsed();
    // The emulator: 200 and a plain-text message, no errorType.
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Task timed out after 1.00 seconds");

    let started = Instant::now();
    let native_error = runtime.invoke(FN, slow).await.expect_err("a timeout");
    let native_elapsed = started.elapsed();
    // The native runtime: InvokeError::Timeout, Lambda's errorType Sandbox.Timedout.
    assert_eq!(native_error, InvokeError::Timeout(Duration::from_secs(1)));
    assert_eq!(native_error.error_type(), "Sandbox.Timedout");
    assert_eq!(native_error.to_string(), "Task timed out after 1s");

    // Both cut the invocation at the timeout, well before the handler would finish.
    for (side, elapsed) in [("rie", rie_elapsed), ("native", native_elapsed)] {
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
            "{side}: the timed-out invocation took {elapsed:?}"
        );
    }
    // Both killed the process: the next invocation runs in a new one.
    assert_ne!(pid_of(&json_of(&rie.invoke(&echo).await)), rie_pid);
    assert_ne!(
        pid_of(&runtime.invoke(FN, echo).await.expect("native")),
        native_pid
    );
    runtime.shutdown().await;
}

/// Large responses: ~5 MB passes on both; the limit differs by 100 bytes; above both
/// limits the errorType agrees and the wording differs.
#[tokio::test]
async fn large_responses_and_the_size_limit() {
    let fixture = fixture();
    let rie = Rie::start(&fixture, TIMEOUT_SECS).await;
    let runtime = native(&fixture, TIMEOUT_SECS).await;
    let big = |bytes: usize, report: &Path| json!({"op": "big", "bytes": bytes, "report": report});
    let accepted = (202, json!({"status": "OK"}));
    let echo = json!({"op": "echo"});
    let rie_pid = pid_of(&json_of(&rie.invoke(&echo).await));
    let native_pid = pid_of(&runtime.invoke(FN, echo.clone()).await.expect("native"));

    // ~5 MB: the same value on both.
    let size = 5_000_000;
    let (rie_report, native_report) = (
        report_path(&fixture, "rie-5mb"),
        report_path(&fixture, "native-5mb"),
    );
    let response = rie.invoke(&big(size, &rie_report)).await;
    assert_eq!(response.status, 200, "{}", short(&response.text()));
    assert_eq!(response.body.len(), size);
    let native_value = runtime
        .invoke(FN, big(size, &native_report))
        .await
        .unwrap_or_else(|e| panic!("native 5 MB: {e}"));
    assert_same(&native_value, &json_of(&response), "5 MB result");
    assert_eq!(told(&rie_report).await, accepted);
    assert_eq!(told(&native_report).await, accepted);

    // Exactly the limit (6 MiB + 100 bytes, the one Lambda reports): accepted by both.
    assert_eq!(NATIVE_MAX_RESPONSE, RIE_MAX_RESPONSE);
    let size = RIE_MAX_RESPONSE;
    let (rie_report, native_report) = (
        report_path(&fixture, "rie-limit"),
        report_path(&fixture, "native-limit"),
    );
    let response = rie.invoke(&big(size, &rie_report)).await;
    assert_eq!(response.status, 200, "{}", short(&response.text()));
    assert_eq!(response.body.len(), size, "{}", short(&response.text()));
    assert_eq!(told(&rie_report).await, accepted);
    let native = runtime
        .invoke(FN, big(size, &native_report))
        .await
        .unwrap_or_else(|e| panic!("at the limit: {e}"));
    assert_eq!(native.to_string().len(), size);
    assert_eq!(told(&native_report).await, accepted);
    let native_refused = (
        413,
        json!({"errorType": "RequestEntityTooLarge", "errorMessage": "payload too large"}),
    );

    // One byte above the emulator's limit: refused by both.
    let size = RIE_MAX_RESPONSE + 1;
    let (rie_report, native_report) = (
        report_path(&fixture, "rie-over"),
        report_path(&fixture, "native-over"),
    );
    let response = rie.invoke(&big(size, &rie_report)).await;
    // The emulator: 200 with an error document (no X-Amz-Function-Error).
    assert_eq!(response.status, 200, "{}", short(&response.text()));
    assert!(response.header("x-amz-function-error").is_none());
    let rie_error = json_of(&response);
    assert_same(
        &rie_error,
        &json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!(
                "Response payload size exceeded maximum allowed payload size ({RIE_MAX_RESPONSE} bytes)."
            ),
        }),
        "the emulator's answer above its limit",
    );
    let native_error = native_err(
        runtime.invoke(FN, big(size, &native_report)).await,
        "above both limits",
    );
    assert_eq!(
        native_error.error_type(),
        rie_error["errorType"].as_str().unwrap()
    );
    assert_eq!(
        native_error.to_string(),
        format!(
            "Function.ResponseSizeTooLarge: Response payload size ({size} bytes) exceeded maximum allowed payload size ({NATIVE_MAX_RESPONSE} bytes)."
        )
    );
    // The function is told 413 RequestEntityTooLarge by both, in different words.
    assert_eq!(
        told(&rie_report).await,
        (
            413,
            json!({
                "errorType": "RequestEntityTooLarge",
                "errorMessage": format!("Exceeded maximum allowed payload size ({RIE_MAX_RESPONSE} bytes)."),
            })
        )
    );
    assert_eq!(told(&native_report).await, native_refused);

    // Neither discards the process for an oversized response.
    assert_eq!(pid_of(&json_of(&rie.invoke(&echo).await)), rie_pid);
    assert_eq!(
        pid_of(&runtime.invoke(FN, echo).await.expect("native")),
        native_pid
    );
    runtime.shutdown().await;
}
