//! The Lambda runtime with a fake function (tests/fixtures/fake_function.py)
//! that does what each event asks: answer, sleep, crash, fail, allocate.

use eventmart_local::lambda::{
    FunctionSpec, InvocationReport, Outcome, Runtime, RuntimeError, RuntimeOptions,
};
use eventmart_local::lambda::{InvokeError, Invoker};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FN: &str = "FakeFunction";

mod support;
use support::PythonBootstrap as Fixture;

fn fixture() -> Fixture {
    Fixture::new("fake_function.py")
}

fn spec(fixture: &Fixture) -> FunctionSpec {
    let mut spec = FunctionSpec::new(FN, &fixture.binary);
    spec.timeout = Duration::from_secs(20);
    spec.env.insert("GREETING".into(), "hello".into());
    spec
}

fn collecting() -> (RuntimeOptions, Arc<Mutex<Vec<InvocationReport>>>) {
    let seen = Arc::new(Mutex::new(vec![]));
    let sink = Arc::clone(&seen);
    let options = RuntimeOptions {
        reports: Some(Arc::new(move |r: &InvocationReport| {
            sink.lock().unwrap().push(r.clone())
        })),
        // Quiet: the fixture's lines are not what these tests look at.
        function_logs: Some(Arc::new(|_: &str, _: &str| {})),
        ..RuntimeOptions::default()
    };
    (options, seen)
}

fn pid_of(result: &Value) -> u64 {
    result["pid"]
        .as_u64()
        .expect("the fixture answers with its pid")
}

