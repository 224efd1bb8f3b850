//! The service images of `make images`, run with their engine (podman, or a Docker engine) on
//! the host network against the local stack: they carry a real order to SHIPMENT_SCHEDULED, as
//! non-root, with a read-only root filesystem and only `/tmp` writable, and the chart's
//! `helm test` script passes against them.
//! Ignored by plain `cargo test` (the images must be built first); `make images-check` builds
//! them and runs this with `--ignored`.

use orderflow_tests::{
    chart,
    services::{customer, order_body, Images, Options, Service, Services},
    Env,
};
use std::process::Command;

/// The user id the container's main process runs as, read from `/proc` on the host.
fn container_uid(engine: &str, container: &str) -> u32 {
    let out = Command::new(engine)
        .args(["inspect", "--format", "{{.State.Pid}}", container])
        .output()
        .unwrap_or_else(|e| panic!("{engine} inspect could not run: {e}"));
    assert!(out.status.success(), "{engine} inspect {container} failed");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("a Uid line")
}

#[tokio::test]
#[ignore = "needs the images of `make images`; run by `make images-check`"]
async fn the_images_carry_an_order_to_shipment_scheduled() {
    let images = Images::from_env();
    let engine = images.engine.clone();
    let options = Options {
        images: Some(images),
        ..Options::default()
    };
    let services = Services::start_with(Env::from_env(), options).await;
    for service in Service::ALL {
        let container = services.container(service).expect("runs from its image");
        assert_eq!(
            container_uid(&engine, container),
            10001,
            "{} runs as the image's non-root user",
            service.binary()
        );
    }

    let placed = services.place(&order_body(&customer(), 4_200)).await;
    assert_eq!(placed["status"], "PENDING");
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let scheduled = services.wait_until_scheduled(&order_id).await;
    assert_eq!(scheduled["payment"]["status"], "AUTHORIZED");
    assert_eq!(scheduled["shipment"]["status"], "SCHEDULED");

    // What `helm test` runs in the cluster, against the same images.
    let orders = services.url(Service::Order, "");
    chart::run_script(
        "python3",
        "order-flow-test.py",
        &[("ORDERS", &orders), ("TIMEOUT", "120")],
    )
    .await;
    services.assert_no_dead_letters().await;
}
