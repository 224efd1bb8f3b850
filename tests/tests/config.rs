//! A wrong setting stops a service at start-up with an error that names the setting.

use orderflow_tests::services::binary_path;
use std::process::{Command, Output};

fn start_with(binary: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary_path(binary));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "error");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn assert_refused(output: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started despite a bad {setting}");
    assert!(
        stderr.contains(setting),
        "the error does not name {setting}: {stderr}"
    );
}

/// A binary, the environment it starts with, and the setting its error must name.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn each_service_names_the_setting_that_is_wrong() {
    let db = "postgres://orderflow:orderflow@127.0.0.1:1/none";
    let cases: &[Case] = &[
        (
            "order-service",
            &[
                ("ORDER__DATABASE__URL", db),
                ("ORDER__HTTP__PORT", "eighty"),
            ],
            "http.port",
        ),
        // Nothing set: the missing setting is named, not a connection error about a database.
        (
            "order-service",
            &[],
            "missing configuration field \"database\"",
        ),
        (
            "order-service",
            &[("ORDER__DATABASE__POOL_SIZE", "4")],
            "missing configuration field \"database.url\"",
        ),
        (
            "order-service",
            &[("ORDER__DATABASE__URL", "not a url")],
            "database.url",
        ),
        (
            "order-service",
            &[
                ("ORDER__DATABASE__URL", db),
                ("ORDER__DATABASE__POOL_WAIT_TIMEOUT_MS", "0"),
            ],
            "database.pool_wait_timeout_ms",
        ),
        (
            "payment-service",
            &[
                ("PAYMENT__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS", "kafka"),
            ],
            "kafka.bootstrap_servers",
        ),
        (
            "payment-service",
            &[
                ("PAYMENT__DATABASE__URL", db),
                ("PAYMENT_LIMIT_CENTS", "-5"),
            ],
            "limit_cents",
        ),
        (
            "shipping-service",
            &[
                ("SHIPPING__DATABASE__URL", db),
                ("ORDERFLOW__REGISTRY__URL", "::"),
            ],
            "registry.url",
        ),
        (
            "shipping-service",
            &[
                ("SHIPPING__DATABASE__URL", db),
                ("SHIPPING__HTTP__HOST", "localhost:80"),
            ],
            "http.host",
        ),
        // Kafka security: typed, checked before anything connects.
        (
            "order-service",
            &[
                ("ORDER__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__SECURITY_PROTOCOL", "SASL_TLS"),
            ],
            "kafka.security_protocol",
        ),
        (
            "payment-service",
            &[
                ("PAYMENT__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
                ("PAYMENT__KAFKA__SASL_PASSWORD", "secret"),
            ],
            "kafka.sasl_username",
        ),
        (
            "shipping-service",
            &[
                ("SHIPPING__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
                ("SHIPPING__KAFKA__SASL_USERNAME", "shipping"),
                (
                    "SHIPPING__KAFKA__SASL_PASSWORD_FILE",
                    "/nonexistent/password",
                ),
            ],
            "kafka.sasl_password_file",
        ),
        (
            "order-service",
            &[
                ("ORDER__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
                ("ORDERFLOW__KAFKA__SASL_MECHANISM", "GSSAPI"),
                ("ORDER__KAFKA__SASL_USERNAME", "order"),
                ("ORDER__KAFKA__SASL_PASSWORD", "secret"),
            ],
            "kafka.sasl_mechanism",
        ),
        (
            "payment-service",
            &[
                ("PAYMENT__DATABASE__URL", db),
                ("ORDERFLOW__KAFKA__SSL_CA_LOCATION", "/nonexistent/ca.pem"),
            ],
            "kafka.ssl_ca_location",
        ),
    ];
    for (binary, env, setting) in cases {
        assert_refused(&start_with(binary, env), setting);
    }
}
