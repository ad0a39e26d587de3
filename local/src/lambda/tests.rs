use super::*;

#[test]
fn a_report_reads_like_lambdas() {
    let report = InvocationReport {
        function: "F".into(),
        request_id: "r-1".into(),
        instance: 1,
        cold: true,
        init_duration: Some(Duration::from_micros(12_340)),
        duration: Duration::from_micros(1_500),
        max_rss_kb: Some(20_000),
        memory_mb: 128,
        outcome: Outcome::Failed(InvokeError::Timeout(Duration::from_secs(3))),
    };
    assert_eq!(
        report.to_string(),
        "REPORT F RequestId: r-1 Duration: 1.50 ms Memory Size: 128 MB Max Memory Used: 20 MB \
         Init Duration: 12.34 ms Outcome: Sandbox.Timedout: Task timed out after 3s"
    );
}
