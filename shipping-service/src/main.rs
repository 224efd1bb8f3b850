use shipping_service::{settings::Settings, startup::Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::app::main("shipping-service", Settings::load, Application::build)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
