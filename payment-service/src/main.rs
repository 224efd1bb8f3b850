use payment_service::{settings::Settings, startup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::app::main("payment-service", Settings::load, startup::build)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
