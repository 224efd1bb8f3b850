//! Logging and tracing, initialised once per process.
//!
//! Structured logs go to stdout (`RUST_LOG` filters, `LOG_FORMAT=json` for JSON lines). Spans are
//! always real OpenTelemetry spans, so a trace context can be continued from a `traceparent` and
//! handed on to the events a request causes; they are exported over OTLP/HTTP only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, under `OTEL_SERVICE_NAME`.

use opentelemetry::{global, propagation::TextMapPropagator, trace::TraceContextExt as _};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Flushes exported spans when dropped; keep it alive in `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter could not be built")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Installs the global subscriber. `default_service_name` is used when `OTEL_SERVICE_NAME` is
/// not set.
pub fn init(default_service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    let service_name =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| default_service_name.to_owned());
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build(),
    );
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "orderflow");

    // `RUST_LOG` filters the log output only. Spans carry the trace context from requests to
    // events, so the OpenTelemetry layer keeps every INFO span whatever the log level.
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_filter(log_filter()),
            )
            .try_init()?;
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(log_filter()))
            .try_init()?;
    }
    Ok(TelemetryGuard { provider })
}

/// Makes `span` a child of the trace named by a W3C `traceparent`, if there is a valid one.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        // Fails only when the span is disabled; there is then no trace to continue.
        let _ = span.set_parent(cx);
    }
}

/// The W3C `traceparent` of `span`, when it belongs to a trace.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Sets the attributes of OpenTelemetry's messaging conventions on the span of one Kafka hop:
/// `send` by a relay, or `process` by a consumer `group`. They go to the trace only: in the
/// logs they would repeat the span's own fields.
pub fn kafka_hop(
    span: &tracing::Span,
    operation: &'static str,
    group: Option<&str>,
    topic: &str,
    key: &str,
    event_id: &str,
) {
    span.set_attribute("messaging.system", "kafka");
    span.set_attribute("messaging.operation.type", operation);
    span.set_attribute("messaging.operation.name", operation);
    span.set_attribute("messaging.destination.name", topic.to_owned());
    span.set_attribute("messaging.kafka.message.key", key.to_owned());
    span.set_attribute("messaging.message.id", event_id.to_owned());
    if let Some(group) = group {
        span.set_attribute("messaging.consumer.group.name", group.to_owned());
    }
}

/// The partition and offset of a Kafka hop's record, once known.
pub fn kafka_position(span: &tracing::Span, partition: i32, offset: i64) {
    // Called per message: no formatting for a span that records nothing.
    if span.is_disabled() {
        return;
    }
    span.set_attribute("messaging.destination.partition.id", partition.to_string());
    span.set_attribute("messaging.kafka.offset", offset);
}

/// The trace id inside a `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}