fn process_exists(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn cold_then_warm_start_with_the_lambda_environment() {
    let fixture = fixture();
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();

    let first = runtime
        .invoke(FN, json!({"op": "echo", "n": 1}))
        .await
        .unwrap();
    let second = runtime
        .invoke(FN, json!({"op": "echo", "n": 2}))
        .await
        .unwrap();
    assert_eq!(first["event"], json!({"op": "echo", "n": 1}));
    assert_eq!(second["event"]["n"], 2);
    assert_eq!(
        pid_of(&first),
        pid_of(&second),
        "the warm instance is reused"
    );
    assert_eq!(runtime.instances(FN), 1);

    let env = &first["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], FN);
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(
        env["AWS_LAMBDA_LOG_GROUP_NAME"],
        format!("/aws/lambda/{FN}")
    );
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("[$LATEST]")
    );
    assert_eq!(env["LAMBDA_TASK_ROOT"], fixture.dir.to_str().unwrap());
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["AWS_EC2_METADATA_DISABLED"], "true");
    assert!(env["AWS_REGION"].is_string());
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(env.get("HOME").is_none(), "the developer's shell stays out");

    let reports = seen.lock().unwrap().clone();
    assert_eq!(reports.len(), 2);
    let (cold, warm) = (&reports[0], &reports[1]);
    assert!(cold.cold && cold.init_duration.is_some());
    assert!(!warm.cold && warm.init_duration.is_none());
    assert_eq!(cold.instance, warm.instance);
    assert_eq!(cold.outcome, Outcome::Success);
    assert!(cold.max_rss_kb.is_some_and(|kb| kb > 0));
    assert_eq!(first["context"]["requestId"], cold.request_id.as_str());
    assert_ne!(cold.request_id, warm.request_id);
    let arn = first["context"]["functionArn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:lambda:") && arn.ends_with(&format!(":function:{FN}")));
    assert!(
        first["context"]["traceId"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    let deadline: u128 = first["context"]["deadlineMs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        deadline > now.as_millis(),
        "the deadline is the timeout ahead"
    );

    assert_eq!(
        runtime.reports(),
        reports,
        "the history has the same reports"
    );
    assert!(
        cold.to_string()
            .starts_with(&format!("REPORT {FN} RequestId: {}", cold.request_id))
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_timeout_kills_the_instance_and_the_next_invocation_starts_a_new_one() {
    let fixture = fixture();
    let mut spec = spec(&fixture);
    spec.timeout = Duration::from_millis(500);
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec], options).await.unwrap();

    let warm_up = runtime.invoke(FN, json!({"op": "echo"})).await.unwrap();
    let pid = pid_of(&warm_up);
    let err = runtime
        .invoke(FN, json!({"op": "sleep", "seconds": 60}))
        .await
        .unwrap_err();
    assert_eq!(err, InvokeError::Timeout(Duration::from_millis(500)));
    assert!(!process_exists(pid), "the timed-out instance was killed");
    assert_eq!(runtime.instances(FN), 0);

    let after = runtime.invoke(FN, json!({"op": "echo"})).await.unwrap();
    assert_ne!(pid_of(&after), pid);
    let reports = seen.lock().unwrap().clone();
    assert_eq!(reports[1].outcome, Outcome::Failed(err));
    assert!(
        !reports[1].cold,
        "the timed-out invocation ran on the warm instance"
    );
    assert!(reports[2].cold, "a new instance after the timeout");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_crash_fails_its_invocation_and_the_next_succeeds_on_a_new_instance() {
    let fixture = fixture();
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();

    let before = runtime.invoke(FN, json!({"op": "echo"})).await.unwrap();
    let err = runtime
        .invoke(FN, json!({"op": "crash"}))
        .await
        .unwrap_err();
    match &err {
        InvokeError::Crashed(reason) => {
            assert!(reason.contains("exit status: 3"), "{reason}");
            assert!(
                reason.contains("crashing on purpose"),
                "the output tail explains it: {reason}"
            );
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    assert_eq!(err.error_type(), "Runtime.ExitError");
    let after = runtime.invoke(FN, json!({"op": "echo"})).await.unwrap();
    assert_ne!(pid_of(&before), pid_of(&after));
    let reports = seen.lock().unwrap().clone();
    assert!(reports[2].cold);
    assert_ne!(reports[0].instance, reports[2].instance);
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_function_error_is_reported_and_keeps_the_instance() {
    let fixture = fixture();
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();

    let err = runtime
        .invoke(FN, json!({"op": "error", "message": "no stock"}))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        InvokeError::Function {
            error_type: "Boom".into(),
            message: "no stock".into()
        }
    );
    runtime.invoke(FN, json!({"op": "echo"})).await.unwrap();
    let reports = seen.lock().unwrap().clone();
    assert!(reports[0].cold && !reports[1].cold);
    assert_eq!(reports[0].instance, reports[1].instance);
    runtime.shutdown().await;
}

#[tokio::test]
async fn concurrent_invocations_use_several_instances_up_to_the_max() {
    let fixture = fixture();
    let (mut options, seen) = collecting();
    options.max_instances_per_function = 3;
    let runtime = Arc::new(Runtime::start(vec![spec(&fixture)], options).await.unwrap());

    let gate = fixture.dir.join("gate");
    let calls = (0..7).map(|i| {
        let runtime = Arc::clone(&runtime);
        let payload = json!({"op": "gate", "path": gate.to_str().unwrap(), "i": i});
        tokio::spawn(async move { runtime.invoke(FN, payload).await })
    });
    let calls: Vec<_> = calls.collect();
    // The first three hold their instances until the gate opens; the other four wait.
    for _ in 0..2000 {
        if runtime.instances(FN) == 3 && seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runtime.instances(FN), 3, "three busy instances");
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing finished before the gate opened"
    );
    std::fs::write(&gate, b"open").unwrap();
    let mut pids = HashSet::new();
    for call in calls {
        pids.insert(pid_of(&call.await.unwrap().unwrap()));
    }
    assert_eq!(pids.len(), 3, "three instances, never more");
    assert_eq!(runtime.instances(FN), 3);
    let reports = seen.lock().unwrap().clone();
    assert_eq!(reports.len(), 7);
    assert_eq!(reports.iter().filter(|r| r.cold).count(), 3);
    assert!(reports.iter().all(|r| r.outcome.is_success()));
    runtime.shutdown().await;
}

#[tokio::test]
async fn the_report_has_the_peak_memory_of_the_instance() {
    let fixture = fixture();
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();
    runtime
        .invoke(FN, json!({"op": "alloc", "mb": 64}))
        .await
        .unwrap();
    let report = seen.lock().unwrap()[0].clone();
    let kb = report.max_rss_kb.expect("max RSS read from /proc");
    assert!(
        kb >= 64 * 1024,
        "peak RSS {kb} kB covers the 64 MB allocated"
    );
    assert!(report.to_string().contains("Max Memory Used: "));
    runtime.shutdown().await;
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_with_its_type() {
    let fixture = fixture();
    let mut spec = spec(&fixture);
    spec.env.insert("FAKE_INIT_ERROR".into(), "1".into());
    let (options, seen) = collecting();
    let runtime = Runtime::start(vec![spec], options).await.unwrap();
    let err = runtime.invoke(FN, json!({})).await.unwrap_err();
    assert_eq!(
        err,
        InvokeError::Function {
            error_type: "InitBoom".into(),
            message: "cannot start".into()
        }
    );
    assert_eq!(runtime.instances(FN), 0);
    assert!(seen.lock().unwrap()[0].cold);
    runtime.shutdown().await;
}

#[tokio::test]
async fn chaos_kills_the_chosen_fraction_of_invocations_midway() {
    let fixture = fixture();
    let (mut options, _) = collecting();
    options.kill_fraction = 1.0;
    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();
    for payload in [json!({"op": "echo"}), json!({"op": "sleep", "seconds": 5})] {
        let err = runtime.invoke(FN, payload).await.unwrap_err();
        assert_eq!(err, InvokeError::Crashed("killed midway by chaos".into()));
    }
    assert_eq!(runtime.instances(FN), 0);
    runtime.shutdown().await;
}

#[tokio::test]
async fn unknown_functions_and_bad_specs_are_errors() {
    let fixture = fixture();
    let runtime = Runtime::start(vec![spec(&fixture)], RuntimeOptions::default())
        .await
        .unwrap();
    let err = runtime.invoke("Nope", json!({})).await.unwrap_err();
    assert_eq!(err, InvokeError::NoSuchFunction("Nope".into()));
    // Through the Invoker trait, as the gateway and the bus call it.
    let invoker: Arc<dyn Invoker> = Arc::new(runtime.handle());
    assert!(matches!(
        invoker.invoke("Nope", json!({})).await,
        Err(InvokeError::NoSuchFunction(_))
    ));
    runtime.shutdown().await;

    let missing = FunctionSpec::new("Missing", "/nonexistent/bootstrap");
    let err = Runtime::start(vec![missing], RuntimeOptions::default())
        .await
        .err();
    assert!(
        matches!(err, Some(RuntimeError::BinaryNotFound { function, .. }) if function == "Missing")
    );
    let twice = vec![spec(&fixture), spec(&fixture)];
    let err = Runtime::start(twice, RuntimeOptions::default()).await.err();
    assert!(matches!(err, Some(RuntimeError::DuplicateFunction(name)) if name == FN));
    let options = RuntimeOptions {
        max_instances_per_function: 0,
        ..RuntimeOptions::default()
    };
    let err = Runtime::start(vec![spec(&fixture)], options).await.err();
    assert!(matches!(err, Some(RuntimeError::InvalidOption(_))));
}

#[tokio::test]
async fn shutdown_and_drop_leave_no_process_behind() {
    let fixture = fixture();
    let (options, _) = collecting();
    let runtime = Runtime::start(vec![spec(&fixture)], options.clone())
        .await
        .unwrap();
    let pid = pid_of(&runtime.invoke(FN, json!({"op": "echo"})).await.unwrap());
    let handle = runtime.handle();
    runtime.shutdown().await;
    assert!(!process_exists(pid));
    assert!(matches!(
        handle.invoke(FN, json!({})).await,
        Err(InvokeError::Crashed(_))
    ));

    let runtime = Runtime::start(vec![spec(&fixture)], options).await.unwrap();
    let pid = pid_of(&runtime.invoke(FN, json!({"op": "echo"})).await.unwrap());
    drop(runtime);
    // Drop cannot wait; the kill lands on the supervisor task shortly after.
    for _ in 0..500 {
        if !process_exists(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !process_exists(pid),
        "dropping the runtime killed its instance"
    );
}
