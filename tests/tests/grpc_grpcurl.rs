//! A generic gRPC client without the proto file: `grpcurl` lists order-service's services by
//! server reflection and calls `GetOrder` and the standard health check.
//!
//! grpcurl is the Go tool `github.com/fullstorydev/grpcurl/cmd/grpcurl`; `make grpcurl` (a
//! step of `make test`) installs it outside the clone and `ORDERFLOW_TEST_GRPCURL` names it.
//! Without it this test fails and says so: it never passes by skipping.

use orderflow_tests::services::{customer, order_body, Services};
use serde_json::Value;
use std::{path::PathBuf, process::Command};

fn grpcurl_path() -> PathBuf {
    let path = std::env::var_os("ORDERFLOW_TEST_GRPCURL")
        .map(PathBuf::from)
        .expect(
            "ORDERFLOW_TEST_GRPCURL is not set: run the tests with `make test`, or run \
             `make grpcurl` and set it to the grpcurl installed (`make -s -p | grep ^GRPCURL`)",
        );
    assert!(
        path.is_file(),
        "grpcurl is not installed at {} (ORDERFLOW_TEST_GRPCURL): run `make grpcurl`",
        path.display()
    );
    path
}

/// `grpcurl -plaintext <flags> <address> <what>` (`list`, or a method); its standard output,
/// which must come with success.
fn grpcurl(address: &str, flags: &[&str], what: &str) -> String {
    let output = Command::new(grpcurl_path())
        .arg("-plaintext")
        .args(flags)
        .args([address, what])
        .output()
        .expect("grpcurl runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "grpcurl {flags:?} {what} failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn grpcurl_lists_the_services_and_calls_get_order_and_the_health_check() {
    // Before anything is started: without grpcurl the test fails at once, saying why.
    grpcurl_path();
    let services = Services::start().await;
    let address = services.grpc_address(services.first_order_service());

    let listed = tokio::task::spawn_blocking({
        let address = address.clone();
        move || grpcurl(&address, &[], "list")
    })
    .await
    .unwrap();
    let listed: Vec<&str> = listed.lines().collect();
    for service in [
        "orderflow.v1.Orders",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(listed.contains(&service), "{service} not in {listed:?}");
    }

    let placed = services.place(&order_body(&customer(), 1_234)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let (got, health) = tokio::task::spawn_blocking(move || {
        let request = format!(r#"{{"order_id": "{order_id}"}}"#);
        let got = grpcurl(&address, &["-d", &request], "orderflow.v1.Orders/GetOrder");
        let health = grpcurl(
            &address,
            &["-d", r#"{"service": "orderflow.v1.Orders"}"#],
            "grpc.health.v1.Health/Check",
        );
        (got, health)
    })
    .await
    .unwrap();

    // grpcurl prints the message as protobuf JSON (camelCase names, int64 as strings).
    let got: Value = serde_json::from_str(&got).expect("GetOrder printed as JSON");
    assert_eq!(got["orderId"], placed["order_id"], "{got}");
    assert_eq!(got["customerId"], placed["customer_id"], "{got}");
    assert_eq!(got["totalCents"], "1234", "{got}");
    assert!(got["status"]
        .as_str()
        .is_some_and(|s| s.starts_with("ORDER_STATUS_")));
    let health: Value = serde_json::from_str(&health).expect("Check printed as JSON");
    assert_eq!(health["status"], "SERVING", "{health}");
}
